use super::*;

#[tokio::test]
async fn files_upload_preview_and_vision() {
    let upstream = common::upstream::FakeUpstream::start().await;
    let opts = with_upstream(&upstream).also(|c| c.services.limits.upload_image_bytes = 1024);
    let server = TestServer::start_with(opts).await;
    let vision = common::example("01-chat-simple.yml").replace(
        "      enabled: false\n      number_limits: 3",
        "      enabled: true\n      number_limits: 3",
    );
    let app = server.import(&vision).await;
    let key = server.app_key(&app).await;
    let upload =
        |name: &'static str, mime: Option<&'static str>, bytes: Vec<u8>, user: &'static str| {
            let mut part = reqwest::multipart::Part::bytes(bytes).file_name(name);
            if let Some(m) = mime {
                part = part.mime_str(m).unwrap();
            }
            let form = reqwest::multipart::Form::new()
                .part("file", part)
                .text("user", user);
            server
                .client
                .post(server.url("/v1/files/upload"))
                .bearer_auth(&key)
                .multipart(form)
                .send()
        };
    let res = upload("pixel.png", Some("image/png"), vec![137, 80, 78, 71], "ana")
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (_, file) = status_json(res).await;
    for k in [
        "id",
        "name",
        "size",
        "extension",
        "mime_type",
        "created_by",
        "created_at",
        "preview_url",
        "source_url",
        "original_url",
        "user_id",
        "tenant_id",
        "conversation_id",
        "file_key",
    ] {
        assert!(file.get(k).is_some(), "{k}");
    }
    assert_eq!(
        (
            file["extension"].as_str(),
            file["size"].as_u64(),
            file["mime_type"].as_str()
        ),
        (Some("png"), Some(4), Some("image/png"))
    );
    let (status, body) = status_json(
        upload("big.png", Some("image/png"), vec![0; 2048], "ana")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("file_too_large"))
    );
    let (status, body) = status_json(upload("x.png", None, vec![1], "ana").await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_file_type"))
    );
    let (status, body) = status_json(
        upload("a:b.png", Some("image/png"), vec![1], "ana")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let form = reqwest::multipart::Form::new().text("user", "ana");
    let (status, body) = status_json(
        server
            .client
            .post(server.url("/v1/files/upload"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_file_uploaded"))
    );
    // Refused parts leave nothing behind; the kept one is in the data directory's store.
    let listed = |dir: &str| -> Vec<String> {
        std::fs::read_dir(server.config.services.data_dir.join(dir))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(listed("spool"), Vec::<String>::new());
    assert_eq!(listed("upload_files"), [file["id"].as_str().unwrap()]);

    // Preview only once a message references it.
    let id = file["id"].as_str().unwrap();
    let (status, body) =
        status_json(server.get(&key, &format!("/v1/files/{id}/preview")).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("file_not_found"))
    );
    let files = json!([{"type": "image", "transfer_method": "local_file", "upload_file_id": id}]);
    let (status, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "what is this", "user": "bob", "files": files})).await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Invalid upload file")),
        "another user's upload"
    );
    let (status, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "what is this", "user": "ana", "files": files})).await).await;
    assert_eq!(status, 200, "{body}");
    let sent = upstream.chat_requests();
    let with_image = sent
        .iter()
        .find(|r| r["messages"].as_array().unwrap().last().unwrap()["content"].is_array())
        .expect("the image went to the model");
    let content = &with_image["messages"].as_array().unwrap().last().unwrap()["content"];
    assert_eq!(content[0], json!({"type": "text", "text": "what is this"}));
    assert_eq!(content[1]["type"], "image_url");
    assert!(content[1]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let res = server.get(&key, &format!("/v1/files/{id}/preview")).await;
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), vec![137, 80, 78, 71]);
    let res = server
        .get(&key, &format!("/v1/files/{id}/preview?as_attachment=true"))
        .await;
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename*=UTF-8''pixel.png"));
    // The signed URL works without a key.
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!(
                    "/v1/messages?user=ana&conversation_id={}",
                    body["conversation_id"].as_str().unwrap()
                ),
            )
            .await,
    )
    .await;
    let url = page["data"][0]["message_files"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server
            .client
            .get(server.url(&url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        server
            .client
            .get(server.url(&url.replace("sign=", "sign=0")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn idle_streams_get_pings() {
    let upstream = common::upstream::FakeUpstream::start().await;
    let opts = with_upstream(&upstream).also(|c| c.services.limits.ping_interval_s = 1);
    let server = TestServer::start_with(opts).await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "slow answer".into(),
        Duration::from_millis(1300),
    ));
    let text = server
        .post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "q", "user": "u", "response_mode": "streaming"}))
        .await
        .text()
        .await
        .unwrap();
    let frames = sse::parse(&text);
    assert!(frames.contains(&sse::Frame::Ping), "{text}");
    assert_eq!(
        sse::names(&sse::events(&text)).last().unwrap(),
        "message_end"
    );
}
