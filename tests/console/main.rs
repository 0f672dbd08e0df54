//! The console API (`/console/api`) as Dify's web frontend calls it: sessions in cookies
//! with the CSRF double submit, the boot calls, apps, the easy-UI configuration, debugging
//! and logs. A `Browser` keeps the cookie jar.

#[path = "../common/mod.rs"]
mod common;

mod apps;
mod dsl_files;
mod easy_ui;
mod logs;
mod session;
mod statics;
mod web_app;

use common::console::{admin, Browser, ADMIN_EMAIL, ADMIN_PASSWORD};
use common::{Options, TestServer};
use serde_json::{json, Value};

/// A server whose `openai` provider serves `gpt-4o-mini` on the fake upstream.
pub async fn server_with_model() -> (TestServer, common::upstream::FakeUpstream) {
    let upstream = common::upstream::FakeUpstream::start().await;
    let opts = common::with_upstream(&upstream).also(|c| {
        let p = c.services.providers.get_mut("openai").unwrap();
        p.llm_models = vec!["gpt-4o-mini".into()];
    });
    (TestServer::start_with(opts).await, upstream)
}

/// Creates an app; returns its detail.
pub async fn create_app(b: &mut Browser<'_>, name: &str, mode: &str) -> Value {
    let (status, body) = b
        .post("/apps", json!({"name": name, "mode": mode, "icon_type": "emoji", "icon": "🤖", "icon_background": "#FFEAD5", "description": ""}))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Another account in the admin's workspace, with `role`, logged in.
pub async fn member<'a>(server: &'a TestServer, email: &str, role: &str) -> Browser<'a> {
    let mut account =
        weir_api::console::auth::new_account(email, "Member", "member-pass-1", None).unwrap();
    account.password_hash = weir_api::runtime::accounts::hash_password("member-pass-1");
    server
        .db
        .store
        .insert_account(&account, role)
        .await
        .unwrap();
    let mut b = Browser::new(server);
    assert_eq!(b.login(email, "member-pass-1").await.status, 200);
    b
}
