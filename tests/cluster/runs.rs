use super::*;

/// Starts a slow streaming run of the workflow fixture on `node`; returns the stream and
/// the run id (its first event names it).
async fn start_run(
    c: &Cluster,
    node: usize,
    token: &str,
    flow: &str,
    words: usize,
) -> (Events, Value, String) {
    c.upstream
        .push(slow_answer(words, Duration::from_millis(100)));
    let res = post(
        c,
        node,
        token,
        &format!("/openapi/v1/apps/{flow}:run"),
        json!({"inputs": {"text": "x", "sentences": "1"}}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut events = Events::new(res);
    let first = events.next().await.expect("workflow_started");
    assert_eq!(first["event"], "workflow_started");
    let run_id = first["workflow_run_id"].as_str().unwrap().to_owned();
    (events, first, run_id)
}

/// Re-attaches to a run on `node`, after position `after`.
async fn reattach(
    c: &Cluster,
    node: usize,
    token: &str,
    flow: &str,
    run_id: &str,
    after: u64,
) -> reqwest::Response {
    let res = c
        .client
        .get(c.url(
            node,
            &format!("/openapi/v1/apps/{flow}/tasks/{run_id}/events"),
        ))
        .bearer_auth(token)
        .header("last-event-id", after.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res
}

#[tokio::test]
async fn a_run_is_replayed_and_followed_from_another_instance() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let flow = c.import("05-workflow-llm.yml");
    let token = c.cli(&["token", "create", "--scopes", "full", "--name", "runs"]);
    let (mut original, first, run_id) = start_run(&c, 0, &token, &flow, 15).await;
    // From the start, on the other instance: the same events, numbered, to the end.
    let mut elsewhere = Events::new(reattach(&c, 1, &token, &flow, &run_id, 0).await);
    let replayed = elsewhere.rest().await;
    let mut seen = vec![first];
    seen.extend(original.rest().await);
    assert_eq!(
        replayed, seen,
        "the replay is the original stream, event for event"
    );
    let ids = common::sse::ids(&elsewhere.text);
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    // A client that read three events resumes after them.
    let resumed = Events::new(reattach(&c, 1, &token, &flow, &run_id, 3).await)
        .rest()
        .await;
    assert_eq!(resumed, seen[3..].to_vec(), "nothing lost, nothing twice");
}

#[tokio::test]
async fn a_killed_instance_fails_its_runs_and_releases_their_readers() {
    let Some(mut c) = Cluster::start(2, &[]).await else {
        return;
    };
    let flow = c.import("05-workflow-llm.yml");
    let token = c.cli(&["token", "create", "--scopes", "full", "--name", "runs"]);
    // A long run on instance 0, followed from instance 1.
    let (mut original, _, run_id) = start_run(&c, 0, &token, &flow, 600).await;
    original.next().await.expect("the run is under way");
    let mut follower = Events::new(reattach(&c, 1, &token, &flow, &run_id, 0).await);
    follower.next().await.expect("the replay starts");
    c.kill9(0);
    // The client of the dead instance sees its stream end.
    let cut = tokio::time::timeout(Duration::from_secs(5), original.rest()).await;
    assert!(cut.is_ok(), "the dead instance's stream ended");
    // The follower gets the run's end once its lease has run out: failed, with why.
    let rest = tokio::time::timeout(Duration::from_secs(60), follower.rest())
        .await
        .expect("the follower was released");
    let last = rest.last().expect("a last event");
    assert_eq!(last["event"], "workflow_finished", "{rest:?}");
    assert_eq!(last["data"]["status"], "failed");
    assert!(
        last["data"]["error"].as_str().unwrap().contains("instance"),
        "{last}"
    );
    // The store says the same, and the run answers the same on a new connection.
    let run = c.db.store.run(&flow, &run_id).await.unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.finished_at.is_some()),
        ("failed", true)
    );
    let again = Events::new(reattach(&c, 1, &token, &flow, &run_id, 0).await)
        .rest()
        .await;
    assert_eq!(again.last().unwrap()["data"]["status"], "failed");
}
