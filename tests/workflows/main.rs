//! Workflow and chatflow apps on the engine, against the fake upstream: every example runs
//! blocking and streaming with the expected outputs and events; parallel branches really run
//! at once; iteration parallelism is bounded; http-request is guarded; stop works mid-run.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{example, sse, start_with_upstream, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};

mod chatflows;
mod lifecycle;
mod llm;
mod nodes;

async fn run(server: &TestServer, key: &str, inputs: Value, mode: &str) -> reqwest::Response {
    server
        .post(
            key,
            "/v1/workflows/run",
            json!({"inputs": inputs, "response_mode": mode, "user": "wire-user"}),
        )
        .await
}

fn node_events<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

fn assert_usage(usage: &Value) {
    for key in [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "total_price",
        "currency",
        "latency",
    ] {
        assert!(usage.get(key).is_some(), "{key}");
    }
}

const PARALLEL: &str = r#"
version: "0.6.0"
app: {mode: workflow, name: parallel}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: q, label: Q, type: text-input, required: true}]}}
    - {id: left, data: {type: llm, title: Left, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "left {{#start.q#}}"}]}}
    - {id: right, data: {type: llm, title: Right, model: {provider: openai, name: m, mode: chat}, prompt_template: [{role: user, text: "right {{#start.q#}}"}]}}
    - {id: end, data: {type: end, title: End, outputs: [{variable: l, value_selector: [left, text]}, {variable: r, value_selector: [right, text]}]}}
    edges:
    - {source: start, target: left}
    - {source: start, target: right}
    - {source: left, target: end}
    - {source: right, target: end}
"#;

/// A loopback HTTP fixture that answers every request with this status and records it.
async fn fixture(
    status: u16,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let seen = s2.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 65536];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let body = "{\"ok\":true}";
                let _ = sock
                    .write_all(format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    .await;
            });
        }
    });
    (addr, seen)
}
