//! The holes a workflow author or a caller could use, each shown closed over real HTTP:
//! code nodes reading weir's files, forking or flooding their output; forged file objects;
//! requests to internal addresses; decompression bombs and endless templates; secrets at
//! rest and in exports; key guessing; and the errors that must not be 500s (racing creates,
//! a saturated database, an abandoned request body, provider addresses in messages).

#[path = "../common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{status_json, with_upstream, LogCapture, Options, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod code;
mod credentials;
mod network;
mod no_500s;

/// A workflow app: start (inputs as given) → `node` → end (`out` from `node.<output>`).
fn workflow(start_vars: Value, node: Value, output: &str) -> String {
    let doc = json!({
        "version": "0.6.0",
        "app": {"mode": "workflow", "name": "probe"},
        "workflow": {"graph": {
            "nodes": [
                {"id": "s", "data": {"type": "start", "title": "S", "variables": start_vars}},
                node,
                {"id": "e", "data": {"type": "end", "title": "E",
                    "outputs": [{"variable": "out", "value_selector": ["n", output]}]}},
            ],
            "edges": [{"source": "s", "target": "n"}, {"source": "n", "target": "e"}],
        }},
    });
    serde_yaml::to_string(&doc).unwrap()
}

fn text_input(name: &str) -> Value {
    json!({"variable": name, "type": "paragraph", "label": name, "required": false, "max_length": 100000})
}

/// Runs a workflow in blocking mode: its `data` (status, outputs, error).
async fn run(server: &TestServer, key: &str, inputs: Value) -> Value {
    let (status, body) = server
        .call(
            key,
            "POST",
            "/v1/workflows/run",
            Some(json!({"inputs": inputs, "response_mode": "blocking", "user": "probe"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn python(code: &str) -> Value {
    json!({"id": "n", "data": {"type": "code", "title": "C", "code_language": "python3", "code": code,
        "variables": [{"variable": "arg", "value_selector": ["s", "arg"]}],
        "outputs": {"out": {"type": "string"}}}})
}

/// A server on loopback that counts its requests and answers each with `reply`.
async fn counting_server(reply: String) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}

/// A ZIP of about 1 KB whose one entry claims to inflate to 1 GiB.
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", opts).unwrap();
    zip.write_all(&vec![b'a'; 1024 * 1024]).unwrap();
    zip.finish().unwrap();
    let mut bytes = buf.into_inner();
    let declared = (1u32 << 30).to_le_bytes();
    for (sig, offset) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
        let at = bytes.windows(4).position(|w| w == sig).unwrap() + offset;
        bytes[at..at + 4].copy_from_slice(&declared);
    }
    bytes
}

/// Dataset, tag and metadata names: two creates racing for one name give one success and
/// Dify's duplicate answer, never a 500.
async fn racing_creates(server: &TestServer) {
    let key = server.dataset_key().await;
    for round in 0..4 {
        let name = format!("race-{round}");
        let body = json!({"name": name, "indexing_technique": "economy"});
        let (a, b) = tokio::join!(
            server.call(&key, "POST", "/v1/datasets", Some(body.clone())),
            server.call(&key, "POST", "/v1/datasets", Some(body.clone())),
        );
        let mut got = [(a.0, a.1["code"].clone()), (b.0, b.1["code"].clone())];
        got.sort_by_key(|g| g.0);
        assert_eq!(got[0].0, 200, "{got:?}");
        assert_eq!(
            (got[1].0, got[1].1.as_str()),
            (409, Some("dataset_name_duplicate"))
        );

        let tag = json!({"name": format!("tag-{round}")});
        let (a, b) = tokio::join!(
            server.call(&key, "POST", "/v1/datasets/tags", Some(tag.clone())),
            server.call(&key, "POST", "/v1/datasets/tags", Some(tag.clone())),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    }
    let (_, ds) = server
        .call(&key, "POST", "/v1/datasets", Some(json!({"name": "meta"})))
        .await;
    let path = format!("/v1/datasets/{}/metadata", ds["id"].as_str().unwrap());
    for round in 0..4 {
        let field = json!({"type": "string", "name": format!("field-{round}")});
        let (a, b) = tokio::join!(
            server.call(&key, "POST", &path, Some(field.clone())),
            server.call(&key, "POST", &path, Some(field.clone())),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [201, 400], "{a:?} {b:?}");
    }
}
