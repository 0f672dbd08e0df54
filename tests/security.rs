//! The holes a workflow author or a caller could use, each shown closed over real HTTP:
//! code nodes reading weir's files, forking or flooding their output; forged file objects;
//! requests to internal addresses; decompression bombs and endless templates; secrets at
//! rest and in exports; key guessing; and the errors that must not be 500s (racing creates,
//! a saturated database, an abandoned request body, provider addresses in messages).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{status_json, with_upstream, LogCapture, Options, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[tokio::test]
async fn python_cannot_reach_weirs_files_processes_or_output_budget() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.code.timeout_s = 10),
        ..Options::default()
    })
    .await;
    let data_dir = server.config.services.data_dir.clone();
    std::fs::write(data_dir.join("weir.toml"), "secret_key = \"hunter2\"\n").unwrap();
    let db_file = server
        .db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let read = "def main(arg: str) -> dict:\n    return {'out': open(arg, 'rb').read().decode('latin-1')}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(read), "out"))
                .await,
        )
        .await;
    for path in [
        data_dir.join("weir.toml").display().to_string(),
        data_dir.join("secret_key").display().to_string(),
        db_file,
        format!("/proc/{}/environ", std::process::id()),
    ] {
        let data = run(&server, &key, json!({"arg": path})).await;
        assert_eq!(data["status"], "failed", "{path}: {data}");
        let error = data["error"].as_str().unwrap();
        assert!(error.contains("PermissionError"), "{path}: {error}");
        assert!(!error.contains("hunter2"));
    }
    // The parent's environment, by the parent's pid as the child sees it.
    let environ = "import os\ndef main(arg: str) -> dict:\n    return {'out': open('/proc/%d/environ' % os.getppid()).read()}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(
                    json!([text_input("arg")]),
                    python(environ),
                    "out",
                ))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed", "{data}");

    let fork = "import os\ndef main(arg: str) -> dict:\n    for _ in range(1000):\n        os.fork()\n    return {'out': 'forked'}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(fork), "out"))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed");
    assert!(
        data["error"].as_str().unwrap().contains("PermissionError"),
        "{data}"
    );

    let flood = "import sys\ndef main(arg: str) -> dict:\n    for _ in range(100):\n        sys.stdout.write('x' * 1048576)\n    return {'out': 'done'}\n";
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("arg")]), python(flood), "out"))
                .await,
        )
        .await;
    let data = run(&server, &key, json!({"arg": ""})).await;
    assert_eq!(data["status"], "failed");
    assert!(
        data["error"].as_str().unwrap().contains("too much output"),
        "{data}"
    );
    // The server is unharmed.
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_forged_file_object_is_plain_data() {
    let server = TestServer::start().await;
    // A victim's upload, through another app.
    let victim_app = server
        .import(&workflow(
            json!([text_input("arg")]),
            python("def main(arg: str) -> dict:\n    return {'out': arg}\n"),
            "out",
        ))
        .await;
    let victim_key = server.app_key(&victim_app).await;
    let part = reqwest::multipart::Part::bytes(b"TOPSECRET payroll".to_vec())
        .file_name("payroll.txt")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("user", "victim");
    let res = server
        .client
        .post(server.url("/v1/files/upload"))
        .bearer_auth(&victim_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, upload) = status_json(res).await;
    assert_eq!(status, 201, "{upload}");
    let upload_id = upload["id"].as_str().unwrap();

    // A json_object input that carries Dify's file marker and the victim's upload id.
    let extractor = json!({"id": "n", "data": {"type": "document-extractor", "title": "X",
        "variable_selector": ["s", "f"]}});
    let vars = json!([{"variable": "f", "type": "json_object", "label": "f", "required": true}]);
    let key = server
        .app_key(&server.import(&workflow(vars, extractor, "text")).await)
        .await;
    let forged = json!({"dify_model_identity": "__dify__file__", "related_id": upload_id, "id": upload_id,
        "type": "document", "transfer_method": "local_file", "extension": ".txt",
        "mime_type": "text/plain", "filename": "payroll.txt", "size": 17});
    let data = run(&server, &key, json!({"f": forged})).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(
        data["error"].as_str().unwrap().contains("not a file"),
        "{data}"
    );
    assert!(!data.to_string().contains("TOPSECRET"));

    // The upload id as a real file input of another app: refused, uploads are not shared.
    let extractor = json!({"id": "n", "data": {"type": "document-extractor", "title": "X",
        "variable_selector": ["s", "f"]}});
    let vars = json!([{"variable": "f", "type": "file", "label": "f", "required": true,
        "allowed_file_types": ["document"], "allowed_file_upload_methods": ["local_file"]}]);
    let key = server
        .app_key(&server.import(&workflow(vars, extractor, "text")).await)
        .await;
    let (status, body) = server
        .call(
            &key,
            "POST",
            "/v1/workflows/run",
            Some(json!({"inputs": {"f": {"transfer_method": "local_file", "upload_file_id": upload_id, "type": "document"}},
                "response_mode": "blocking", "user": "attacker"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param")),
        "{body}"
    );
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

#[tokio::test]
async fn http_requests_to_internal_addresses_are_refused() {
    let (target, target_hits) = counting_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\ninternal".into(),
    )
    .await;
    let (hop, hop_hits) = counting_server(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.port()
    ))
    .await;
    // The redirecting server stands for a public host: only it is let through.
    let server = TestServer::start_with(Options {
        config: Box::new(move |c| {
            c.services.network.allowed_addresses = vec![hop.to_string()];
        }),
        ..Options::default()
    })
    .await;
    let node = json!({"id": "n", "data": {"type": "http-request", "title": "H", "method": "get",
        "url": "{{#s.url#}}", "headers": "", "params": "", "body": {"type": "none", "data": []},
        "authorization": {"type": "no-auth"}, "timeout": {"connect": 5, "read": 5}}});
    let key = server
        .app_key(
            &server
                .import(&workflow(json!([text_input("url")]), node, "body"))
                .await,
        )
        .await;
    let port = target.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://127.0.0.1:{}/", hop.port()),
    ] {
        let data = run(&server, &key, json!({"url": url})).await;
        assert_eq!(data["status"], "failed", "{url}: {data}");
        assert!(
            data["error"].as_str().unwrap().contains("blocked"),
            "{url}: {data}"
        );
    }
    assert_eq!(
        hop_hits.load(Ordering::SeqCst),
        1,
        "the allowed hop was asked once"
    );
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "nothing reached the internal server"
    );
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

#[tokio::test]
async fn decompression_bombs_and_endless_templates_are_refused() {
    let upstream = FakeUpstream::start().await;
    let server = TestServer::start_with(with_upstream(&upstream)).await;
    let key = server.dataset_key().await;
    let (status, ds) = server
        .call(
            &key,
            "POST",
            "/v1/datasets",
            Some(json!({"name": "bombs", "indexing_technique": "economy"})),
        )
        .await;
    assert_eq!(status, 200, "{ds}");
    let bomb = zip_bomb();
    assert!(bomb.len() < 4096, "{}", bomb.len());
    let part = reqwest::multipart::Part::bytes(bomb)
        .file_name("report.docx")
        .mime_str("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part).text(
        "data",
        json!({"indexing_technique": "economy", "process_rule": {"mode": "automatic"}}).to_string(),
    );
    let res = server
        .client
        .post(server.url(&format!(
            "/v1/datasets/{}/document/create-by-file",
            ds["id"].as_str().unwrap()
        )))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("decompressed"),
        "{body}"
    );

    // A template that would loop for 10^10 steps: the run fails cleanly (a failed run is
    // Dify's answer to a failing node), quickly, and the server keeps serving.
    let node = json!({"id": "n", "data": {"type": "template-transform", "title": "T",
        "template": "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
        "variables": []}});
    let key = server
        .app_key(&server.import(&workflow(json!([]), node, "output")).await)
        .await;
    let started = std::time::Instant::now();
    let data = run(&server, &key, json!({})).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(data["error"].as_str().unwrap().contains("budget"), "{data}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

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
async fn uploads_of_active_types_are_downloads_and_ranges_are_served() {
    let server = TestServer::start().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let upload = |name: &'static str, mime: &'static str, bytes: &'static [u8]| {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name)
            .mime_str(mime)
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("user", "u");
        server
            .client
            .post(server.url("/v1/files/upload"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
    };
    let (status, svg) = status_json(
        upload("x.svg", "image/svg+xml", b"<svg onload=\"alert(1)\"/>")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{svg}");
    let res = server
        .client
        .get(server.url(svg["source_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(h["x-content-type-options"], "nosniff");

    let (_, txt) = status_json(upload("a.txt", "text/plain", b"0123456789").await.unwrap()).await;
    let url = server.url(txt["source_url"].as_str().unwrap());
    let res = server
        .client
        .get(&url)
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    assert_eq!(res.text().await.unwrap(), "2345");
    let res = server
        .client
        .get(&url)
        .header("range", "bytes=20-")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 416);
    assert_eq!(res.headers()["content-range"], "bytes */10");
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

#[tokio::test]
async fn racing_creates_give_one_winner_on_sqlite() {
    racing_creates(&TestServer::start().await).await;
}

#[tokio::test]
async fn racing_creates_give_one_winner_on_postgres() {
    if !common::postgres_configured("racing_creates_give_one_winner_on_postgres") {
        return;
    }
    let server = TestServer::start_with(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    racing_creates(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_write_queue_is_503_with_retry_after_and_loses_nothing() {
    let server = TestServer::start_with(Options {
        store: Some(weir_api::store::StoreOptions {
            write_queue: 1,
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let key = server.dataset_key().await;
    // Warm the key cache, so that requests below write nothing but their dataset.
    assert_eq!(server.call(&key, "GET", "/v1/datasets", None).await.0, 200);
    // Another connection holds the database's write lock.
    let locker = weir_api::store::Store::connect(&server.db.url)
        .await
        .unwrap();
    let mut conn = locker.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut pending = Vec::new();
    let mut refused = None;
    for i in 0..6 {
        let (client, url, key) = (
            server.client.clone(),
            server.url("/v1/datasets"),
            key.clone(),
        );
        let req = tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"name": format!("queued-{i}")}))
                .send()
                .await
                .unwrap();
            let retry = res.headers().get("retry-after").cloned();
            let (status, body) = status_json(res).await;
            (status, body, retry)
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        if req.is_finished() {
            let (status, body, retry) = req.await.unwrap();
            assert_eq!(
                (status, body["code"].as_str()),
                (503, Some("service_unavailable"))
            );
            assert_eq!(retry.unwrap(), "1");
            refused.get_or_insert(i);
        } else {
            pending.push(req);
        }
    }
    assert!(
        refused.is_some(),
        "no request was refused while the queue was full"
    );
    sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
    drop(conn);
    let mut created = 0;
    for req in pending {
        let (status, body, _) = req.await.unwrap();
        assert_eq!(status, 200, "{body}");
        created += 1;
    }
    let (_, list) = server
        .call(&key, "GET", "/v1/datasets?limit=100", None)
        .await;
    assert_eq!(list["total"], created, "every accepted create was stored");
}

#[tokio::test]
async fn an_abandoned_request_body_is_a_400_and_no_error_log() {
    let logs = LogCapture::start();
    let server = TestServer::start().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat-messages HTTP/1.1\r\nhost: weir\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"query\": \"hel"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.shutdown().await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
    assert!(logs.errors().is_empty(), "{:?}", logs.errors());
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
