use super::*;

#[tokio::test]
async fn every_example_imports_and_exports_through_the_cli() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    let dir = TempDir::new();
    for name in example_names() {
        let file = dir.0.join(&name);
        std::fs::write(&file, example(&name)).unwrap();
        let (ok, id, err) = weir_cli(&db.url, &dir.0, &["app", "import", file.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");
        let id = id.trim().to_owned();
        assert!(weir_api::util::is_uuid(&id), "{name}: {id}");
        let (ok, yaml, err) = weir_cli(&db.url, &dir.0, &["app", "export", &id]);
        assert!(ok, "{name}: {err}");
        let original = weir_api::dsl::Dsl::parse(&example(&name)).unwrap();
        let exported = weir_api::dsl::Dsl::parse(&yaml).unwrap();
        assert_eq!(exported.mode, original.mode, "{name}");
        assert_eq!(
            exported.doc["model_config"], original.doc["model_config"],
            "{name}"
        );
        assert_eq!(
            exported.doc["app"]["name"], original.doc["app"]["name"],
            "{name}"
        );
        let mut wf = original.doc["workflow"].clone();
        // Secrets are blanked on export.
        if let Some(vars) = wf
            .get_mut("environment_variables")
            .and_then(|v| v.as_array_mut())
        {
            for v in vars.iter_mut().filter(|v| v["value_type"] == "secret") {
                v["value"] = json!("");
            }
        }
        assert_eq!(exported.doc["workflow"], wf, "{name}");
        // Re-importing the export works too.
        let again = dir.0.join(format!("again-{name}"));
        std::fs::write(&again, &yaml).unwrap();
        let (ok, _, err) = weir_cli(&db.url, &dir.0, &["app", "import", again.to_str().unwrap()]);
        assert!(ok, "{name} re-import: {err}");
    }
    let (ok, list, _) = weir_cli(&db.url, &dir.0, &["app", "list"]);
    assert!(ok);
    assert_eq!(list.lines().count(), 2 * example_names().len());
    assert!(list.lines().all(|l| l.split('\t').count() == 3));
}

#[tokio::test]
async fn malformed_dsl_is_refused_with_one_line_and_nothing_stored() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    let dir = TempDir::new();
    let cases = [
        ("not-yaml.yml", "app: [unclosed\n", "invalid YAML"),
        ("list.yml", "- a\n- b\n", "content must be a mapping"),
        (
            "mode.yml",
            "version: '0.6.0'\napp: {mode: channel, name: x}\n",
            "unknown app mode",
        ),
        (
            "version.yml",
            "version: '99.0.0'\napp: {mode: chat, name: x}\nmodel_config: {pre_prompt: ''}\n",
            "newer than the supported",
        ),
        (
            "float.yml",
            "version: 0.1\napp: {mode: chat, name: x}\nmodel_config: {pre_prompt: ''}\n",
            "version must be a string",
        ),
        (
            "no-workflow.yml",
            "version: '0.6.0'\napp: {mode: workflow, name: x}\n",
            "missing workflow data",
        ),
    ];
    for (file, text, reason) in cases {
        let path = dir.0.join(file);
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = weir_cli(&db.url, &dir.0, &["app", "import", path.to_str().unwrap()]);
        assert!(!ok, "{file} accepted");
        assert!(out.is_empty(), "{file}: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{file}: {err}");
        assert!(err.contains(reason), "{file}: {err}");
    }
    let (ok, list, _) = weir_cli(&db.url, &dir.0, &["app", "list"]);
    assert!(ok && list.is_empty(), "{list}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workflows")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn cli_errors_are_one_line_and_nonzero() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    let dir = TempDir::new();
    for args in [
        vec!["app", "export", "00000000-0000-0000-0000-000000000000"],
        vec!["app", "delete", "nope"],
        vec!["key", "create", "nope"],
        vec!["token", "create", "--scopes", "apps:fly"],
    ] {
        let (ok, out, err) = weir_cli(&db.url, &dir.0, &args);
        assert!(!ok, "{args:?}");
        assert!(out.is_empty());
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    let (ok, token, _) = weir_cli(
        &db.url,
        &dir.0,
        &["token", "create", "--scopes", "apps:read,apps:run"],
    );
    assert!(ok && token.trim().starts_with("dfoa_"));
    let (ok, key, _) = weir_cli(&db.url, &dir.0, &["key", "create", "--knowledge"]);
    assert!(ok && key.trim().starts_with("dataset-") && key.trim().len() == 32);
}

#[tokio::test]
async fn deleted_app_stops_working_and_health_is_open() {
    let server = TestServer::start().await;
    let (app_id, key) = server.app_with_key("01-chat-simple.yml").await;
    assert_eq!(server.get(&key, "/v1/info").await.status(), 200);
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert!(body["version"].is_string());
    let dir = TempDir::new();
    let (ok, _, err) = weir_cli(&server.db.url, &dir.0, &["app", "delete", &app_id]);
    assert!(ok, "{err}");
    let gone = common::eventually(Duration::from_secs(15), || async {
        (server.get(&key, "/v1/info").await.status() == 401).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "a deleted app's key must stop working within the cache bound"
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| {
            c.metrics_bind = "127.0.0.1:0".into();
            c.services.metrics_token = "m3trics".into();
        }),
        ..Options::default()
    })
    .await;
    server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    // The public address: only with the token.
    let public = server.url("/metrics");
    let (status, body) = status_json(server.client.get(&public).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let wrong = server
        .client
        .get(&public)
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let with_token = server
        .client
        .get(&public)
        .bearer_auth("m3trics")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    // metrics_bind: open to whoever reaches that address.
    let text = server
        .client
        .get(format!("http://{}/metrics", server.metrics_addr.unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "weir_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("weir_http_request_duration_seconds_bucket"));
    assert!(text.contains("weir_open_streams"));
    assert!(text.contains("weir_http_requests_in_flight"));
}

#[tokio::test]
async fn shutdown_lets_running_streams_finish() {
    let started = Arc::new(tokio::sync::Notify::new());
    let s2 = started.clone();
    let server = TestServer::start_with(Options {
        server: Box::new(move |s| {
            let route = Route::new(
                Method::GET,
                "/v1/test/slow-stream",
                OPEN,
                handler(s.state(), move |_s, _r| {
                    let started = s2.clone();
                    async move {
                        let (tx, body) = events::channel(weir_layers::Surface::ServiceApi);
                        events::spawn_producer(tx.clone(), serde_json::Map::new(), async move {
                            for i in 0..4 {
                                tx.send(&json!({"event": "message", "answer": i.to_string()}))
                                    .await?;
                                if i == 0 {
                                    started.notify_one();
                                }
                                tokio::time::sleep(Duration::from_millis(150)).await;
                            }
                            tx.send(&json!({"event": "message_end"})).await?;
                            Ok(())
                        });
                        Ok(weir_layers::sse::response(body))
                    }
                }),
            );
            s.with_routes([route])
        }),
        ..Options::default()
    })
    .await;
    let res = server
        .client
        .get(server.url("/v1/test/slow-stream"))
        .send()
        .await
        .unwrap();
    started.notified().await;
    let stopping = tokio::spawn(server.stop());
    let text = res.text().await.unwrap();
    assert_eq!(
        sse::names(&sse::events(&text)),
        vec!["message", "message", "message", "message", "message_end"]
    );
    stopping.await.unwrap();
}
