//! API keys (app and dataset) and bearer tokens, stored as hashes.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, Result, Stmt, Store};
use weir_core::util::{new_id, now};

/// The kind of an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A Service API app key (`app-…`).
    App,
    /// A workspace knowledge key (`dataset-…`).
    Dataset,
}

impl KeyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::App => "app",
            KeyKind::Dataset => "dataset",
        }
    }
}

/// A key found by its hash, with what auth needs of its app and workspace.
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// Key id.
    pub id: String,
    /// `app` or `dataset`.
    pub kind: String,
    /// Workspace.
    pub workspace_id: String,
    /// Workspace status (`normal`, `archived`).
    pub workspace_status: String,
    /// The key's app (app keys).
    pub app_id: Option<String>,
    /// Whether the app still exists (app keys).
    pub app_exists: bool,
    /// App status.
    pub app_status: Option<String>,
    /// App API switch.
    pub app_enable_api: bool,
}

/// A key as the console lists it.
#[derive(Clone, Debug)]
pub struct KeyListing {
    /// Key id.
    pub id: String,
    /// The recognisable fragment stored for every key.
    pub hint: String,
    /// The key sealed with the operator's secret (keys made in the console).
    pub sealed: Option<String>,
    /// Last use, Unix seconds.
    pub last_used_at: Option<i64>,
    /// Created, Unix seconds.
    pub created_at: i64,
}

/// A bearer token found by its hash.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// Token id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Name.
    pub name: String,
    /// Prefix (`dfoa_`).
    pub prefix: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

