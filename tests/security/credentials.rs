use super::*;

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_exported_only_to_full_scope() {
    let server = TestServer::start().await;
    let doc = json!({
        "version": "0.6.0",
        "app": {"mode": "workflow", "name": "sealed"},
        "workflow": {
            "environment_variables": [
                {"name": "tok", "value_type": "secret", "value": "s3cr3t-value", "id": "v1"},
                {"name": "base", "value_type": "string", "value": "visible", "id": "v2"},
            ],
            "graph": {
                "nodes": [
                    {"id": "s", "data": {"type": "start", "title": "S", "variables": []}},
                    {"id": "e", "data": {"type": "end", "title": "E",
                        "outputs": [{"variable": "out", "value_selector": ["env", "tok"]}]}},
                ],
                "edges": [{"source": "s", "target": "e"}],
            },
        },
    });
    let app = server.import(&serde_yaml::to_string(&doc).unwrap()).await;
    for (table, column) in [("apps", "dsl"), ("workflows", "environment_variables")] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {column} FROM {table}"))
            .fetch_all(server.db.store.pool())
            .await
            .unwrap();
        assert!(
            rows.iter().all(|r| !r.contains("s3cr3t-value")),
            "{table}: {rows:?}"
        );
        assert!(
            rows.iter().any(|r| r.contains("weir-secret:v1:")),
            "{table}"
        );
    }
    // Runs see the value.
    let key = server.app_key(&app).await;
    let data = run(&server, &key, json!({})).await;
    assert_eq!(data["outputs"]["out"], "s3cr3t-value");
    // Exports: blank by default, the value only for a full-scope token that asks.
    let ws = server.db.store.default_workspace_id().await.unwrap();
    let token = |scopes: &'static str| {
        let store = server.db.store.clone();
        let ws = ws.clone();
        async move {
            weir_api::credentials::create_token(&store, &ws, scopes, "t", None)
                .await
                .unwrap()
        }
    };
    let (full, reader) = (token("full").await, token("apps:read").await);
    let export = |tok: String, query: &'static str| {
        let path = format!("/openapi/v1/apps/{app}/dsl{query}");
        let server = &server;
        async move { server.call(&tok, "GET", &path, None).await }
    };
    let (status, body) = export(full.clone(), "").await;
    assert_eq!(status, 200);
    assert!(!body["data"].as_str().unwrap().contains("s3cr3t-value"));
    let (status, body) = export(full, "?include_secret=true").await;
    assert_eq!(status, 200);
    assert!(body["data"].as_str().unwrap().contains("s3cr3t-value"));
    let (status, body) = export(reader, "?include_secret=true").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[tokio::test]
async fn guessing_keys_is_throttled_before_the_lookup() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.auth_failures_per_minute = 5),
        ..Options::default()
    })
    .await;
    let (_, key) = server.app_with_key("05-workflow-llm.yml").await;
    for i in 0..5 {
        let (status, _) = server
            .call(&format!("app-guess{i}"), "GET", "/v1/info", None)
            .await;
        assert_eq!(status, 401);
    }
    let res = server
        .client
        .get(server.url("/v1/info"))
        .bearer_auth("app-guess5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    // The address is refused whatever it presents, until the minute is over.
    let (status, body) = server.call(&key, "GET", "/v1/info", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_requests"))
    );
}

#[tokio::test]
async fn provider_errors_do_not_name_the_upstream_address() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = TestServer::start_with(Options {
        config: Box::new(move |c| {
            c.services.providers.insert(
                "openai".into(),
                weir_api::settings::ProviderSettings {
                    base_url: format!("http://127.0.0.1:{port}/v1"),
                    api_key: "sk-test".into(),
                    ..Default::default()
                },
            );
        }),
        ..Options::default()
    })
    .await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let (status, body) = server
        .call(
            &key,
            "POST",
            "/v1/chat-messages",
            Some(json!({"query": "hi", "inputs": {"budget": "luxury"}, "user": "u", "response_mode": "blocking"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("completion_request_error")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.contains("127.0.0.1") && !message.contains(&port.to_string()),
        "{message}"
    );
}
