use super::*;

#[tokio::test]
async fn run_streams_every_mode_and_keeps_the_422_rules() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let t = token(&server, "apps:run").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    let completion = server.import_example("02-completion-inputs.yml").await;
    let agent = server.import_example("03-agent-chat-tool.yml").await;
    let chatflow = server.import_example("04-chatflow-llm-ifelse.yml").await;
    let flow = server.import_example("05-workflow-llm.yml").await;

    let (status, events) = run(&server, &t, &chat, chat_body("hello")).await;
    assert_eq!(status, 200, "{events:?}");
    let names = sse::names(&events);
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_end"),
        "{names:?}"
    );
    let end = events.last().unwrap();
    assert!(end["task_id"].is_string() && end["conversation_id"].is_string());
    let answer: String = events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "echo: hello");
    // The conversation continues; the caller owns it.
    let conversation = end["conversation_id"].as_str().unwrap().to_owned();
    let (status, events) = run(
        &server,
        &t,
        &chat,
        json!({"inputs": {"budget": "luxury"}, "query": "again", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(
        (status, events.last().unwrap()["conversation_id"].as_str()),
        (200, Some(conversation.as_str()))
    );

    let before = upstream.chat_requests().len();
    let form = example_inputs(&server, &completion).await;
    let (status, events) = run(
        &server,
        &t,
        &completion,
        json!({"inputs": form, "auto_generate_name": true, "ignored": 1}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    assert_eq!(
        sse::names(&events).last().map(String::as_str),
        Some("message_end")
    );
    assert!(events.last().unwrap().get("conversation_id").is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        upstream.chat_requests().len(),
        before + 1,
        "completions are never named"
    );

    upstream.push(Script::Reply("plain answer".into()));
    let agent_inputs = example_inputs(&server, &agent).await;
    let (status, events) = run(
        &server,
        &t,
        &agent,
        json!({"inputs": agent_inputs, "query": "what day is it?"}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    assert!(
        sse::names(&events).contains(&"agent_message".to_owned()),
        "{events:?}"
    );
    assert_eq!(
        sse::names(&events).last().map(String::as_str),
        Some("message_end")
    );

    let chatflow_inputs = example_inputs(&server, &chatflow).await;
    let (status, events) = run(
        &server,
        &t,
        &chatflow,
        json!({"inputs": chatflow_inputs, "query": "hello there"}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    let names = sse::names(&events);
    assert_eq!(names.first().map(String::as_str), Some("workflow_started"));
    assert!(
        names.contains(&"message_end".to_owned())
            && names.contains(&"workflow_finished".to_owned())
    );
    assert!(events.iter().all(|e| e["task_id"].is_string()));

    let (status, events) = run(
        &server,
        &t,
        &flow,
        json!({"inputs": {"text": "Some text.", "sentences": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["data"]["status"].as_str()),
        (Some("workflow_finished"), Some("succeeded"))
    );
    assert!(events
        .iter()
        .all(|e| e["workflow_run_id"] == last["workflow_run_id"]));

    // The 422 rules, all `invalid_param`.
    let cases = [
        (&chat, json!({"inputs": {}}), "query_required_for_chat"),
        (&chat, chat_body("   "), "query_required_for_chat"),
        (&agent, json!({"inputs": {}}), "query_required_for_chat"),
        (
            &chatflow,
            json!({"inputs": {}, "query": null}),
            "query_required_for_chat",
        ),
        (
            &flow,
            json!({"inputs": {}, "query": ""}),
            "query_not_supported_for_workflow",
        ),
    ];
    for (app, body, message) in cases {
        let (status, out) = run(&server, &t, app, body.clone()).await;
        assert_eq!(
            (status, out[0].clone()),
            (422, expect(422, "invalid_param", message)),
            "{body}"
        );
    }
    let (status, out) = run(
        &server,
        &t,
        &chat,
        json!({"query": "x", "conversation_id": "nope"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(out[0]["message"], "Request validation failed");
    assert_eq!(
        out[0]["details"],
        json!([{"type": "missing", "loc": ["inputs"], "msg": "Field required"},
            {"type": "value_error", "loc": ["conversation_id"], "msg": "Value error, conversation_id must be a valid UUID"}])
    );
    // A body that is not JSON reads as `{}`.
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}:run")))
        .bearer_auth(&t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["details"][0]["loc"].clone()),
        (422, json!(["inputs"]))
    );
    // Inputs the app refuses are a 400, not a 500.
    let (status, out) = run(&server, &t, &completion, json!({"inputs": {"nope": 1}})).await;
    assert_eq!(
        (status, out[0]["code"].as_str()),
        (400, Some("bad_request")),
        "{out:?}"
    );

    // Stop always succeeds; files upload for the caller.
    let res = post(
        &server,
        &t,
        &format!(
            "/openapi/v1/apps/{chat}/tasks/{}:stop",
            uuid::Uuid::new_v4()
        ),
        json!({}),
    )
    .await;
    assert_eq!(status_json(res).await, (200, json!({"result": "success"})));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec())
            .file_name("a.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}/files")))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, file) = status_json(res).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(
        (file["name"].as_str(), file["size"].as_i64()),
        (Some("a.txt"), Some(5))
    );
    assert!(file.get("reference").is_some_and(Value::is_null));
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}/files")))
        .bearer_auth(&t)
        .multipart(reqwest::multipart::Form::new().text("user", "x"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_file_uploaded"))
    );
}

/// The seed's lesson: every domain error raised inside `:run` keeps its status, code and
/// message, before the stream starts (an error body) or after (an SSE `error` event).
#[tokio::test]
async fn run_error_table() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |c| {
        c.services.limits.app_max_active_requests = 1;
    })
    .await;
    let t = token(&server, "apps:run").await;
    let pool = server.db.store.pool();
    let chat = server.import_example("01-chat-simple.yml").await;
    let flow = server.import_example("05-workflow-llm.yml").await;
    let flow_run = |workflow_id: &str| json!({"inputs": {"text": "Some text.", "sentences": "1"}, "workflow_id": workflow_id});
    let sql = |text: &'static str, a: String, b: String| async move {
        sqlx::query(text)
            .bind(a)
            .bind(b)
            .execute(pool)
            .await
            .unwrap();
    };

    // The conditions: a draft version, an ended conversation, a broken app, an app whose
    // provider weir has no credentials for.
    let missing = uuid::Uuid::new_v4().to_string();
    let draft = uuid::Uuid::new_v4().to_string();
    sql(
        "INSERT INTO workflows (id, app_id, version, graph, features, environment_variables, \
         conversation_variables, created_at) VALUES ($1, $2, 'draft', '{}', '{}', '[]', '[]', 0)",
        draft.clone(),
        flow.clone(),
    )
    .await;
    let (_, events) = run(&server, &t, &chat, chat_body("x")).await;
    let ended = events.last().unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sql(
        "UPDATE conversations SET status = $1 WHERE id = $2",
        "completed".into(),
        ended.clone(),
    )
    .await;
    let broken = server.import_example("01-chat-simple.yml").await;
    let no_config =
        json!({"version": "0.6.0", "kind": "app", "app": {"mode": "chat", "name": "broken"}});
    sql(
        "UPDATE apps SET dsl = $1 WHERE id = $2",
        no_config.to_string(),
        broken.clone(),
    )
    .await;
    let unconfigured = server
        .import(&example("01-chat-simple.yml").replace("provider: openai", "provider: anthropic"))
        .await;
    let with_conversation =
        |id: &str| json!({"inputs": {"budget": "luxury"}, "query": "x", "conversation_id": id});

    let before_stream = [
        (
            &flow,
            flow_run(&missing),
            expect(
                404,
                "not_found",
                &ServiceError::WorkflowNotFound(missing.clone()).to_string(),
            ),
        ),
        (
            &flow,
            flow_run(&draft),
            expect(
                400,
                "bad_request",
                &ServiceError::DraftWorkflow(draft.clone()).to_string(),
            ),
        ),
        (
            &flow,
            flow_run("v1"),
            expect(
                400,
                "bad_request",
                &ServiceError::InvalidWorkflowId("v1".into()).to_string(),
            ),
        ),
        (
            &chat,
            with_conversation(&missing),
            expect(404, "not_found", service_messages::CONVERSATION_NOT_EXISTS),
        ),
        (
            &chat,
            with_conversation(&ended),
            expect(
                400,
                "conversation_completed",
                service_messages::CONVERSATION_COMPLETED,
            ),
        ),
        (
            &broken,
            chat_body("x"),
            expect(400, "app_unavailable", service_messages::APP_UNAVAILABLE),
        ),
        (
            &unconfigured,
            chat_body("x"),
            expect(
                400,
                "provider_not_initialize",
                "Model gpt-4o-mini credentials is not initialized.",
            ),
        ),
    ];
    for (app, body, want) in before_stream {
        let (status, out) = run(&server, &t, app, body.clone()).await;
        assert_eq!(
            (status, &out[0]),
            (want["status"].as_u64().unwrap() as u16, &want),
            "{body}"
        );
    }

    // Upstream failures after the stream started end it with an `error` event.
    let quota = json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}});
    let no_model = json!({"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error", "code": "model_not_found"}});
    let in_stream = [
        (
            Script::StatusBody(429, quota),
            400,
            "provider_quota_exceeded",
            Some(service_messages::PROVIDER_QUOTA_EXCEEDED),
        ),
        (
            Script::StatusBody(404, no_model),
            400,
            "model_currently_not_support",
            None,
        ),
        (Script::Status(429), 429, "rate_limit_error", None),
        (Script::Status(500), 400, "completion_request_error", None),
    ];
    for (script, status, code, message) in in_stream {
        upstream.push(script.clone());
        let (http_status, events) = run(&server, &t, &chat, chat_body("x")).await;
        assert_eq!(http_status, 200, "{script:?}");
        let last = events.last().unwrap();
        assert_eq!(last["event"], "error", "{script:?}: {events:?}");
        assert!(last["message_id"].is_string() && last["conversation_id"].is_string());
        let got = error_of(&events);
        assert_eq!(
            (got["status"].as_u64(), got["code"].as_str()),
            (Some(status), Some(code)),
            "{script:?}"
        );
        let text = got["message"].as_str().unwrap();
        assert!(
            message.is_none_or(|m| m == text) && !text.is_empty(),
            "{script:?}: {text}"
        );
    }

    // App concurrency: a second run while the first streams.
    upstream.push(Script::Slow(
        "one two three four".into(),
        Duration::from_millis(250),
    ));
    let first = post(
        &server,
        &t,
        &format!("/openapi/v1/apps/{chat}:run"),
        chat_body("slow"),
    )
    .await;
    assert_eq!(first.status(), 200);
    let (status, out) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, &out[0]),
        (429, &expect(429, "too_many_requests", "Too Many Requests"))
    );
    assert!(first.text().await.unwrap().contains("message_end"));

    // An unknown failure (the store loses a table mid-flight) is the generic 500, in the
    // stream or as the answer; the server keeps serving and recovers with the table.
    sqlx::query("ALTER TABLE messages RENAME TO messages_gone")
        .execute(pool)
        .await
        .unwrap();
    let (status, out) = run(&server, &t, &chat, chat_body("x")).await;
    let generic = expect(500, "internal_server_error", "Internal Server Error");
    if status == 200 {
        assert_eq!(error_of(&out), generic, "{out:?}");
    } else {
        assert_eq!((status, &out[0]), (500, &generic));
    }
    sqlx::query("ALTER TABLE messages_gone RENAME TO messages")
        .execute(pool)
        .await
        .unwrap();
    let (status, events) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, sse::names(&events).last().map(String::as_str)),
        (200, Some("message_end"))
    );
}

/// A handler panic on the `:run` path is the generic 500, and the server keeps serving.
#[tokio::test]
async fn a_panic_on_the_run_path_is_the_generic_500() {
    let upstream = FakeUpstream::start().await;
    let base = with_upstream(&upstream);
    let server = TestServer::start_with(Options {
        config: base.config,
        server: Box::new(|s| {
            s.map_stack(|stack| {
                stack.layer(
                    "panic_injector",
                    tower::util::MapRequestLayer::new(|req: http::Request<weir::layers::Body>| {
                        if req.headers().contains_key("x-test-panic") {
                            panic!("injected panic");
                        }
                        req
                    }),
                )
            })
        }),
        ..Options::default()
    })
    .await;
    let t = token(&server, "apps:run").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}:run")))
        .bearer_auth(&t)
        .header("x-test-panic", "1")
        .json(&chat_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(res).await,
        (
            500,
            expect(500, "internal_server_error", "Internal Server Error")
        )
    );
    let (status, events) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, sse::names(&events).last().map(String::as_str)),
        (200, Some("message_end"))
    );
}
