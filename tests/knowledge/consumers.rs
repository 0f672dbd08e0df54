use super::*;

#[tokio::test]
async fn chat_apps_and_workflows_retrieve_from_datasets() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream).await;
    let key = server.dataset_key().await;
    let ds = create_dataset(&server, &key, "Handbook", "high_quality").await;
    let text = "Vacation: employees get 25 days of paid leave.\n\nExpenses: receipts are due within 30 days.";
    let (_, batch) = add_text(
        &server,
        &key,
        &ds,
        "handbook",
        text,
        custom_rule("\\n\\n", 200),
    )
    .await;
    wait_batch(&server, &key, &ds, &batch).await;

    // A chat app whose model_config names the dataset.
    let dsl = format!(
        "version: '0.6.0'\napp: {{mode: chat, name: HR}}\nmodel_config:\n  model: {{provider: openai, name: gpt-4o-mini, mode: chat}}\n  \
         pre_prompt: Answer from the handbook.\n  retriever_resource: {{enabled: true}}\n  dataset_configs:\n    retrieval_model: multiple\n    \
         top_k: 1\n    datasets:\n      datasets:\n      - dataset: {{enabled: true, id: {ds}}}\n"
    );
    let app = server.import(&dsl).await;
    let app_key = server.app_key(&app).await;
    let res = server
        .post(
            &app_key,
            "/v1/chat-messages",
            json!({"inputs": {}, "query": "how many vacation days?",
        "user": "u", "response_mode": "streaming"}),
        )
        .await;
    let events = sse::events(&res.text().await.unwrap());
    let end = events
        .iter()
        .find(|e| e["event"] == "message_end")
        .expect("message_end");
    let resources = end["metadata"]["retriever_resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{end}");
    let r = &resources[0];
    assert_eq!(
        (
            r["position"].as_i64(),
            r["dataset_id"].as_str(),
            r["retriever_from"].as_str()
        ),
        (Some(1), Some(ds.as_str()), Some("api"))
    );
    assert!(r["content"].as_str().unwrap().starts_with("Vacation"));
    for k in [
        "dataset_name",
        "document_id",
        "document_name",
        "data_source_type",
        "segment_id",
        "score",
    ] {
        assert!(r.get(k).is_some(), "{k}");
    }
    let sent = upstream.chat_requests();
    let system = sent
        .iter()
        .map(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .find(|s| s.contains("Answer from the handbook"))
        .expect("the turn's request");
    assert!(
        system.contains("<context>") && system.contains("25 days of paid leave"),
        "{system}"
    );
    // Message history keeps the citations.
    let (_, history) = status_json(
        server
            .get(
                &app_key,
                &format!(
                    "/v1/messages?user=u&conversation_id={}",
                    end["conversation_id"].as_str().unwrap()
                ),
            )
            .await,
    )
    .await;
    assert_eq!(
        history["data"][0]["retriever_resources"][0]["segment_id"],
        r["segment_id"]
    );

    // The workflow example's knowledge-retrieval node, pointed at this dataset.
    let wf = example("10-workflow-knowledge-retrieval.yml")
        .replace("6f1c0d5e-8a2b-4c3d-9e0f-1a2b3c4d5e6f", &ds)
        .replace(
            "7a2d1e6f-9b3c-4d4e-8f1a-2b3c4d5e6f70",
            &uuid::Uuid::new_v4().to_string(),
        );
    let wf_app = server.import(&wf).await;
    let wf_key = server.app_key(&wf_app).await;
    let res = server
        .post(
            &wf_key,
            "/v1/workflows/run",
            json!({"inputs": {"question": "receipts expenses"},
        "user": "u", "response_mode": "streaming"}),
        )
        .await;
    let events = sse::events(&res.text().await.unwrap());
    let kb = events
        .iter()
        .find(|e| e["event"] == "node_finished" && e["data"]["node_id"] == "kb")
        .expect("kb node");
    let result = kb["data"]["outputs"]["result"].as_array().unwrap();
    assert!(!result.is_empty(), "{kb}");
    assert!(
        result[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Expenses"),
        "{result:?}"
    );
    assert_eq!(result[0]["metadata"]["_source"], "knowledge");
    assert_eq!(result[0]["metadata"]["dataset_id"], ds.as_str());
    assert_eq!(result[0]["title"], "handbook");
    let finished = events.last().unwrap();
    assert_eq!(finished["data"]["status"], "succeeded", "{finished}");
}
