//! End users: the integrator's `user` strings, resolved per app.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, Result, Stmt, Store};
use weir_core::util::{new_id, now};

/// An end user.
#[derive(Clone, Debug)]
pub struct EndUserRow {
    /// Id.
    pub id: String,
    /// Workspace (tenant).
    pub workspace_id: String,
    /// App.
    pub app_id: String,
    /// `service-api` (or `openapi`).
    pub kind: String,
    /// The integrator's `user` string.
    pub session_id: String,
    /// Display name.
    pub name: Option<String>,
    /// The shared `DEFAULT-USER`.
    pub is_anonymous: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Updated, Unix seconds.
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, workspace_id, app_id, type, session_id, name, is_anonymous, created_at, updated_at";

fn end_user_row(r: &AnyRow) -> sqlx::Result<EndUserRow> {
    Ok(EndUserRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        app_id: r.try_get("app_id")?,
        kind: r.try_get("type")?,
        session_id: r.try_get("session_id")?,
        name: r.try_get("name")?,
        is_anonymous: flag(r.try_get("is_anonymous")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// The end user of `app_id` with this session id and type, created on first sight.
    pub async fn end_user(
        &self,
        workspace_id: &str,
        app_id: &str,
        kind: &str,
        session_id: &str,
        is_anonymous: bool,
    ) -> Result<EndUserRow> {
        let ts = now();
        self.apply(vec![Stmt::new(
            "INSERT INTO end_users (id, workspace_id, app_id, type, session_id, name, \
             is_anonymous, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $7) \
             ON CONFLICT (app_id, type, session_id) DO NOTHING",
            crate::vals![
                new_id(),
                workspace_id,
                app_id,
                kind,
                session_id,
                is_anonymous as i64,
                ts
            ],
        )])
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM end_users WHERE app_id = $1 AND type = $2 AND session_id = $3"
        ))
        .bind(app_id)
        .bind(kind)
        .bind(session_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(end_user_row(&row)?)
    }

    /// An end user by id, within an app.
    pub async fn end_user_by_id(&self, app_id: &str, id: &str) -> Result<Option<EndUserRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM end_users WHERE id = $1 AND app_id = $2"
        ))
        .bind(id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(end_user_row).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{scratch_stores, test_app};

    #[tokio::test]
    async fn end_users_are_per_app_and_stable() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, a1) = test_app(store, "chat").await;
            let (_, a2) = test_app(store, "chat").await;
            let u1 = store
                .end_user(&ws, &a1, "service-api", "ana", false)
                .await
                .unwrap();
            let again = store
                .end_user(&ws, &a1, "service-api", "ana", false)
                .await
                .unwrap();
            let other_app = store
                .end_user(&ws, &a2, "service-api", "ana", false)
                .await
                .unwrap();
            assert_eq!(u1.id, again.id);
            assert_ne!(u1.id, other_app.id);
            assert_eq!(u1.session_id, "ana");
            assert!(store.end_user_by_id(&a1, &u1.id).await.unwrap().is_some());
            assert!(store.end_user_by_id(&a2, &u1.id).await.unwrap().is_none());
        }
    }
}
