//! The rest of §10's static answers: plugins, tools, triggers, extensions, education,
//! notifications and annotations, each what is true of weir; and the web app's enterprise
//! permission check.

use super::*;

#[tokio::test]
async fn features_weir_lacks_answer_empty_and_switched_off() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Statics", "chat").await;
    let id = app["id"].as_str().unwrap();
    let gets: [(String, Value); 13] = [
        (
            "/workspaces/current/plugin/tasks?page=1&page_size=100".into(),
            json!({"tasks": []}),
        ),
        (
            "/account/education".into(),
            json!({"is_student": false, "allow_refresh": false, "expire_at": null}),
        ),
        ("/workspaces/current/tools/builtin".into(), json!([])),
        ("/workspaces/current/tools/api".into(), json!([])),
        ("/workspaces/current/tools/workflow".into(), json!([])),
        ("/workspaces/current/tools/mcp".into(), json!([])),
        ("/workspaces/current/triggers".into(), json!([])),
        ("/workspaces/current/agent-providers".into(), json!([])),
        ("/api-based-extension".into(), json!([])),
        (
            "/rag/pipelines/recommended-plugins?type=all".into(),
            json!({"installed_recommended_plugins": [], "uninstalled_recommended_plugins": []}),
        ),
        (format!("/apps/{id}/triggers"), json!({"data": []})),
        (
            format!("/apps/{id}/annotations?page=2&limit=10"),
            json!({"data": [], "has_more": false, "limit": 10, "total": 0, "page": 2}),
        ),
        (
            format!("/apps/{id}/annotations"),
            json!({"data": [], "has_more": false, "limit": 20, "total": 0, "page": 1}),
        ),
    ];
    for (path, expected) in gets {
        assert_eq!(b.get(&path).await, (200, expected), "{path}");
    }
    let posts: [(&str, Value, Value); 4] = [
        (
            "/workspaces/current/plugin/list/installations/ids",
            json!({"plugin_ids": ["langgenius/openai"]}),
            json!({"plugins": []}),
        ),
        (
            "/workspaces/current/plugin/list/latest-versions",
            json!({"plugin_ids": ["langgenius/openai"]}),
            json!({"versions": {}}),
        ),
        (
            "/notification/dismiss",
            json!({}),
            json!({"result": "success"}),
        ),
        (
            "/apps/workflows/online-users",
            json!({"app_ids": [id]}),
            json!({"data": {}}),
        ),
    ];
    for (path, body, expected) in posts {
        assert_eq!(b.post(path, body).await, (200, expected), "{path}");
    }
    // App-scoped answers still look the app up: another workspace's (or no) app is 404.
    for path in ["triggers", "annotations"] {
        let (status, body) = b
            .get(&format!("/apps/{}/{path}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("app_not_found"))
        );
    }
    // And none of them answers without a session.
    let mut anonymous = common::console::Browser::new(&server);
    let (status, body) = anonymous.get("/workspaces/current/tools/builtin").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn the_web_app_permission_check_allows_every_public_app() {
    let server = TestServer::start().await;
    let res = server
        .client
        .get(server.url("/api/webapp/permission?appId=anything"))
        .send()
        .await
        .unwrap();
    let (status, body) = common::status_json(res).await;
    assert_eq!((status, body), (200, json!({"result": true})));
}
