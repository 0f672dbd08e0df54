use super::*;

#[tokio::test]
async fn api_keys_get_difys_401s_and_cli_keys_work() {
    let server = TestServer::start().await;
    let dir = TempDir::new();
    let file = dir.0.join("app.yml");
    std::fs::write(&file, example("01-chat-simple.yml")).unwrap();
    let (ok, app_id, err) = weir_cli(
        &server.db.url,
        &dir.0,
        &["app", "import", file.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let app_id = app_id.trim().to_owned();
    let (ok, key, err) = weir_cli(&server.db.url, &dir.0, &["key", "create", &app_id]);
    assert!(ok, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("app-") && key.len() == 28, "{key}");

    let cases: [(Option<&str>, &str); 5] = [
        (
            None,
            "Authorization header must be provided and start with 'Bearer'",
        ),
        (
            Some("Bearer"),
            "Authorization header must be provided and start with 'Bearer'",
        ),
        (Some("Token abc"), "Authorization scheme must be 'Bearer'"),
        (
            Some("Bearer app-doesnotexist0000000000"),
            "Access token is invalid",
        ),
        (Some("Bearer dataset-whatever"), "Access token is invalid"),
    ];
    for (header, message) in cases {
        let mut req = server.client.get(server.url("/v1/info"));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
        let (status, body) = status_json(res).await;
        assert_eq!(status, 401, "{header:?}");
        assert_eq!(
            body,
            json!({"code": "unauthorized", "message": message, "status": 401}),
            "{header:?}"
        );
    }
    let (status, body) = status_json(server.get(&key, "/v1/info").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "chat");
    assert_eq!(body["name"], "Travel Buddy");

    // The key is stored hashed, never in clear.
    let rows: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(server.db.store.pool())
        .await
        .unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|h| h.len() == 64 && !h.contains(&key[4..])));
}

#[tokio::test]
async fn rate_limit_per_key_refuses_then_recovers() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.rate_limit_per_key = "2/s".into()),
        ..Options::default()
    })
    .await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let (_, other) = server.app_with_key("02-completion-inputs.yml").await;
    assert_eq!(server.get(&key, "/v1/info").await.status(), 200);
    assert_eq!(server.get(&key, "/v1/info").await.status(), 200);
    let res = server.get(&key, "/v1/info").await;
    assert!(res.headers().contains_key("retry-after"));
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some(codes::TOO_MANY_REQUESTS))
    );
    // Another key is not affected.
    assert_eq!(server.get(&other, "/v1/info").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.get(&key, "/v1/info").await.status(), 200);
}

#[tokio::test]
async fn app_concurrency_cap_refuses_then_recovers() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let (g, e) = (gate.clone(), entered.clone());
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.app_max_active_requests = 1),
        server: Box::new(move |s| {
            let route = Route::new(
                Method::POST,
                "/v1/test/generate",
                RouteMeta::auth(AuthKind::AppKey).generation(),
                handler(s.state(), move |_s, _r| {
                    let (g, e) = (g.clone(), e.clone());
                    async move {
                        e.notify_one();
                        let _permit = g.acquire().await.unwrap();
                        Ok(http::Response::new(body::full("done")))
                    }
                }),
            );
            s.with_routes([route])
        }),
        ..Options::default()
    })
    .await;
    let (app_id, key) = server.app_with_key("01-chat-simple.yml").await;
    let first = {
        let req = server
            .client
            .post(server.url("/v1/test/generate"))
            .bearer_auth(&key)
            .send();
        tokio::spawn(req)
    };
    entered.notified().await;
    let (status, body) = status_json(server.post(&key, "/v1/test/generate", json!({})).await).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "too_many_requests");
    assert_eq!(
        body["message"],
        format!("Too many requests. Please try again later. The current maximum concurrent requests allowed for {app_id} is 1.")
    );
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    gate.add_permits(1);
    assert_eq!(
        server
            .post(&key, "/v1/test/generate", json!({}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn layer_order_from_config_changes_behaviour() {
    let big = "x".repeat(2048);
    // Default order: body limit runs before auth → 413 for an unauthenticated big body.
    let default = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.body_bytes = 1024),
        ..Options::default()
    })
    .await;
    let res = default
        .client
        .get(default.url("/v1/info"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // Auth before body limit → 401 for the same request.
    let swapped = TestServer::start_with(Options {
        config: Box::new(|c| {
            c.services.limits.body_bytes = 1024;
            c.layers.order = [
                "request_id",
                "trace",
                "metrics",
                "catch_panic",
                "errors",
                "cors",
                "auth",
                "body_limit",
                "timeout",
                "rate_limit",
                "app_concurrency",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
        }),
        ..Options::default()
    })
    .await;
    let res = swapped
        .client
        .get(swapped.url("/v1/info"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Dropping a layer removes it: no request id, no CORS headers.
    let dropped = TestServer::start_with(Options {
        config: Box::new(|c| c.layers.order.retain(|l| l != "request_id" && l != "cors")),
        ..Options::default()
    })
    .await;
    let res = dropped
        .client
        .get(dropped.url("/health"))
        .header("origin", "https://a.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("x-request-id"));
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res = default
        .client
        .get(default.url("/health"))
        .header("origin", "https://a.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn unknown_and_repeated_layer_names_are_refused() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    for (extra, expected) in [
        ("telepathy", "unknown layer \"telepathy\""),
        ("auth", "layer \"auth\" listed twice"),
    ] {
        let mut config = weir::Config::default();
        config.layers.order.push(extra.into());
        let err = weir::Server::with_store(config, db.store.clone())
            .err()
            .expect("refused");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn the_default_stack_is_static_until_an_operator_changes_it() {
    let db = weir_api::store::scratch::ScratchDb::sqlite().await;
    let server = weir::Server::with_store(weir::Config::default(), db.store.clone()).unwrap();
    assert!(server.stack().is_static());
    assert_eq!(server.stack().names(), weir::stack::DEFAULT_ORDER);
    let server = server.map_stack(|s| s.layer("noop", tower::layer::util::Identity::new()));
    assert!(!server.stack().is_static());
    assert_eq!(server.stack().names().last(), Some(&"noop"));
    let mut config = weir::Config::default();
    config.layers.order.retain(|l| l != "cors");
    let server = weir::Server::with_store(config, db.store.clone()).unwrap();
    assert!(!server.stack().is_static());
}
