use super::*;

#[tokio::test]
async fn chatflow_branches_stream_and_keep_memory() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("04-chatflow-llm-ifelse.yml").await;
    let res = server
        .post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "I want a refund for a broken kettle.", "response_mode": "streaming", "user": "wire-user"}))
        .await;
    let raw = res.text().await.unwrap();
    assert_eq!(sse::parse(&raw)[0], sse::Frame::Ping);
    let events = sse::events(&raw);
    let names = sse::names(&events);
    assert_eq!(names.first().unwrap(), "workflow_started");
    assert_eq!(
        &names[names.len() - 2..],
        ["message_end", "workflow_finished"]
    );
    let ran: Vec<&str> = node_events(&events, "node_started")
        .iter()
        .map(|e| e["data"]["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, vec!["start", "route", "llm_refund", "answer_refund"]);
    let answer: String = node_events(&events, "message")
        .iter()
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    let expected = "echo: I want a refund for a broken kettle.\n\n_Need more help? Reply \"agent\" at any time._";
    assert_eq!(answer, expected);
    let first_msg = events.iter().position(|e| e["event"] == "message").unwrap();
    let llm_done = events
        .iter()
        .position(|e| e["event"] == "node_finished" && e["data"]["node_id"] == "llm_refund")
        .unwrap();
    assert!(first_msg < llm_done, "answer text streams during the LLM");
    assert_eq!(
        node_events(&events, "message")[0]["from_variable_selector"],
        json!(["llm_refund", "text"])
    );
    let route = node_events(&events, "node_finished")[1];
    assert_eq!(
        route["data"]["outputs"],
        json!({"result": true, "selected_case_id": "true"})
    );
    let wf_event = &events[0];
    for k in [
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "workflow_run_id",
    ] {
        assert!(wf_event.get(k).is_some(), "{k}");
    }
    assert_eq!(wf_event["data"]["inputs"]["sys.dialogue_count"], 1);
    let conv = wf_event["conversation_id"].as_str().unwrap().to_owned();

    // Turn two: no refund, dialogue count 2 → ELSE branch, with memory of turn one.
    let (status, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "Where is my parcel?", "conversation_id": conv, "user": "wire-user"})).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "advanced-chat");
    assert_eq!(body["answer"], "echo: Where is my parcel?");
    assert_usage(&body["metadata"]["usage"]);
    let sent = upstream.chat_requests();
    let general = sent
        .iter()
        .find(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .starts_with("You are a helpful shop assistant")
        })
        .unwrap();
    let roles: Vec<&str> = general["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        vec!["system", "user", "assistant", "user"],
        "memory carries turn one"
    );

    // Messages of the conversation.
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?conversation_id={conv}&user=wire-user"),
            )
            .await,
    )
    .await;
    assert_eq!(page["data"][0]["answer"], expected);
    assert_eq!(page["data"][1]["query"], "Where is my parcel?");
    // Turns up to 8: the escalation case once the count reaches 8.
    for _ in 3..8 {
        server.post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "hello", "conversation_id": conv, "user": "wire-user"})).await;
    }
    let (_, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "still there?", "conversation_id": conv, "user": "wire-user"})).await).await;
    assert_eq!(body["answer"], "We've exchanged 8 messages, so I'm bringing in a human colleague. They will see your last message: \"still there?\"");
}

#[tokio::test]
async fn chatflow_conversation_variables_persist() {
    let (server, _up) = start_with_upstream().await;
    let (_, key) = server
        .app_with_key("09-chatflow-conversation-vars.yml")
        .await;
    let res = server
        .post(&key, "/v1/chat-messages", json!({"inputs": {}, "query": "my name is Ana", "response_mode": "streaming", "user": "u9"}))
        .await;
    let events = sse::events(&res.text().await.unwrap());
    let conv = events[0]["conversation_id"].as_str().unwrap().to_owned();
    let ran: Vec<&str> = node_events(&events, "node_started")
        .iter()
        .map(|e| e["data"]["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran.iter().filter(|n| **n == "count_turn").count(),
        1,
        "the join runs once: {ran:?}"
    );
    assert!(ran.contains(&"extract_name"));
    let answer: String = node_events(&events, "message")
        .iter()
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert!(answer.ends_with("<sub>turn 1</sub>"), "{answer}");
    let (_, vars) = status_json(
        server
            .get(&key, &format!("/v1/conversations/{conv}/variables?user=u9"))
            .await,
    )
    .await;
    let by_name = |n: &str| {
        vars["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(by_name("user_name"), "Ana");
    assert_eq!(by_name("turn_count"), "1");
    assert_eq!(by_name("asked"), "[\"my name is Ana\"]");
    let (status, body) = status_json(
        server
            .post(
                &key,
                "/v1/chat-messages",
                json!({"inputs": {}, "query": "hi", "conversation_id": conv, "user": "u9"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["answer"]
        .as_str()
        .unwrap()
        .ends_with("<sub>turn 2</sub>"));
    let (_, vars) = status_json(
        server
            .get(&key, &format!("/v1/conversations/{conv}/variables?user=u9"))
            .await,
    )
    .await;
    let by_name = |n: &str| {
        vars["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        (by_name("user_name"), by_name("turn_count")),
        (json!("Ana"), json!("2"))
    );
    // Update through the API, with type checks.
    let id = vars["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "turn_count")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = status_json(
        server
            .client
            .put(server.url(&format!("/v1/conversations/{conv}/variables/{id}")))
            .bearer_auth(&key)
            .json(&json!({"value": "x", "user": "u9"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("Type mismatch: variable 'turn_count' expects number, but got string type")
        )
    );
    let (status, body) = status_json(
        server
            .client
            .put(server.url(&format!("/v1/conversations/{conv}/variables/{id}")))
            .bearer_auth(&key)
            .json(&json!({"value": 41, "user": "u9"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["value"].as_str()), (200, Some("41")));
}