fn token_row(r: &AnyRow) -> sqlx::Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        scopes: r.try_get("scopes")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a key by its hash; `hint` is a recognisable, non-secret fragment.
    pub async fn insert_key(
        &self,
        kind: KeyKind,
        workspace_id: &str,
        app_id: Option<&str>,
        key_hash: &str,
        hint: &str,
    ) -> Result<String> {
        let id = new_id();
        self.apply(vec![Stmt::new(
            "INSERT INTO api_keys (id, workspace_id, app_id, kind, key_hash, key_hint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            crate::vals![&id, workspace_id, app_id, kind.as_str(), key_hash, hint, now()],
        )])
        .await?;
        Ok(id)
    }

    /// Stores a key of an app made in the console: its hash, and the key sealed so the
    /// console can show it again.
    pub async fn insert_sealed_app_key(
        &self,
        workspace_id: &str,
        app_id: &str,
        key_hash: &str,
        hint: &str,
        sealed: &str,
    ) -> Result<KeyListing> {
        let id = new_id();
        let ts = now();
        self.apply(vec![Stmt::new(
            "INSERT INTO api_keys (id, workspace_id, app_id, kind, key_hash, key_hint, \
             sealed_key, created_at) VALUES ($1, $2, $3, 'app', $4, $5, $6, $7)",
            crate::vals![&id, workspace_id, app_id, key_hash, hint, sealed, ts],
        )])
        .await?;
        Ok(KeyListing {
            id,
            hint: hint.to_owned(),
            sealed: Some(sealed.to_owned()),
            last_used_at: None,
            created_at: ts,
        })
    }

    /// The keys of an app, oldest first.
    pub async fn app_keys(&self, app_id: &str) -> Result<Vec<KeyListing>> {
        let rows = sqlx::query(
            "SELECT id, key_hint, sealed_key, last_used_at, created_at FROM api_keys \
             WHERE app_id = $1 AND kind = 'app' ORDER BY created_at, id",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyListing {
                    id: r.try_get("id")?,
                    hint: r.try_get("key_hint")?,
                    sealed: r.try_get("sealed_key")?,
                    last_used_at: r.try_get("last_used_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Deletes a key of an app. Returns whether it existed.
    pub async fn delete_app_key(&self, app_id: &str, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "DELETE FROM api_keys WHERE id = $1 AND app_id = $2",
                crate::vals![id, app_id],
            )])
            .await?;
        Ok(done[0] > 0)
    }

    /// The key with this hash.
    pub async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRow>> {
        let row = sqlx::query(
            "SELECT k.id, k.kind, k.workspace_id, w.status AS workspace_status, k.app_id, \
             a.id AS found_app, a.status AS app_status, a.enable_api \
             FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id \
             LEFT JOIN apps a ON a.id = k.app_id WHERE k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let found_app: Option<String> = r.try_get("found_app")?;
        let enable_api: Option<i64> = r.try_get("enable_api")?;
        Ok(Some(KeyRow {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            workspace_id: r.try_get("workspace_id")?,
            workspace_status: r.try_get("workspace_status")?,
            app_id: r.try_get("app_id")?,
            app_exists: found_app.is_some(),
            app_status: r.try_get("app_status")?,
            app_enable_api: enable_api.is_some_and(flag),
        }))
    }

    /// Deletes a key. Returns whether it existed.
    pub async fn delete_key(&self, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "DELETE FROM api_keys WHERE id = $1",
                crate::vals![id],
            )])
            .await?;
        Ok(done[0] > 0)
    }

    /// Records that a key was used (best effort, off the hot path).
    pub async fn touch_key(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
            crate::vals![now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Stores a bearer token by its hash.
    pub async fn insert_token(
        &self,
        workspace_id: &str,
        name: &str,
        prefix: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<i64>,
    ) -> Result<String> {
        let id = new_id();
        self.apply(vec![Stmt::new(
            "INSERT INTO api_tokens (id, workspace_id, name, prefix, token_hash, scopes, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            crate::vals![
                &id,
                workspace_id,
                name,
                prefix,
                token_hash,
                scopes,
                now(),
                expires_at
            ],
        )])
        .await?;
        Ok(id)
    }

    /// The token with this hash (revoked or not).
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, workspace_id, name, prefix, scopes, created_at, expires_at, revoked_at \
             FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    /// The token with this id.
    pub async fn token_by_id(&self, id: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, workspace_id, name, prefix, scopes, created_at, expires_at, revoked_at \
             FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    /// Revokes a token. Returns whether a live token was revoked.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                crate::vals![now(), id],
            )])
            .await?;
        Ok(done[0] > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{scratch_stores, test_app};

    #[tokio::test]
    async fn keys_and_tokens_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, app) = test_app(store, "chat").await;
            store
                .insert_key(KeyKind::App, &ws, Some(&app), "h1", "app-ab…")
                .await
                .unwrap();
            store
                .insert_key(KeyKind::Dataset, &ws, None, "h2", "dataset-ab…")
                .await
                .unwrap();
            let k = store.key_by_hash("h1").await.unwrap().unwrap();
            assert_eq!(
                (k.kind.as_str(), k.app_id.as_deref()),
                ("app", Some(app.as_str()))
            );
            assert!(k.app_exists && k.app_enable_api);
            assert_eq!(k.workspace_status, "normal");
            let d = store.key_by_hash("h2").await.unwrap().unwrap();
            assert_eq!((d.kind.as_str(), d.app_id), ("dataset", None));
            assert!(store.key_by_hash("nope").await.unwrap().is_none());
            store.touch_key(&k.id).await.unwrap();
            // Deleting the app deletes its keys.
            store.delete_app(&app).await.unwrap();
            assert!(store.key_by_hash("h1").await.unwrap().is_none());

            let t = store
                .insert_token(&ws, "cli", "dfoa_", "th", "apps:read,apps:run", None)
                .await
                .unwrap();
            let row = store.token_by_hash("th").await.unwrap().unwrap();
            assert_eq!(
                (row.id.as_str(), row.scopes.as_str(), row.revoked_at),
                (t.as_str(), "apps:read,apps:run", None)
            );
            assert!(store.revoke_token(&t).await.unwrap());
            assert!(!store.revoke_token(&t).await.unwrap());
            assert!(store
                .token_by_hash("th")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some());
        }
    }
}
