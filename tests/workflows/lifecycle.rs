use super::*;

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
    let opts = with_upstream(&upstream).also(|c| c.services.code.timeout_s = 2);
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
