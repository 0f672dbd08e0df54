//! Scratch databases for the tests of this crate and the crates above it: a fresh SQLite
//! file always, and a fresh Postgres database when `WEIR_TEST_POSTGRES_URL` is set.

pub use super::scratch::ScratchDb;
use super::{NewApp, Store};

/// One scratch store per available backend.
pub async fn scratch_stores() -> Vec<ScratchDb> {
    let mut out = vec![ScratchDb::sqlite().await];
    if let Some(pg) = ScratchDb::postgres_from_env().await {
        out.push(pg);
    }
    out
}

/// Inserts a minimal app of this mode; returns (workspace id, app id).
pub async fn test_app(store: &Store, mode: &str) -> (String, String) {
    let ws = store.default_workspace_id().await.unwrap();
    let id = store
        .insert_app(&NewApp {
            workspace_id: ws.clone(),
            name: format!("{mode} app"),
            mode: mode.into(),
            description: String::new(),
            icon: String::new(),
            icon_type: "emoji".into(),
            icon_background: "#FFFFFF".into(),
            use_icon_as_answer_icon: false,
            dsl_version: "0.6.0".into(),
            dsl: "{}".into(),
            workflow: None,
            created_by: None,
        })
        .await
        .unwrap();
    (ws, id)
}
