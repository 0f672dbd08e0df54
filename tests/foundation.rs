//! Foundation acceptance: the error contract through the full default stack, the composable
//! stack, app-key auth, limits, DSL import/export through the CLI, and streams that fail.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use common::{example, example_names, sse, status_json, weir_cli, Options, TempDir, TestServer};
use http::{Method, StatusCode};
use serde_json::json;
use weir_api::events;
use weir_api::{handler, Route};
use weir_layers::error::codes;
use weir_layers::{body, AuthKind, BoxError, HttpError, RouteMeta};

const OPEN: RouteMeta = RouteMeta::auth(AuthKind::None);

/// The typed errors acceptance 1 lists: (path segment, error).
fn typed_errors() -> Vec<(&'static str, HttpError)> {
    vec![
        ("400", HttpError::bad_request("bad thing")),
        ("401", HttpError::unauthorized("who are you")),
        ("403", HttpError::forbidden("not yours")),
        ("404", HttpError::not_found("Conversation Not Exists.")),
        ("413", HttpError::payload_too_large()),
        (
            "415",
            HttpError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "json please"),
        ),
        (
            "422",
            HttpError::status(StatusCode::UNPROCESSABLE_ENTITY, "query_required_for_chat"),
        ),
        ("429", HttpError::too_many_requests("slow down", Some(3))),
        (
            "custom",
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "not_chat_app",
                "Please check if your app mode matches the right API route.",
            ),
        ),
    ]
}

#[derive(Debug, thiserror::Error)]
#[error("database exploded: password=hunter2")]
struct Unknown;

fn test_routes(state: &weir_api::AppState) -> Vec<Route> {
    let mut routes = vec![
        Route::new(
            Method::GET,
            "/v1/test/unknown",
            OPEN,
            handler(state, |_s, _r| async {
                Err::<http::Response<weir_layers::Body>, BoxError>(Box::new(Unknown))
            }),
        ),
        Route::new(
            Method::GET,
            "/openapi/v1/test/unknown",
            OPEN,
            handler(state, |_s, _r| async {
                Err::<http::Response<weir_layers::Body>, BoxError>(Box::new(Unknown))
            }),
        ),
        Route::new(
            Method::GET,
            "/v1/test/panic",
            OPEN,
            handler(state, |_s, _r| async {
                panic!("secret panic detail");
            }),
        ),
        Route::new(
            Method::GET,
            "/v1/test/domain",
            OPEN,
            handler(state, |_s, _r| async {
                Err::<http::Response<weir_layers::Body>, BoxError>(
                    weir_api::ServiceError::NotChatApp.into(),
                )
            }),
        ),
        Route::new(
            Method::GET,
            "/v1/test/stream-fails",
            OPEN,
            handler(state, |_s, _r| async {
                let (tx, body) = events::channel(weir_layers::Surface::ServiceApi);
                let mut envelope = serde_json::Map::new();
                envelope.insert("message_id".into(), json!("m-1"));
                events::spawn_producer(tx.clone(), envelope, async move {
                    tx.send(&json!({"event": "message", "answer": "partial"}))
                        .await?;
                    Err(weir_api::ServiceError::CompletionRequest(
                        "upstream cut the connection".into(),
                    )
                    .into())
                });
                Ok(weir_layers::sse::response(body))
            }),
        ),
        Route::new(
            Method::GET,
            "/v1/test/stream-panics",
            OPEN,
            handler(state, |_s, _r| async {
                let (tx, body) = events::channel(weir_layers::Surface::ServiceApi);
                events::spawn_producer(tx.clone(), serde_json::Map::new(), async move {
                    tx.send(&json!({"event": "message", "answer": "partial"}))
                        .await?;
                    panic!("producer bug");
                });
                Ok(weir_layers::sse::response(body))
            }),
        ),
    ];
    for (name, err) in typed_errors() {
        let path: &'static str = Box::leak(format!("/v1/test/typed/{name}").into_boxed_str());
        routes.push(Route::new(
            Method::GET,
            path,
            OPEN,
            handler(state, move |_s, _r| {
                let err = err.clone();
                async move { Err::<http::Response<weir_layers::Body>, BoxError>(err.into()) }
            }),
        ));
    }
    routes
}

