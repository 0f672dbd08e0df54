//! Chat, completion and agent apps over the Service API against a fake OpenAI upstream.

mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{sse, start_with_upstream, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};

fn chat_body(query: &str, mode: &str, conversation_id: &str) -> Value {
    json!({"inputs": {"budget": "luxury", "home_city": "Lisbon"}, "query": query, "response_mode": mode,
        "conversation_id": conversation_id, "user": "wire-user"})
}

fn assert_usage(usage: &Value) {
    for key in [
        "prompt_tokens",
        "prompt_unit_price",
        "prompt_price_unit",
        "prompt_price",
        "completion_tokens",
        "completion_unit_price",
        "completion_price_unit",
        "completion_price",
        "total_tokens",
        "total_price",
        "currency",
        "latency",
    ] {
        assert!(usage.get(key).is_some(), "usage.{key} missing: {usage}");
    }
}

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
    let base = with_upstream(&upstream);
    let server = TestServer::start_with(Options {
        config: Box::new(move |c| {
            (base.config)(c);
            c.services
                .providers
                .get_mut("openai")
                .unwrap()
                .read_timeout_s = Some(1);
        }),
        ..Options::default()
    })
    .await;
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
