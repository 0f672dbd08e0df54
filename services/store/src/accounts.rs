//! Console accounts: the accounts themselves, their workspace memberships and roles, the
//! first-admin setup record, refresh tokens (stored as SHA-256) and login failures.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Stmt, Store};
use weir_core::util::{new_id, now};

/// A console account.
#[derive(Clone, Debug)]
pub struct AccountRow {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail, lower-cased.
    pub email: String,
    /// Argon2id hash (PHC string), when a password is set.
    pub password_hash: Option<String>,
    /// Avatar (upload id or URL).
    pub avatar: Option<String>,
    /// UI language, e.g. `en-US`.
    pub interface_language: String,
    /// `light` or `dark`.
    pub interface_theme: String,
    /// IANA time zone.
    pub timezone: String,
    /// `active`, `pending`, `uninitialized`, `banned` or `closed`.
    pub status: String,
    /// Last login, Unix seconds.
    pub last_login_at: Option<i64>,
    /// Address of the last login.
    pub last_login_ip: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Updated, Unix seconds.
    pub updated_at: i64,
}

/// An account's place in a workspace.
#[derive(Clone, Debug)]
pub struct MembershipRow {
    /// Workspace id.
    pub workspace_id: String,
    /// Its name (`default`).
    pub workspace_name: String,
    /// Its display title, if set.
    pub workspace_title: Option<String>,
    /// Its plan.
    pub plan: String,
    /// Its status.
    pub workspace_status: String,
    /// Its creation, Unix seconds.
    pub workspace_created_at: i64,
    /// `owner`, `admin`, `editor`, `normal` or `dataset_operator`.
    pub role: String,
    /// The account's current workspace.
    pub current: bool,
}

/// A new account.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Display name.
    pub name: String,
    /// E-mail (lower-cased by the store).
    pub email: String,
    /// Argon2id hash.
    pub password_hash: String,
    /// UI language.
    pub interface_language: String,
    /// IANA time zone.
    pub timezone: String,
}

/// Profile fields an account may change.
#[derive(Clone, Debug)]
pub enum ProfileChange {
    /// Display name.
    Name(String),
    /// UI language.
    Language(String),
    /// UI theme.
    Theme(String),
    /// Time zone.
    Timezone(String),
    /// Password hash.
    PasswordHash(String),
}

const COLUMNS: &str = "id, name, email, password_hash, avatar, interface_language, \
    interface_theme, timezone, status, last_login_at, last_login_ip, created_at, updated_at";

fn account_row(r: &AnyRow) -> sqlx::Result<AccountRow> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        avatar: r.try_get("avatar")?,
        interface_language: r.try_get("interface_language")?,
        interface_theme: r.try_get("interface_theme")?,
        timezone: r.try_get("timezone")?,
        status: r.try_get("status")?,
        last_login_at: r.try_get("last_login_at")?,
        last_login_ip: r.try_get("last_login_ip")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn membership_row(r: &AnyRow) -> sqlx::Result<MembershipRow> {
    Ok(MembershipRow {
        workspace_id: r.try_get("workspace_id")?,
        workspace_name: r.try_get("name")?,
        workspace_title: r.try_get("title")?,
        plan: r.try_get("plan")?,
        workspace_status: r.try_get("status")?,
        workspace_created_at: r.try_get("created_at")?,
        role: r.try_get("role")?,
        current: super::flag(r.try_get("current")?),
    })
}

