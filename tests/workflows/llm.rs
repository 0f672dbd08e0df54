use super::*;

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
