use super::*;

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