impl Store {
    /// When the first admin was set up (Unix seconds), if it was.
    pub async fn setup_at(&self) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT setup_at FROM setup WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get("setup_at")).transpose()?)
    }

    /// Creates the first admin: the account, its ownership of the default workspace (titled
    /// `title`) and the setup record, in one transaction. A second setup is a conflict.
    pub async fn setup_first_admin(&self, a: &NewAccount, title: &str) -> Result<String> {
        let ws = self.default_workspace_id().await?;
        let id = new_id();
        let ts = now();
        self.apply(vec![
            Stmt::new(
                "INSERT INTO setup (id, setup_at) VALUES (1, $1)",
                crate::vals![ts],
            ),
            insert_account_stmt(&id, a, ts),
            Stmt::new(
                "UPDATE workspaces SET title = $1 WHERE id = $2",
                crate::vals![title, &ws],
            ),
            member_stmt(&ws, &id, "owner", true, ts),
        ])
        .await?;
        Ok(id)
    }

    /// Creates an account that joins the default workspace with `role` (the operator's CLI).
    pub async fn insert_account(&self, a: &NewAccount, role: &str) -> Result<String> {
        let ws = self.default_workspace_id().await?;
        let id = new_id();
        let ts = now();
        self.apply(vec![
            insert_account_stmt(&id, a, ts),
            member_stmt(&ws, &id, role, true, ts),
            // An account made by the operator also counts as the setup.
            Stmt::new(
                "INSERT INTO setup (id, setup_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                crate::vals![ts],
            ),
        ])
        .await?;
        Ok(id)
    }

    /// An account by id.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(account_row).transpose()?)
    }

    /// An account by e-mail (compared lower-cased).
    pub async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM accounts WHERE email = $1"))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(account_row).transpose()?)
    }

    /// Names of accounts by id (for `created_by` names in lists).
    pub async fn account_names(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, name FROM accounts WHERE id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    /// The workspaces of an account, current first.
    pub async fn memberships(&self, account_id: &str) -> Result<Vec<MembershipRow>> {
        let rows = sqlx::query(
            "SELECT m.workspace_id, w.name, w.title, w.plan, w.status, w.created_at, m.role, \
             m.current FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.account_id = $1 ORDER BY m.current DESC, m.created_at ASC",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(membership_row)
            .collect::<sqlx::Result<_>>()?)
    }

    /// Makes `workspace_id` the account's current workspace; false when not a member.
    pub async fn switch_workspace(&self, account_id: &str, workspace_id: &str) -> Result<bool> {
        let n = self
            .apply(vec![
                Stmt::new(
                    "UPDATE workspace_members SET current = 0 WHERE account_id = $1 AND \
                     EXISTS (SELECT 1 FROM workspace_members WHERE account_id = $1 AND workspace_id = $2)",
                    crate::vals![account_id, workspace_id],
                ),
                Stmt::new(
                    "UPDATE workspace_members SET current = 1 WHERE account_id = $1 AND workspace_id = $2",
                    crate::vals![account_id, workspace_id],
                ),
            ])
            .await?;
        Ok(n.get(1).copied().unwrap_or(0) > 0)
    }

    /// Changes one profile field.
    pub async fn update_account(&self, id: &str, change: &ProfileChange) -> Result<()> {
        let (column, value) = match change {
            ProfileChange::Name(v) => ("name", v),
            ProfileChange::Language(v) => ("interface_language", v),
            ProfileChange::Theme(v) => ("interface_theme", v),
            ProfileChange::Timezone(v) => ("timezone", v),
            ProfileChange::PasswordHash(v) => ("password_hash", v),
        };
        self.apply(vec![Stmt::new(
            format!("UPDATE accounts SET {column} = $1, updated_at = $2 WHERE id = $3"),
            crate::vals![value.as_str(), now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Records a login: time and address, a `pending` account becomes `active`, and the
    /// e-mail's failure count is cleared.
    pub async fn record_login(&self, account: &AccountRow, ip: Option<&str>) -> Result<()> {
        let ts = now();
        self.apply(vec![
            Stmt::new(
                "UPDATE accounts SET last_login_at = $1, last_login_ip = $2, \
                 status = CASE WHEN status = 'pending' THEN 'active' ELSE status END WHERE id = $3",
                crate::vals![ts, ip, &account.id],
            ),
            Stmt::new(
                "DELETE FROM login_failures WHERE email = $1",
                crate::vals![&account.email],
            ),
        ])
        .await?;
        Ok(())
    }

    /// Failed logins for `email` within `window_s` seconds of the first one.
    pub async fn login_failures(&self, email: &str, window_s: i64) -> Result<i64> {
        let r = sqlx::query("SELECT failures, first_at FROM login_failures WHERE email = $1")
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) if now() - r.try_get::<i64, _>("first_at")? < window_s => {
                r.try_get("failures")?
            }
            _ => 0,
        })
    }

    /// Counts a failed login for `email`; a window older than `window_s` starts over.
    pub async fn record_login_failure(&self, email: &str, window_s: i64) -> Result<()> {
        let ts = now();
        self.apply(vec![Stmt::new(
            "INSERT INTO login_failures (email, failures, first_at) VALUES ($1, 1, $2) \
             ON CONFLICT (email) DO UPDATE SET \
             failures = CASE WHEN login_failures.first_at < $3 THEN 1 ELSE login_failures.failures + 1 END, \
             first_at = CASE WHEN login_failures.first_at < $3 THEN $2 ELSE login_failures.first_at END",
            crate::vals![email.to_lowercase(), ts, ts - window_s],
        )])
        .await?;
        Ok(())
    }

    /// Stores a refresh token's hash for `account_id` until `expires_at`.
    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        account_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.apply(vec![Stmt::new(
            "INSERT INTO refresh_tokens (token_hash, account_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
            crate::vals![token_hash, account_id, expires_at, now()],
        )])
        .await?;
        Ok(())
    }

    /// Removes a refresh token and answers its account when it was valid (one use only).
    pub async fn take_refresh_token(&self, token_hash: &str) -> Result<Option<String>> {
        let r =
            sqlx::query("SELECT account_id, expires_at FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some(r) = r else { return Ok(None) };
        let deleted = self
            .apply(vec![Stmt::new(
                "DELETE FROM refresh_tokens WHERE token_hash = $1",
                crate::vals![token_hash],
            )])
            .await?;
        // A concurrent use already took it.
        if deleted.first().copied().unwrap_or(0) == 0 {
            return Ok(None);
        }
        let expires_at: i64 = r.try_get("expires_at")?;
        Ok((expires_at > now())
            .then(|| r.try_get("account_id"))
            .transpose()?)
    }

    /// The workspace's default model of a type: (provider, model).
    pub async fn default_model(
        &self,
        workspace_id: &str,
        model_type: &str,
    ) -> Result<Option<(String, String)>> {
        let r = sqlx::query(
            "SELECT provider, model FROM default_models WHERE workspace_id = $1 AND model_type = $2",
        )
        .bind(workspace_id)
        .bind(model_type)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            r.map(|r| Ok::<_, sqlx::Error>((r.try_get("provider")?, r.try_get("model")?)))
                .transpose()?,
        )
    }

    /// Sets the workspace's default model of a type.
    pub async fn set_default_model(
        &self,
        workspace_id: &str,
        model_type: &str,
        provider: &str,
        model: &str,
    ) -> Result<()> {
        self.apply(vec![Stmt::new(
            "INSERT INTO default_models (workspace_id, model_type, provider, model) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, model_type) \
             DO UPDATE SET provider = $3, model = $4",
            crate::vals![workspace_id, model_type, provider, model],
        )])
        .await?;
        Ok(())
    }

    /// Deletes a refresh token (logout).
    pub async fn delete_refresh_token(&self, token_hash: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM refresh_tokens WHERE token_hash = $1 OR expires_at < $2",
            crate::vals![token_hash, now()],
        )])
        .await?;
        Ok(())
    }
}

