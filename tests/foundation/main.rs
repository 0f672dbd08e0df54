//! Foundation acceptance: the error contract through the full default stack, the composable
//! stack, app-key auth, limits, DSL import/export through the CLI, and streams that fail.

#[path = "../common/mod.rs"]
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

mod errors;
mod limits;
mod operating;

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
