use super::*;

#[tokio::test]
async fn typed_errors_pass_through_the_full_stack_unchanged() {
    let server = server_with_test_routes().await;
    for (name, err) in typed_errors() {
        let res = server
            .client
            .get(server.url(&format!("/v1/test/typed/{name}")))
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("x-request-id"));
        let (status, body) = status_json(res).await;
        assert_eq!(status, err.status_code().as_u16(), "{name}");
        assert_eq!(body["code"], err.code(), "{name}");
        assert_eq!(body["message"], err.message(), "{name}");
        assert_eq!(body["status"], status, "{name}");
    }
    // Domain errors go through the one table.
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/v1/test/domain"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("not_chat_app")));
}

#[tokio::test]
async fn retry_after_and_www_authenticate_survive() {
    let server = server_with_test_routes().await;
    let res = server
        .client
        .get(server.url("/v1/test/typed/429"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "3");
    let res = server
        .client
        .get(server.url("/v1/test/typed/401"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
}

#[tokio::test]
async fn unknown_errors_and_panics_are_generic_500s_and_the_connection_survives() {
    let server = server_with_test_routes().await;
    let addr = server.addr;
    let responses = tokio::task::spawn_blocking(move || {
        raw_requests(
            addr,
            &[
                "/v1/test/unknown",
                "/v1/test/panic",
                "/health",
                "/openapi/v1/test/unknown",
            ],
        )
    })
    .await
    .unwrap();
    let v1_500 = json!({"code": "internal_server_error", "message": weir_layers::surface::SERVICE_API_INTERNAL_MESSAGE, "status": 500});
    for text in &responses[..2] {
        assert!(text.starts_with("HTTP/1.1 500"), "{text}");
        let body: serde_json::Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body, v1_500);
        assert!(!text.contains("hunter2") && !text.contains("secret panic"));
    }
    assert!(responses[2].starts_with("HTTP/1.1 200"), "{}", responses[2]);
    let body: serde_json::Value =
        serde_json::from_str(responses[3].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"code": "internal_server_error", "message": "Internal Server Error", "status": 500})
    );
}

#[tokio::test]
async fn routing_misses_are_json() {
    let server = TestServer::start().await;
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/v1/no-such-path"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some(codes::NOT_FOUND))
    );
    let (status, body) = status_json(
        server
            .client
            .post(server.url("/v1/info"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some(codes::METHOD_NOT_ALLOWED))
    );
    // A miss answers 404 before auth would answer 401.
    let (status, _) = status_json(
        server
            .client
            .get(server.url("/openapi/v1/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_stream_that_fails_midway_ends_with_an_error_event() {
    let server = server_with_test_routes().await;
    let res = server
        .client
        .get(server.url("/v1/test/stream-fails"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let events = sse::events(&text);
    assert_eq!(sse::names(&events), vec!["message", "error"]);
    assert_eq!(
        events[1],
        json!({"event": "error", "message_id": "m-1", "code": "completion_request_error", "message": "upstream cut the connection", "status": 400})
    );
    let text = server
        .client
        .get(server.url("/v1/test/stream-panics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse::events(&text);
    assert_eq!(events.last().unwrap()["code"], "internal_server_error");
    assert!(!text.contains("producer bug"));
}
