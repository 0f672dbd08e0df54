use super::*;

#[tokio::test]
async fn chat_app_blocking_has_every_field_and_memory() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let res = server
        .post(
            &key,
            "/v1/chat-messages",
            chat_body("What can I do in Lisbon in two days?", "blocking", ""),
        )
        .await;
    assert_eq!(
        res.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let (status, body) = status_json(res).await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "event",
        "task_id",
        "id",
        "message_id",
        "conversation_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    ] {
        assert!(body.get(key).is_some(), "{key} missing: {body}");
    }
    assert_eq!(body["event"], "message");
    assert_eq!(body["mode"], "chat");
    assert_eq!(body["id"], body["message_id"]);
    assert_eq!(body["answer"], "echo: What can I do in Lisbon in two days?");
    assert_eq!(body["metadata"]["annotation_reply"], Value::Null);
    assert_eq!(body["metadata"]["retriever_resources"], json!([]));
    assert_usage(&body["metadata"]["usage"]);

    // The upstream saw the system prompt with inputs substituted.
    let sent = upstream.chat_requests();
    let first = &sent[0];
    assert_eq!(first["model"], "gpt-4o-mini");
    assert_eq!(first["temperature"], 0.6);
    assert_eq!(first["messages"][0]["role"], "system");
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("budget level is luxury and their home city is Lisbon"),
        "{system}"
    );
    assert_eq!(
        first["messages"][1],
        json!({"role": "user", "content": "What can I do in Lisbon in two days?"})
    );

    // Turn two carries turn one as history.
    let conversation_id = body["conversation_id"].as_str().unwrap().to_owned();
    let (status, turn2) = status_json(
        server
            .post(
                &key,
                "/v1/chat-messages",
                chat_body(
                    "And which month is best for Japan?",
                    "blocking",
                    &conversation_id,
                ),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{turn2}");
    assert_eq!(turn2["conversation_id"], conversation_id);
    let second = upstream
        .chat_requests()
        .into_iter()
        .find(|r| r["messages"].as_array().unwrap().len() == 4)
        .expect("turn two with history");
    let roles: Vec<_> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, vec!["system", "user", "assistant", "user"]);
    assert_eq!(
        second["messages"][1]["content"],
        "What can I do in Lisbon in two days?"
    );
    assert_eq!(
        second["messages"][2]["content"],
        "echo: What can I do in Lisbon in two days?"
    );
    assert_eq!(
        second["messages"][3]["content"],
        "And which month is best for Japan?"
    );

    // History through the API.
    let (status, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?conversation_id={conversation_id}&user=wire-user&limit=20"),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["has_more"], false);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["query"], "What can I do in Lisbon in two days?");
    for key in [
        "id",
        "conversation_id",
        "parent_message_id",
        "inputs",
        "query",
        "answer",
        "feedback",
        "retriever_resources",
        "created_at",
        "agent_thoughts",
        "message_files",
        "status",
        "error",
        "extra_contents",
    ] {
        assert!(data[0].get(key).is_some(), "{key} missing");
    }
    assert_eq!(
        data[0]["parent_message_id"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(
        data[0]["inputs"],
        json!({"budget": "luxury", "home_city": "Lisbon"})
    );
    assert_eq!(data[1]["status"], "normal");

    // Conversation list.
    let (_, convs) = status_json(
        server
            .get(&key, "/v1/conversations?user=wire-user&limit=20")
            .await,
    )
    .await;
    let c = &convs["data"][0];
    assert_eq!(c["id"], conversation_id);
    assert_eq!(
        c["introduction"],
        "Hi! Planning a trip from Lisbon? Tell me where you want to go."
    );
    assert_eq!(c["status"], "normal");
}

#[tokio::test]
async fn chat_app_streams_like_dify() {
    let (server, _upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let res = server
        .post(
            &key,
            "/v1/chat-messages",
            chat_body("Suggest a weekend in Porto.", "streaming", ""),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let events = sse::events(&text);
    let names = sse::names(&events);
    assert!(names.len() >= 2);
    assert!(
        names[..names.len() - 1].iter().all(|n| n == "message"),
        "{names:?}"
    );
    assert_eq!(names.last().unwrap(), "message_end");
    let answer: String = events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "echo: Suggest a weekend in Porto.");
    let first = &events[0];
    for key in [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "answer",
        "from_variable_selector",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    for e in &events {
        assert_eq!(e["message_id"], first["message_id"]);
        assert_eq!(e["created_at"], first["created_at"]);
        assert_eq!(e["task_id"], first["task_id"]);
    }
    let end = events.last().unwrap();
    assert_usage(&end["metadata"]["usage"]);
    assert_eq!(end["files"], Value::Null);
}

#[tokio::test]
async fn completion_app_blocking_and_streaming() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("02-completion-inputs.yml").await;
    let inputs = json!({"product": "Aurora Lamp", "facts": "Solar powered. 12 hour battery. Weatherproof.", "tone": "playful", "language": "English", "max_words": 40});
    let (status, body) = status_json(
        server
            .post(
                &key,
                "/v1/completion-messages",
                json!({"inputs": inputs, "response_mode": "blocking", "user": "wire-user"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "completion");
    assert!(body.get("conversation_id").is_none());
    assert_eq!(body["answer"], "echo: Product name: Aurora Lamp\nKey facts:\nSolar powered. 12 hour battery. Weatherproof.");
    let sent = &upstream.chat_requests()[0];
    assert_eq!(
        sent["messages"][0]["content"],
        "You are a copywriter. Write in a playful tone and in English.\nNever exceed 40 words."
    );
    assert_eq!(sent["max_tokens"], 400);

    let text = server
        .post(
            &key,
            "/v1/completion-messages",
            json!({"inputs": inputs, "response_mode": "streaming", "user": "wire-user"}),
        )
        .await
        .text()
        .await
        .unwrap();
    let events = sse::events(&text);
    assert_eq!(sse::names(&events).last().unwrap(), "message_end");
    assert!(events.iter().all(|e| e.get("conversation_id").is_none()));
    // Chat-only endpoints refuse a completion app.
    let (status, body) =
        status_json(server.get(&key, "/v1/conversations?user=wire-user").await).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_chat_app")));
}

#[tokio::test]
async fn agent_app_calls_the_tool_and_streams_thoughts_in_order() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("03-agent-chat-tool.yml").await;
    upstream.push(Script::ToolCall("current_time".into(), "{}".into()));
    upstream.push(Script::Reply("It is now time to meet.".into()));
    let text = server
        .post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "What time is it?", "response_mode": "streaming", "user": "u1"}))
        .await
        .text()
        .await
        .unwrap();
    let events = sse::events(&text);
    let names = sse::names(&events);
    // Round 1: thought opens, thought with the tool call, thought with the observation.
    // Round 2: thought opens, the answer, the final thought; then message_end.
    let expected_prefix = [
        "agent_thought",
        "agent_thought",
        "agent_thought",
        "agent_thought",
    ];
    assert_eq!(&names[..4], &expected_prefix[..], "{names:?}");
    assert!(names.contains(&"agent_message".to_owned()));
    assert_eq!(names.last().unwrap(), "message_end");
    let call = &events[1];
    assert_eq!(call["tool"], "current_time");
    assert_eq!(call["position"], 1);
    let input: Value = serde_json::from_str(call["tool_input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"current_time": {}}));
    let observed = &events[2];
    let obs: Value = serde_json::from_str(observed["observation"].as_str().unwrap()).unwrap();
    let now = obs["current_time"].as_str().unwrap();
    assert_eq!(
        now.len(),
        "2026-11-25 04:00:00".len(),
        "fixed format from the DSL: {now}"
    );
    let answer: String = events
        .iter()
        .filter(|e| e["event"] == "agent_message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "It is now time to meet.");
    // The model saw the tool, then the tool result.
    let sent = upstream.chat_requests();
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "current_time");
    let msgs = sent[1]["messages"].as_array().unwrap();
    assert_eq!(
        msgs[msgs.len() - 2]["tool_calls"][0]["function"]["name"],
        "current_time"
    );
    assert_eq!(msgs.last().unwrap()["role"], "tool");
    // History shows the thoughts.
    let conv = events[0]["conversation_id"].as_str().unwrap();
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?conversation_id={conv}&user=u1"),
            )
            .await,
    )
    .await;
    let thoughts = page["data"][0]["agent_thoughts"].as_array().unwrap();
    assert_eq!(thoughts.len(), 2);
    assert_eq!(thoughts[0]["tool"], "current_time");
}

#[tokio::test]
async fn agent_app_answers_blocking_and_remembers_the_first_turn() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("03-agent-chat-tool.yml").await;
    upstream.push(Script::ToolCall("current_time".into(), "{}".into()));
    upstream.push(Script::Reply("It is time.".into()));
    let (status, first) = status_json(
        server
            .post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "What time is it?", "response_mode": "blocking", "user": "u2"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    for k in [
        "event",
        "task_id",
        "id",
        "message_id",
        "conversation_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    ] {
        assert!(first.get(k).is_some(), "{k}");
    }
    assert_eq!(
        (first["mode"].as_str(), first["answer"].as_str()),
        (Some("agent-chat"), Some("It is time."))
    );
    assert_usage(&first["metadata"]["usage"]);
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    // Turn two carries turn one (question and answer) to the model.
    upstream.push(Script::Reply("Still time.".into()));
    let (status, second) = status_json(
        server
            .post(
                &key,
                "/v1/chat-messages",
                json!({"inputs": {}, "query": "And now?", "response_mode": "blocking",
                "user": "u2", "conversation_id": conv}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, second["answer"].as_str()),
        (200, Some("Still time.")),
        "{second}"
    );
    let sent = upstream.chat_requests();
    let last = sent
        .iter()
        .rev()
        .find(|r| r.to_string().contains("And now?"))
        .expect("turn two");
    let msgs = last["messages"].as_array().unwrap();
    let texts: Vec<String> = msgs.iter().map(|m| m["content"].to_string()).collect();
    assert!(
        texts.iter().any(|t| t.contains("What time is it?")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("It is time.")), "{texts:?}");
    // The blocking turn's thoughts are in the history.
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?conversation_id={conv}&user=u2"),
            )
            .await,
    )
    .await;
    assert_eq!(page["data"][0]["agent_thoughts"][0]["tool"], "current_time");
}
