use super::*;

#[tokio::test]
async fn a_stop_sent_to_one_instance_stops_the_task_running_on_another() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let app = c.import("01-chat-simple.yml");
    let key = c.cli(&["key", "create", &app]);
    c.upstream.push(slow_answer(40, Duration::from_millis(100)));
    let started = std::time::Instant::now();
    let res = post(&c, 0, &key, "/v1/chat-messages", chat_body("hi", "ana")).await;
    assert_eq!(res.status(), 200);
    let mut events = Events::new(res);
    let first = events.next().await.expect("a first event");
    let task_id = first["task_id"].as_str().unwrap().to_owned();
    // Someone else may not stop it; its owner may, from the other instance.
    let res = post(
        &c,
        1,
        &key,
        &format!("/v1/chat-messages/{task_id}/stop"),
        json!({"user": "bob"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = post(
        &c,
        1,
        &key,
        &format!("/v1/chat-messages/{task_id}/stop"),
        json!({"user": "ana"}),
    )
    .await;
    assert_eq!(
        common::status_json(res).await,
        (200, json!({"result": "success"}))
    );
    let rest = events.rest().await;
    let names = common::sse::names(&rest);
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_end"),
        "{names:?}"
    );
    let answer: String = rest
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap_or(""))
        .collect();
    assert!(!answer.contains("w40"), "stopped before the end: {answer}");
    assert!(answer.contains("w3"), "bob's stop did not count: {answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the 4 s answer was cut short"
    );
}

#[tokio::test]
async fn app_slots_and_rate_limits_count_across_instances() {
    let extra = [
        ("WEIR_LIMITS__APP_MAX_ACTIVE_REQUESTS", "1"),
        ("WEIR_LIMITS__RATE_LIMIT_PER_KEY", "\"4/m\""),
    ];
    let Some(c) = Cluster::start(2, &extra).await else {
        return;
    };
    let app = c.import("01-chat-simple.yml");
    let slot_key = c.cli(&["key", "create", &app]);
    // One slot for the app: a stream holding it on one instance refuses a run on the other.
    c.upstream.push(slow_answer(20, Duration::from_millis(100)));
    let res = post(
        &c,
        0,
        &slot_key,
        "/v1/chat-messages",
        chat_body("hold", "ana"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut holding = Events::new(res);
    holding.next().await.expect("streaming");
    let res = post(
        &c,
        1,
        &slot_key,
        "/v1/chat-messages",
        chat_body("again", "bob"),
    )
    .await;
    let (status, body) = common::status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_requests")),
        "{body}"
    );
    holding.rest().await;
    // The slot comes back when the stream ends, wherever the next run lands.
    let freed = common::eventually(Duration::from_secs(5), || async {
        let res = post(
            &c,
            1,
            &slot_key,
            "/v1/chat-messages",
            chat_body("now", "bob"),
        )
        .await;
        (res.status() == 200).then_some(())
    })
    .await;
    assert!(freed.is_some(), "the slot was given back");

    // Four requests a minute per key, wherever they land.
    let other = c.import("01-chat-simple.yml");
    let rate_key = c.cli(&["key", "create", &other]);
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(get(&c, i % 2, &rate_key, "/v1/info").await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn revocations_and_pending_imports_reach_every_instance() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let token = c.cli(&["token", "create", "--scopes", "full", "--name", "cluster"]);
    assert_eq!(get(&c, 0, &token, "/openapi/v1/account").await.0, 200);
    // Instance 1 caches the token...
    assert_eq!(get(&c, 1, &token, "/openapi/v1/account").await.0, 200);
    // ...and still refuses it within a second of its revocation on instance 0.
    let res = c
        .client
        .delete(c.url(0, "/openapi/v1/account/sessions/self"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refused = common::eventually(Duration::from_secs(1), || async {
        (get(&c, 1, &token, "/openapi/v1/account").await.0 == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "instance 1 still took the revoked token");

    // An import parked on one instance is confirmed on the other.
    let writer = c.cli(&["token", "create", "--scopes", "full", "--name", "writer"]);
    let ws = c.db.store.default_workspace_id().await.unwrap();
    let dsl = common::example("01-chat-simple.yml").replacen("version: 0.1.3", "version: 0.9.0", 1);
    let res = post(
        &c,
        0,
        &writer,
        &format!("/openapi/v1/workspaces/{ws}/apps/imports"),
        json!({"mode": "yaml-content", "yaml_content": dsl, "name": "Parked"}),
    )
    .await;
    let (status, pending) = common::status_json(res).await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (202, Some("pending")),
        "{pending}"
    );
    let confirm = format!(
        "/openapi/v1/workspaces/{ws}/apps/imports/{}:confirm",
        pending["id"].as_str().unwrap()
    );
    let (status, done) = common::status_json(post(&c, 1, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("completed")),
        "{done}"
    );
    let (status, again) =
        common::status_json(post(&c, 0, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (400, Some("failed")),
        "confirmed once: {again}"
    );
}