fn insert_account_stmt(id: &str, a: &NewAccount, ts: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO accounts (id, name, email, password_hash, interface_language, timezone, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
        crate::vals![
            id,
            &a.name,
            a.email.to_lowercase(),
            &a.password_hash,
            &a.interface_language,
            &a.timezone,
            ts
        ],
    )
}

fn member_stmt(workspace_id: &str, account_id: &str, role: &str, current: bool, ts: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO workspace_members (workspace_id, account_id, role, current, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        crate::vals![workspace_id, account_id, role, current, ts],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch_stores;

    fn admin() -> NewAccount {
        NewAccount {
            name: "Ada".into(),
            email: "Ada@Example.com".into(),
            password_hash: "$argon2id$test".into(),
            interface_language: "en-US".into(),
            timezone: "UTC".into(),
        }
    }

    #[tokio::test]
    async fn setup_login_and_refresh_tokens_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            assert_eq!(store.setup_at().await.unwrap(), None);
            let id = store
                .setup_first_admin(&admin(), "Ada's Workspace")
                .await
                .unwrap();
            assert!(store.setup_at().await.unwrap().is_some());
            // A second setup is refused by the single setup row.
            assert!(matches!(
                store.setup_first_admin(&admin(), "x").await,
                Err(crate::StoreError::Conflict(_))
            ));
            let a = store
                .account_by_email("ada@example.COM")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (a.id.as_str(), a.email.as_str()),
                (id.as_str(), "ada@example.com")
            );
            let m = store.memberships(&id).await.unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!((m[0].role.as_str(), m[0].current), ("owner", true));
            assert_eq!(m[0].workspace_title.as_deref(), Some("Ada's Workspace"));

            for _ in 0..3 {
                store.record_login_failure(&a.email, 86_400).await.unwrap();
            }
            assert_eq!(store.login_failures(&a.email, 86_400).await.unwrap(), 3);
            store.record_login(&a, Some("10.0.0.1")).await.unwrap();
            assert_eq!(store.login_failures(&a.email, 86_400).await.unwrap(), 0);

            store
                .insert_refresh_token("h1", &id, now() + 60)
                .await
                .unwrap();
            assert_eq!(
                store.take_refresh_token("h1").await.unwrap(),
                Some(id.clone())
            );
            assert_eq!(store.take_refresh_token("h1").await.unwrap(), None);
            store
                .insert_refresh_token("h2", &id, now() - 1)
                .await
                .unwrap();
            assert_eq!(store.take_refresh_token("h2").await.unwrap(), None);

            store
                .update_account(&id, &ProfileChange::Timezone("Europe/Paris".into()))
                .await
                .unwrap();
            assert_eq!(
                store.account(&id).await.unwrap().unwrap().timezone,
                "Europe/Paris"
            );
            let ws = m[0].workspace_id.clone();
            assert!(store.switch_workspace(&id, &ws).await.unwrap());
            assert!(!store.switch_workspace(&id, "nope").await.unwrap());
            assert!(store.memberships(&id).await.unwrap()[0].current);
        }
    }
}