async fn server_with_test_routes() -> TestServer {
    TestServer::start_with(Options {
        server: Box::new(|s| {
            let routes = test_routes(s.state());
            s.with_routes(routes)
        }),
        ..Options::default()
    })
    .await
}

/// Sends raw HTTP/1.1 requests on one connection; returns each response's head and body.
fn raw_requests(addr: std::net::SocketAddr, paths: &[&str]) -> Vec<String> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    for path in paths {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + len {
                    out.push(text);
                    break;
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn typed_errors_pass_through_the_full_stack_unchanged() {
    let server = server_with_test_routes().await;
    for (name, err) in typed_errors() {
        let res = server
            .client
            .get(server.url(&format!("/v1/test/typed/{name}")))
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("x-request-id"));
        let (status, body) = status_json(res).await;
        assert_eq!(status, err.status_code().as_u16(), "{name}");
        assert_eq!(body["code"], err.code(), "{name}");
        assert_eq!(body["message"], err.message(), "{name}");
        assert_eq!(body["status"], status, "{name}");
    }
    // Domain errors go through the one table.
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/v1/test/domain"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_chat_app")));
}

#[tokio::test]
async fn retry_after_and_www_authenticate_survive() {
    let server = server_with_test_routes().await;
    let res = server
        .client
        .get(server.url("/v1/test/typed/429"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "3");
    let res = server
        .client
        .get(server.url("/v1/test/typed/401"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
}

#[tokio::test]
async fn unknown_errors_and_panics_are_generic_500s_and_the_connection_survives() {
    let server = server_with_test_routes().await;
    let addr = server.addr;
    let responses = tokio::task::spawn_blocking(move || {
        raw_requests(
            addr,
            &[
                "/v1/test/unknown",
                "/v1/test/panic",
                "/health",
                "/openapi/v1/test/unknown",
            ],
        )
    })
    .await
    .unwrap();
    let v1_500 = json!({"code": "internal_server_error", "message": weir_layers::surface::SERVICE_API_INTERNAL_MESSAGE, "status": 500});
    for text in &responses[..2] {
        assert!(text.starts_with("HTTP/1.1 500"), "{text}");
        let body: serde_json::Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body, v1_500);
        assert!(!text.contains("hunter2") && !text.contains("secret panic"));
    }
    assert!(responses[2].starts_with("HTTP/1.1 200"), "{}", responses[2]);
    let body: serde_json::Value =
        serde_json::from_str(responses[3].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"code": "internal_server_error", "message": "Internal Server Error", "status": 500})
    );
}

#[tokio::test]
async fn routing_misses_are_json() {
    let server = TestServer::start().await;
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/v1/no-such-path"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some(codes::NOT_FOUND))
    );
    let (status, body) = status_json(
        server
            .client
            .post(server.url("/v1/info"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some(codes::METHOD_NOT_ALLOWED))
    );
    // A miss answers 404 before auth would answer 401.
    let (status, _) = status_json(
        server
            .client
            .get(server.url("/openapi/v1/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_stream_that_fails_midway_ends_with_an_error_event() {
    let server = server_with_test_routes().await;
    let res = server
        .client
        .get(server.url("/v1/test/stream-fails"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let events = sse::events(&text);
    assert_eq!(sse::names(&events), vec!["message", "error"]);
    assert_eq!(
        events[1],
        json!({"event": "error", "message_id": "m-1", "code": "completion_request_error", "message": "upstream cut the connection", "status": 400})
    );
    let text = server
        .client
        .get(server.url("/v1/test/stream-panics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse::events(&text);
    assert_eq!(events.last().unwrap()["code"], "internal_server_error");
    assert!(!text.contains("producer bug"));
}

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
