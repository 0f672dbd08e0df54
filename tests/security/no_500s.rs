use super::*;

#[tokio::test]
async fn racing_creates_give_one_winner_on_sqlite() {
    racing_creates(&TestServer::start().await).await;
}

#[tokio::test]
async fn racing_creates_give_one_winner_on_postgres() {
    if !common::postgres_configured("racing_creates_give_one_winner_on_postgres") {
        return;
    }
    let server = TestServer::start_with(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    racing_creates(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_write_queue_is_503_with_retry_after_and_loses_nothing() {
    let server = TestServer::start_with(Options {
        store: Some(weir_api::store::StoreOptions {
            write_queue: 1,
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let key = server.dataset_key().await;
    // Warm the key cache, so that requests below write nothing but their dataset.
    assert_eq!(server.call(&key, "GET", "/v1/datasets", None).await.0, 200);
    // Another connection holds the database's write lock.
    let locker = weir_api::store::Store::connect(&server.db.url)
        .await
        .unwrap();
    let mut conn = locker.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut pending = Vec::new();
    let mut refused = None;
    for i in 0..6 {
        let (client, url, key) = (
            server.client.clone(),
            server.url("/v1/datasets"),
            key.clone(),
        );
        let req = tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"name": format!("queued-{i}")}))
                .send()
                .await
                .unwrap();
            let retry = res.headers().get("retry-after").cloned();
            let (status, body) = status_json(res).await;
            (status, body, retry)
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        if req.is_finished() {
            let (status, body, retry) = req.await.unwrap();
            assert_eq!(
                (status, body["code"].as_str()),
                (503, Some("service_unavailable"))
            );
            assert_eq!(retry.unwrap(), "1");
            refused.get_or_insert(i);
        } else {
            pending.push(req);
        }
    }
    assert!(
        refused.is_some(),
        "no request was refused while the queue was full"
    );
    sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
    drop(conn);
    let mut created = 0;
    for req in pending {
        let (status, body, _) = req.await.unwrap();
        assert_eq!(status, 200, "{body}");
        created += 1;
    }
    let (_, list) = server
        .call(&key, "GET", "/v1/datasets?limit=100", None)
        .await;
    assert_eq!(list["total"], created, "every accepted create was stored");
}

#[tokio::test]
async fn an_abandoned_request_body_is_a_400_and_no_error_log() {
    let logs = LogCapture::start();
    let server = TestServer::start().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat-messages HTTP/1.1\r\nhost: weir\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"query\": \"hel"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.shutdown().await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
    assert!(logs.errors().is_empty(), "{:?}", logs.errors());
}
