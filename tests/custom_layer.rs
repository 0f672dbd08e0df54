//! `examples/custom_layer.rs` runs with its extra layer in the stack.

mod common;

#[path = "../examples/custom_layer.rs"]
#[allow(dead_code)]
mod custom_layer;

use common::{status_json, Options, TestServer};

#[tokio::test]
async fn the_example_layer_guards_every_request() {
    let server = TestServer::start_with(Options {
        server: Box::new(custom_layer::with_guard),
        ..Options::default()
    })
    .await;
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        serde_json::json!({"code": "forbidden", "message": "unknown tenant", "status": 403})
    );
    let res = server
        .client
        .get(server.url("/health"))
        .header("x-tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_example_builds_a_server_from_config() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    let config = weir::Config {
        database_url: db.url.clone(),
        bind: "127.0.0.1:0".into(),
        ..weir::Config::default()
    };
    let server = custom_layer::build(config).await.unwrap();
    assert!(server.stack().names().contains(&"tenant_guard"));
    let pos = |n| server.stack().names().iter().position(|x| *x == n).unwrap();
    assert_eq!(pos("tenant_guard"), pos("errors") + 1);
}
