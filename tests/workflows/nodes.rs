use super::*;

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
    let opts = with_upstream(&upstream).also(|c| c.services.network.allow_private = false);
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
