//! Workflow and chatflow apps on the engine, against the fake upstream: every example runs
//! blocking and streaming with the expected outputs and events; parallel branches really run
//! at once; iteration parallelism is bounded; http-request is guarded; stop works mid-run.

mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{example, sse, start_with_upstream, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};

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

#[tokio::test]
async fn workflow_llm_blocking_and_streaming() {
    let (server, upstream) = start_with_upstream().await;
    let (app_id, key) = server.app_with_key("05-workflow-llm.yml").await;
    let text = "The city council approved a new bike lane on Main Street.";
    let (status, body) = status_json(
        run(
            &server,
            &key,
            json!({"text": text, "sentences": "1"}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["status"], "succeeded");
    assert_eq!(
        data["outputs"],
        json!({"summary": format!("echo: Summarise the following text in 1 sentence(s):\n\n{text}")})
    );
    assert_eq!(body["workflow_run_id"], data["id"]);
    assert_eq!(data["total_steps"], 3);
    for k in [
        "id",
        "workflow_id",
        "status",
        "outputs",
        "error",
        "elapsed_time",
        "total_tokens",
        "total_steps",
        "created_at",
        "finished_at",
    ] {
        assert!(data.get(k).is_some(), "{k}");
    }
    assert!(data["total_tokens"].as_u64().unwrap() > 0);
    let sent = &upstream.chat_requests()[0];
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(sent["messages"][1]["content"]
        .as_str()
        .unwrap()
        .starts_with("Summarise the following text in 1 sentence(s):"));

    let res = run(
        &server,
        &key,
        json!({"text": text, "sentences": "1"}),
        "streaming",
    )
    .await;
    let raw = res.text().await.unwrap();
    assert_eq!(
        sse::parse(&raw)[0],
        sse::Frame::Ping,
        "workflow streams open with a ping"
    );
    let events = sse::events(&raw);
    let names: Vec<String> = sse::names(&events)
        .into_iter()
        .filter(|n| n != "text_chunk")
        .collect();
    assert_eq!(
        names,
        [
            "workflow_started",
            "node_started",
            "node_finished",
            "node_started",
            "node_finished",
            "node_started",
            "node_finished",
            "workflow_finished"
        ]
    );
    let chunks: String = node_events(&events, "text_chunk")
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        chunks,
        format!("echo: Summarise the following text in 1 sentence(s):\n\n{text}")
    );
    assert_eq!(
        node_events(&events, "text_chunk")[0]["data"]["from_variable_selector"],
        json!(["1718000000002", "text"])
    );
    // Text streams while the LLM runs: before its node_finished.
    let llm_done = events
        .iter()
        .position(|e| e["event"] == "node_finished" && e["data"]["node_type"] == "llm")
        .unwrap();
    let first_chunk = events
        .iter()
        .position(|e| e["event"] == "text_chunk")
        .unwrap();
    assert!(first_chunk < llm_done);
    let started = &events[0];
    assert_eq!(started["data"]["inputs"]["sys.user_id"], "wire-user");
    assert_eq!(started["data"]["inputs"]["sys.app_id"], app_id);
    assert_eq!(started["data"]["reason"], "initial");
    let indexes: Vec<u64> = node_events(&events, "node_started")
        .iter()
        .map(|e| e["data"]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    let llm = node_events(&events, "node_finished")[1];
    for k in [
        "model_mode",
        "prompts",
        "usage",
        "finish_reason",
        "model_provider",
        "model_name",
    ] {
        assert!(llm["data"]["process_data"].get(k).is_some(), "{k}");
    }
    assert_eq!(
        llm["data"]["execution_metadata"]["total_tokens"],
        llm["data"]["outputs"]["usage"]["total_tokens"]
    );
    assert!(node_events(&events, "node_finished")[0]["data"]["execution_metadata"].is_null());
    for e in &events {
        let must = matches!(
            e["event"].as_str(),
            Some("node_finished" | "workflow_finished")
        );
        let elapsed = &e["data"]["elapsed_time"];
        assert!(
            if must {
                elapsed.is_number()
            } else {
                elapsed.is_null() || elapsed.is_number()
            },
            "{e}"
        );
    }
    let done = events.last().unwrap();
    assert_eq!(done["data"]["status"], "succeeded");
    assert_eq!(done["data"]["created_by"]["user"], "wire-user");

    // Run detail and logs.
    let run_id = done["workflow_run_id"].as_str().unwrap();
    let (status, detail) = status_json(
        server
            .get(&key, &format!("/v1/workflows/run/{run_id}"))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "succeeded");
    assert!(
        detail["inputs"]
            .as_str()
            .unwrap()
            .contains("sys.workflow_run_id"),
        "inputs is raw JSON text"
    );
    assert_eq!(
        detail["outputs"]["summary"],
        done["data"]["outputs"]["summary"]
    );
    let (status, body) = status_json(
        server
            .get(
                &key,
                "/v1/workflows/run/00000000-0000-4000-8000-000000000000",
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Workflow run not found."))
    );
    let (status, _) = status_json(server.get(&key, "/v1/workflows/run/not-a-uuid").await).await;
    assert_eq!(status, 404);
    let (_, logs) = status_json(server.get(&key, "/v1/workflows/logs?limit=1").await).await;
    assert_eq!(
        (logs["total"].as_u64(), logs["has_more"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(logs["data"][0]["workflow_run"]["status"], "succeeded");
    assert_eq!(
        logs["data"][0]["created_by_end_user"]["session_id"],
        "wire-user"
    );

    // Input validation and mode checks.
    let (status, body) =
        status_json(run(&server, &key, json!({"sentences": "1"}), "blocking").await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("text is required in input form"))
    );
    let (status, body) = status_json(
        run(
            &server,
            &key,
            json!({"text": "x", "sentences": "2"}),
            "streaming",
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, body) = status_json(
        server
            .post(
                &key,
                "/v1/chat-messages",
                json!({"inputs": {}, "query": "hi", "user": "u"}),
            )
            .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_chat_app")));
}

#[tokio::test]
async fn workflow_upstream_failure_fails_the_run() {
    let (server, _up) = start_with_upstream().await;
    let (_, key) = server.app_with_key("05-workflow-llm.yml").await;
    let res = run(
        &server,
        &key,
        json!({"text": "Summarise this [[upstream:500]]", "sentences": "1"}),
        "streaming",
    )
    .await;
    let events = sse::events(&res.text().await.unwrap());
    assert!(
        node_events(&events, "error").is_empty(),
        "a failing graph sends no error event"
    );
    let llm = node_events(&events, "node_finished")[1];
    assert_eq!(llm["data"]["status"], "failed");
    assert!(llm["data"]["error"]
        .as_str()
        .unwrap()
        .contains("Error code: 500"));
    let done = events.last().unwrap();
    assert_eq!(
        (done["event"].as_str(), done["data"]["status"].as_str()),
        (Some("workflow_finished"), Some("failed"))
    );
    assert_eq!(done["data"]["outputs"], json!({}));
    let (status, body) = status_json(
        run(
            &server,
            &key,
            json!({"text": "again [[upstream:500]]", "sentences": "1"}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(
        status, 200,
        "graph failures are a failed run, not an HTTP error"
    );
    assert_eq!(body["data"]["status"], "failed");
}

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

#[tokio::test]
async fn classifier_routes_and_aggregator_merges() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server
        .app_with_key("08-workflow-classifier-aggregator.yml")
        .await;
    upstream.push(Script::Reply(
        "{\"category_id\": \"2\", \"category_name\": \"Technical problem, bug or error message\"}"
            .into(),
    ));
    let (status, body) = status_json(
        run(
            &server,
            &key,
            json!({"ticket": "The app shows an error on login", "customer": "Ana"}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "succeeded");
    assert_eq!(
        body["data"]["outputs"]["category"],
        "Technical problem, bug or error message"
    );
    assert_eq!(body["data"]["outputs"]["reply"], "Hi Ana, thanks for reporting this. Could you paste the full error message and the time it happened?");
    upstream.push(Script::Reply("{\"category_id\": \"3\"}".into()));
    let res = run(&server, &key, json!({"ticket": "Love it"}), "streaming").await;
    let events = sse::events(&res.text().await.unwrap());
    let ran: Vec<&str> = node_events(&events, "node_started")
        .iter()
        .map(|e| e["data"]["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, vec!["start", "classify", "thanks", "merge", "end"]);
    assert_eq!(
        events.last().unwrap()["data"]["outputs"]["reply"],
        "Hi there, thank you for your message! We read every piece of feedback."
    );
}

#[tokio::test]
async fn iteration_parallel_rounds_are_bounded_and_ordered() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("07-workflow-iteration.yml").await;
    for _ in 0..5 {
        upstream.push(Script::Slow("a tip".into(), Duration::from_millis(150)));
    }
    let res = run(
        &server,
        &key,
        json!({"topics": "a\nb\nc\nd\ne"}),
        "streaming",
    )
    .await;
    let events = sse::events(&res.text().await.unwrap());
    let names = sse::names(&events);
    assert_eq!(
        names.iter().filter(|n| *n == "iteration_started").count(),
        1
    );
    assert_eq!(names.iter().filter(|n| *n == "iteration_next").count(), 5);
    assert_eq!(
        names.iter().filter(|n| *n == "iteration_completed").count(),
        1
    );
    assert_eq!(
        upstream.max_in_flight(),
        3,
        "parallel_nums bounds the rounds in flight"
    );
    let inner: Vec<&Value> = node_events(&events, "node_started")
        .into_iter()
        .filter(|e| e["data"]["node_id"] == "write_tip")
        .collect();
    assert_eq!(inner.len(), 5);
    assert!(inner
        .iter()
        .all(|e| e["data"]["iteration_id"] == "each_topic"));
    let done = events.last().unwrap();
    assert_eq!(
        done["data"]["outputs"]["tips"],
        json!(["a tip", "a tip", "a tip", "a tip", "a tip"])
    );
    assert!(done["data"]["outputs"]["report"]
        .as_str()
        .unwrap()
        .starts_with("1. a: a tip\n2. b: a tip"));
    // Input order is kept whatever order the rounds finish in.
    let (_, body) =
        status_json(run(&server, &key, json!({"topics": "x\ny\nz"}), "blocking").await).await;
    let tips = body["data"]["outputs"]["tips"].as_array().unwrap();
    assert_eq!(tips.len(), 3);
    assert!(tips[0].as_str().unwrap().contains("Tip #0 is about: x"));
    assert!(tips[2].as_str().unwrap().contains("Tip #2 is about: z"));
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

#[tokio::test]
async fn parallel_branches_run_concurrently_and_join() {
    let (server, upstream) = start_with_upstream().await;
    let app = server.import(PARALLEL).await;
    let key = server.app_key(&app).await;
    // The upstream answers neither call until both have arrived.
    upstream.gate(2);
    let started = std::time::Instant::now();
    let (status, body) =
        status_json(run(&server, &key, json!({"q": "go"}), "blocking").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        upstream.max_in_flight(),
        2,
        "both branches were in flight together"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the gate opened because both calls arrived"
    );
    assert_eq!(
        body["data"]["outputs"],
        json!({"l": "echo: left go", "r": "echo: right go"})
    );
    assert_eq!(body["data"]["total_steps"], 4, "the join ran once");
}

#[tokio::test]
async fn http_request_retries_then_fails_over_to_its_branch() {
    let (server, _up) = start_with_upstream().await;
    let (_, key) = server
        .app_with_key("06-workflow-code-template-http.yml")
        .await;
    let res = run(
        &server,
        &key,
        json!({"city": "Lisbon", "days": 2}),
        "streaming",
    )
    .await;
    let events = sse::events(&res.text().await.unwrap());
    assert_eq!(node_events(&events, "node_retry").len(), 2);
    let http = node_events(&events, "node_finished")
        .into_iter()
        .find(|e| e["data"]["node_id"] == "post_plan")
        .unwrap();
    assert_eq!(http["data"]["status"], "exception");
    let done = events.last().unwrap();
    assert_eq!(done["data"]["status"], "partial-succeeded");
    assert_eq!(done["data"]["exceptions_count"], 1);
    let outputs = &done["data"]["outputs"];
    assert!(outputs["error"].is_string());
    assert_eq!(
        outputs["note"],
        "Trip to Lisbon (2 days)\n- Day 1: to be planned\n- Day 2: to be planned\n"
    );
    let ran: Vec<&str> = node_events(&events, "node_started")
        .iter()
        .map(|e| e["data"]["node_id"].as_str().unwrap())
        .collect();
    assert!(ran.contains(&"end_failed") && !ran.contains(&"end_ok"));
}

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

#[tokio::test]
async fn http_request_reaches_loopback_only_when_allowed() {
    let (addr, seen) = fixture(200).await;
    let dsl = example("06-workflow-code-template-http.yml")
        .replace(
            "https://planner.example.com/api",
            &format!("http://{addr}/api"),
        )
        .replace("value: \"\"", "value: \"s3cret\"");
    // Allowed (the upstream options allow private networks).
    let (server, _up) = start_with_upstream().await;
    let key = server.app_key(&server.import(&dsl).await).await;
    let (_, body) = status_json(
        run(
            &server,
            &key,
            json!({"city": "New York", "days": 1}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["status"], "succeeded", "{body}");
    assert_eq!(body["data"]["outputs"]["status_code"], 200);
    assert_eq!(body["data"]["outputs"]["response"], "{\"ok\":true}");
    let req = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        req.starts_with("POST /api/plans/new-york?source=weir&dry_run=false"),
        "{req}"
    );
    assert!(req.to_lowercase().contains("authorization: bearer s3cret"));
    assert!(req.contains("{\"city\":\"New York\",\"days\":1}"));
    // Refused by default.
    let upstream = FakeUpstream::start().await;
    let mut opts = with_upstream(&upstream);
    let base = opts.config;
    opts.config = Box::new(move |c| {
        base(c);
        c.services.network.allow_private = false;
    });
    let guarded = TestServer::start_with(opts).await;
    let key = guarded.app_key(&guarded.import(&dsl).await).await;
    let before = seen.lock().unwrap().len();
    let (_, body) = status_json(
        run(
            &guarded,
            &key,
            json!({"city": "Oslo", "days": 1}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["status"], "partial-succeeded");
    assert!(
        body["data"]["outputs"]["error"]
            .as_str()
            .unwrap()
            .contains("blocked"),
        "{body}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "nothing reached the loopback fixture"
    );
}

#[tokio::test]
async fn http_4xx_fails_a_node_with_retries() {
    let (addr, seen) = fixture(404).await;
    let dsl = example("06-workflow-code-template-http.yml")
        .replace(
            "https://planner.example.com/api",
            &format!("http://{addr}/api"),
        )
        .replace("value: \"\"", "value: \"tok\"");
    let (server, _up) = start_with_upstream().await;
    let key = server.app_key(&server.import(&dsl).await).await;
    let (_, body) = status_json(
        run(
            &server,
            &key,
            json!({"city": "Rome", "days": 1}),
            "blocking",
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["status"], "partial-succeeded");
    assert!(
        body["data"]["outputs"]["error"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{body}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "first attempt and two retries"
    );
}

#[tokio::test]
async fn stop_mid_run_ends_the_stream_as_stopped() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("05-workflow-llm.yml").await;
    upstream.push(Script::Slow(
        "one two three four five six seven eight nine ten".into(),
        Duration::from_millis(150),
    ));
    let res = run(
        &server,
        &key,
        json!({"text": "slow", "sentences": "1"}),
        "streaming",
    )
    .await;
    use futures_util::StreamExt;
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let mut stopped = false;
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if !stopped && text.contains("text_chunk") {
            let task = sse::events(&text)[0]["task_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let (status, _) = status_json(
                server
                    .post(
                        &key,
                        &format!("/v1/workflows/tasks/{task}/stop"),
                        json!({"user": "someone-else"}),
                    )
                    .await,
            )
            .await;
            assert_eq!(status, 200);
            stopped = true;
        }
    }
    let events = sse::events(&text);
    let done = events.last().unwrap();
    assert_eq!(
        (done["event"].as_str(), done["data"]["status"].as_str()),
        (Some("workflow_finished"), Some("stopped"))
    );
    let run_id = done["workflow_run_id"].as_str().unwrap();
    let (_, detail) = status_json(
        server
            .get(&key, &format!("/v1/workflows/run/{run_id}"))
            .await,
    )
    .await;
    assert_eq!(detail["status"], "stopped");
    let (_, logs) = status_json(server.get(&key, "/v1/workflows/logs?status=stopped").await).await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["data"][0]["workflow_run"]["id"], run_id);
}

#[tokio::test]
async fn code_nodes_fail_cleanly_and_the_server_is_unharmed() {
    let upstream = FakeUpstream::start().await;
    let mut opts = with_upstream(&upstream);
    let base = opts.config;
    opts.config = Box::new(move |c| {
        base(c);
        c.services.code.timeout_s = 2;
    });
    let server = TestServer::start_with(opts).await;
    for (code, lang, reason) in [
        ("def main():\n    while True:\n        pass\n", "python3", "timed out"),
        ("def main():\n    x = 'a' * (4 * 1024 * 1024 * 1024)\n    return {'out': x}\n", "python3", "out of memory"),
        ("import urllib.request\ndef main():\n    return {'out': urllib.request.urlopen('http://127.0.0.1:9').read().decode()}\n", "python3", "not permitted"),
        ("function main() { while (true) {} }", "javascript", "timed out"),
    ] {
        let dsl = format!(
            "version: '0.6.0'\napp: {{mode: workflow, name: c}}\nworkflow:\n  graph:\n    nodes:\n    - {{id: s, data: {{type: start, title: S}}}}\n    - {{id: c, data: {{type: code, title: C, code_language: {lang}, code: {code:?}, variables: [], outputs: {{out: {{type: string}}}}}}}}\n    - {{id: e, data: {{type: end, title: E, outputs: [{{variable: out, value_selector: [c, out]}}]}}}}\n    edges:\n    - {{source: s, target: c}}\n    - {{source: c, target: e}}\n"
        );
        let key = server.app_key(&server.import(&dsl).await).await;
        let (status, body) = status_json(run(&server, &key, json!({}), "blocking").await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["status"], "failed", "{lang} {code}");
        assert!(body["data"]["error"].as_str().unwrap().contains(reason), "{reason}: {body}");
    }
    assert_eq!(
        server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn unsupported_nodes_are_refused_at_import_with_the_list() {
    let server = TestServer::start_with(Options::default()).await;
    let ws = server.db.store.default_workspace_id().await.unwrap();
    let tools = weir_api::tools::ToolRegistry::new(&server.config.services);
    let dsl = "version: '0.6.0'\napp: {mode: workflow, name: x}\nworkflow:\n  graph:\n    nodes:\n    - {id: s, data: {type: start}}\n    - {id: h, data: {type: human-input}}\n    - {id: a, data: {type: agent}}\n";
    let err = weir_api::apps::import(&server.db.store, &tools, &server.secrets(), &ws, dsl, None)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unsupported by weir: node type human-input, node type agent"
    );
    // Knowledge retrieval imports (its datasets may be created later).
    weir_api::apps::import(
        &server.db.store,
        &tools,
        &server.secrets(),
        &ws,
        &example("10-workflow-knowledge-retrieval.yml"),
        None,
    )
    .await
    .expect("knowledge-retrieval imports");
}

#[tokio::test]
async fn the_quick_start_app_runs_without_a_provider() {
    let server = TestServer::start().await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/apps/quickstart-workflow.yml"
    ))
    .unwrap();
    let key = server.app_key(&server.import(&text).await).await;
    let (status, body) =
        status_json(run(&server, &key, json!({"name": "ada"}), "blocking").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["outputs"],
        json!({"greeting": "Hello Ada! Short and sweet: 4 words.", "longest_word": "weir"})
    );
    let res = run(
        &server,
        &key,
        json!({"name": "ada", "sentence": "one two three four five six"}),
        "streaming",
    )
    .await;
    let events = sse::events(&res.text().await.unwrap());
    assert_eq!(
        events.last().unwrap()["data"]["outputs"]["greeting"],
        "Hello Ada! That is a long sentence (6 words)."
    );
    let chunks: String = node_events(&events, "text_chunk")
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        chunks,
        "Hello Ada! That is a long sentence (6 words).\nthree"
    );
}
