use super::*;

#[tokio::test]
async fn upstream_failures_map_to_difys_codes_and_are_saved() {
    let cases: Vec<(Script, u16, &str)> = vec![
        (Script::Status(500), 400, "completion_request_error"),
        (Script::Status(401), 400, "completion_request_error"),
        (Script::Status(429), 429, "rate_limit_error"),
        (Script::Cut, 400, "completion_request_error"),
        (Script::Garbage, 400, "completion_request_error"),
    ];
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    for (script, status, code) in cases {
        upstream.push(script.clone());
        let (got, body) = status_json(
            server
                .post(
                    &key,
                    "/v1/chat-messages",
                    chat_body("hello", "blocking", ""),
                )
                .await,
        )
        .await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "blocking {script:?}: {body}"
        );
        upstream.push(script.clone());
        let res = server
            .post(
                &key,
                "/v1/chat-messages",
                chat_body("hello", "streaming", ""),
            )
            .await;
        assert_eq!(res.status(), 200);
        let events = sse::events(&res.text().await.unwrap());
        let last = events.last().unwrap();
        assert_eq!(last["event"], "error", "streaming {script:?}");
        assert_eq!(
            (last["status"].as_u64(), last["code"].as_str()),
            (Some(status as u64), Some(code))
        );
        assert!(last.get("task_id").is_none());
        assert!(last["conversation_id"].is_string() && last["message_id"].is_string());
        // The message exists with its error status.
        let conv = last["conversation_id"].as_str().unwrap();
        let (_, page) = status_json(
            server
                .get(
                    &key,
                    &format!("/v1/messages?conversation_id={conv}&user=wire-user"),
                )
                .await,
        )
        .await;
        assert_eq!(page["data"][0]["status"], "error", "{script:?}");
        assert!(page["data"][0]["error"].is_string());
    }
}

#[tokio::test]
async fn unconfigured_provider_is_provider_not_initialize() {
    let server = common::TestServer::start().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    for mode in ["blocking", "streaming"] {
        let (status, body) = status_json(
            server
                .post(&key, "/v1/chat-messages", chat_body("hi", mode, ""))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("provider_not_initialize")),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn stop_saves_the_partial_answer_and_ends_with_message_end() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "one two three four five six seven eight".into(),
        Duration::from_millis(150),
    ));
    let res = server
        .post(
            &key,
            "/v1/chat-messages",
            chat_body("go slowly", "streaming", ""),
        )
        .await;
    let mut stream = res.bytes_stream();
    use futures_util::StreamExt;
    let mut text = String::new();
    let mut stopped = false;
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if !stopped && text.contains("\"answer\":\" two\"") {
            let task_id = sse::events(&text)[0]["task_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let (status, body) = status_json(
                server
                    .post(
                        &key,
                        &format!("/v1/chat-messages/{task_id}/stop"),
                        json!({"user": "wire-user"}),
                    )
                    .await,
            )
            .await;
            assert_eq!((status, body), (200, json!({"result": "success"})));
            stopped = true;
        }
    }
    assert!(stopped);
    let events = sse::events(&text);
    assert_eq!(sse::names(&events).last().unwrap(), "message_end");
    let partial: String = events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert!(
        partial.starts_with("one two") && !partial.contains("eight"),
        "{partial}"
    );
    let conv = events[0]["conversation_id"].as_str().unwrap();
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?conversation_id={conv}&user=wire-user"),
            )
            .await,
    )
    .await;
    assert_eq!(page["data"][0]["answer"], partial);
    assert_eq!(page["data"][0]["status"], "normal");
    // Unknown tasks and other users' stops are accepted and do nothing.
    let (status, _) = status_json(
        server
            .post(
                &key,
                "/v1/chat-messages/nope/stop",
                json!({"user": "someone"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = status_json(
        server
            .post(&key, "/v1/chat-messages/nope/stop", json!({}))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Arg user must be provided."))
    );
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_stop_the_generation() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "alpha beta gamma delta epsilon zeta eta theta".into(),
        Duration::from_millis(300),
    ));
    let res = server
        .post(
            &key,
            "/v1/chat-messages",
            chat_body("disconnect", "streaming", ""),
        )
        .await;
    let mut stream = res.bytes_stream();
    use futures_util::StreamExt;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if text.contains("\"answer\":\" beta\"") {
            break;
        }
    }
    drop(stream);
    // The generation goes on without the client (SERVICE_API.md §1.8): the upstream is
    // still being read a while after the hang-up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        upstream.in_flight(),
        1,
        "the upstream was dropped with the client"
    );
    let conv = sse::events(&text)[0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = common::eventually(Duration::from_secs(8), || async {
        let (_, page) = status_json(
            server
                .get(
                    &key,
                    &format!("/v1/messages?conversation_id={conv}&user=wire-user"),
                )
                .await,
        )
        .await;
        let answer = page["data"][0]["answer"].as_str().unwrap_or("").to_owned();
        answer.contains("theta").then_some(answer)
    })
    .await
    .expect("the whole answer is saved");
    assert_eq!(saved, "alpha beta gamma delta epsilon zeta eta theta");
}

#[tokio::test]
async fn an_upstream_that_times_out_is_a_completion_request_error_and_is_saved() {
    let upstream = FakeUpstream::start().await;
    let opts = with_upstream(&upstream).also(|c| {
        c.services
            .providers
            .get_mut("openai")
            .unwrap()
            .read_timeout_s = Some(1);
    });
    let server = TestServer::start_with(opts).await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    for (mode, user) in [
        ("blocking", "late-blocking"),
        ("streaming", "late-streaming"),
    ] {
        upstream.push(Script::Hang(Duration::from_secs(3)));
        let body = json!({"inputs": {"budget": "luxury"}, "query": "hello", "response_mode": mode, "user": user});
        let res = server.post(&key, "/v1/chat-messages", body).await;
        if mode == "blocking" {
            let (status, body) = status_json(res).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("completion_request_error")),
                "{body}"
            );
        } else {
            assert_eq!(res.status(), 200);
            let events = sse::events(&res.text().await.unwrap());
            let last = events.last().unwrap();
            assert_eq!(
                (last["event"].as_str(), last["code"].as_str()),
                (Some("error"), Some("completion_request_error"))
            );
        }
        // Whatever the mode, the turn is stored with its error.
        let (_, convs) = status_json(
            server
                .get(&key, &format!("/v1/conversations?user={user}"))
                .await,
        )
        .await;
        let conv = convs["data"][0]["id"]
            .as_str()
            .expect("the conversation is stored")
            .to_owned();
        let (_, page) = status_json(
            server
                .get(
                    &key,
                    &format!("/v1/messages?conversation_id={conv}&user={user}"),
                )
                .await,
        )
        .await;
        assert_eq!(page["data"][0]["status"], "error", "{mode}: {page}");
        assert!(page["data"][0]["error"].is_string());
    }
}
