use super::*;

#[tokio::test]
async fn event_replay_reattaches_and_replays() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let t = token(&server, "apps:run").await;
    let flow = server.import_example("05-workflow-llm.yml").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "alpha beta gamma delta epsilon".into(),
        Duration::from_millis(150),
    ));
    let mut first = post(
        &server,
        &t,
        &format!("/openapi/v1/apps/{flow}:run"),
        json!({"inputs": {"text": "x", "sentences": "1"}}),
    )
    .await;
    assert_eq!(first.status(), 200);
    // The first data frame names the run.
    let mut head = String::new();
    let started = loop {
        let chunk = first.chunk().await.unwrap().expect("a first frame");
        head.push_str(std::str::from_utf8(&chunk).unwrap());
        let complete = &head[..head.rfind("\n\n").map_or(0, |i| i + 2)];
        if let Some(e) = sse::events(complete).into_iter().next() {
            break e;
        }
    };
    assert_eq!(started["event"], "workflow_started");
    let run_id = started["workflow_run_id"].as_str().unwrap().to_owned();
    let events_path = format!("/openapi/v1/apps/{flow}/tasks/{run_id}/events");

    // A second connection follows the running run to its end.
    let res = server
        .client
        .get(server.url(&events_path))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let reattached = sse::events(&res.text().await.unwrap());
    let names = sse::names(&reattached);
    assert_eq!(
        names.last().map(String::as_str),
        Some("workflow_finished"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "text_chunk" || n == "node_finished"),
        "{names:?}"
    );
    assert!(reattached
        .iter()
        .all(|e| e["workflow_run_id"] == run_id.as_str()));
    let rest = first.text().await.unwrap();
    let original = sse::events(&format!("{head}{rest}"));
    assert_eq!(
        original.last(),
        reattached.last(),
        "both connections end alike"
    );

    // A finished run replays as exactly its `workflow_finished`.
    let (status, body) = {
        let res = server
            .client
            .get(server.url(&events_path))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    assert_eq!(status, 200);
    let replay = sse::events(&body);
    assert_eq!(sse::names(&replay), ["workflow_finished"]);
    let (a, b) = (&replay[0]["data"], &reattached.last().unwrap()["data"]);
    for key in ["id", "workflow_id", "status", "outputs", "total_steps"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["status"], "succeeded");

    // Someone else's run, an unknown run, a non-workflow app.
    let other = token(&server, "apps:run").await;
    let (status, body) = get(&server, &other, &events_path).await;
    assert_eq!(
        (status, body),
        (404, expect(404, "not_found", "Workflow run not found"))
    );
    let (status, _) = get(
        &server,
        &t,
        &format!(
            "/openapi/v1/apps/{flow}/tasks/{}/events",
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(
        &server,
        &t,
        &format!("/openapi/v1/apps/{chat}/tasks/{run_id}/events"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            422,
            expect(
                422,
                "invalid_param",
                "mode_not_supported_for_event_reconnect"
            )
        )
    );
    let (status, body) = get(
        &server,
        &t,
        &format!("{events_path}?include_state_snapshot=maybe"),
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("bool_parsing"))
    );
}

#[tokio::test]
async fn the_service_api_reattaches_to_a_users_run_and_resumes_after_an_id() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let (_, key) = server.app_with_key("05-workflow-llm.yml").await;
    let (_, chat_key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "one two three four five six".into(),
        Duration::from_millis(100),
    ));
    let res = server
        .post(
            &key,
            "/v1/workflows/run",
            json!({"inputs": {"text": "x", "sentences": "1"}, "response_mode": "streaming", "user": "ana"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let original = sse::events(&res.text().await.unwrap());
    let run_id = original[0]["workflow_run_id"].as_str().unwrap().to_owned();
    let events = format!("/v1/workflow/{run_id}/events");
    // A finished run: its `workflow_finished` alone, as Dify answers.
    let res = server.get(&key, &format!("{events}?user=ana")).await;
    assert_eq!(res.status(), 200);
    let last = sse::events(&res.text().await.unwrap());
    assert_eq!(sse::names(&last), ["workflow_finished"]);
    assert_eq!(last[0]["data"]["status"], "succeeded");
    // A client that read two events gets the rest of the log, numbered.
    let res = server
        .client
        .get(server.url(&format!("{events}?user=ana")))
        .bearer_auth(&key)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert_eq!(sse::events(&text), original[2..].to_vec());
    assert_eq!(sse::ids(&text)[0], 3);
    // Another user's run, no user, an unknown run, a chat app.
    let (status, body) = status_json(server.get(&key, &format!("{events}?user=bob")).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = status_json(server.get(&key, &events).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param")),
        "{body}"
    );
    let unknown = format!("/v1/workflow/{}/events?user=ana", uuid::Uuid::new_v4());
    assert_eq!(server.get(&key, &unknown).await.status(), 404);
    let (status, body) =
        status_json(server.get(&chat_key, &format!("{events}?user=ana")).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_workflow_app")),
        "{body}"
    );
}
