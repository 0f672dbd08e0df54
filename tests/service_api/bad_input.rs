use super::*;

#[tokio::test]
async fn bad_input_gets_the_expected_4xx() {
    use weir_api::error::codes as dify;
    use weir_layers::error::codes as http;
    let (server, _up) = start_with_upstream().await;
    let (_, chat_key) = server.app_with_key("01-chat-simple.yml").await;
    let (_, completion_key) = server.app_with_key("02-completion-inputs.yml").await;
    let (_, workflow_key) = server.app_with_key("05-workflow-llm.yml").await;
    let theirs = chat(&server, &chat_key, "owner", "mine", "").await;
    let conv = theirs["conversation_id"].as_str().unwrap().to_owned();
    let msg = theirs["id"].as_str().unwrap().to_owned();
    let json = "application/json";
    let ok_chat = |extra: &str| {
        format!(
            "{{\"user\": \"u\", \"query\": \"q\", \"inputs\": {{\"budget\": \"luxury\"}}{extra}}}"
        )
    };
    // (key, method, path, content type, body, status, code)
    let cases: Vec<(K, &str, String, &str, String, u16, &str)> = vec![
        // Bodies that are not a JSON object.
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "   ".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "{\"inputs\": {}, \"query\": ".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "[1,2,3]".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "null".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "42".into(), 400, http::BAD_REQUEST),
        (K::Chat, "POST", "/v1/chat-messages".into(), "text/plain", "{}".into(), 415, http::UNSUPPORTED_MEDIA_TYPE),
        (K::Workflow, "POST", "/v1/workflows/run".into(), json, "\"a string\"".into(), 400, http::BAD_REQUEST),
        (K::Completion, "POST", "/v1/completion-messages".into(), "text/plain", "{}".into(), 415, http::UNSUPPORTED_MEDIA_TYPE),
        // Fields of the wrong type or value.
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "{\"user\": 5, \"query\": 7, \"inputs\": []}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "{\"query\": \"q\", \"inputs\": {\"budget\": \"luxury\"}}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "{\"user\": \"u\", \"query\": \"q\", \"inputs\": \"x\"}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, "{\"user\": \"u\", \"query\": \"q\", \"inputs\": {\"budget\": [1]}}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, ok_chat(", \"conversation_id\": 12"), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, ok_chat(", \"response_mode\": \"sideways\""), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, ok_chat(", \"files\": \"x\""), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, ok_chat(", \"auto_generate_name\": \"yes\""), 400, http::INVALID_PARAM),
        // Another user's conversation, and one that does not exist: 404, never 403 or 500.
        (K::Chat, "POST", "/v1/chat-messages".into(), json, format!("{{\"user\": \"intruder\", \"query\": \"q\", \"inputs\": {{\"budget\": \"luxury\"}}, \"conversation_id\": \"{conv}\"}}"), 404, http::NOT_FOUND),
        (K::Chat, "POST", "/v1/chat-messages".into(), json, ok_chat(&format!(", \"conversation_id\": \"{UNKNOWN}\"")), 404, http::NOT_FOUND),
        (K::Chat, "GET", format!("/v1/messages?conversation_id={conv}&user=intruder"), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "GET", format!("/v1/conversations/{conv}/variables?user=intruder"), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "POST", format!("/v1/conversations/{conv}/name"), json, "{\"name\": \"x\", \"user\": \"intruder\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "DELETE", format!("/v1/conversations/{conv}"), json, "{\"user\": \"intruder\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "PUT", format!("/v1/conversations/{conv}/variables/{UNKNOWN}"), json, "{\"value\": \"x\", \"user\": \"intruder\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "POST", format!("/v1/messages/{msg}/feedbacks"), json, "{\"rating\": \"like\", \"user\": \"intruder\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "GET", format!("/v1/messages/{msg}/suggested?user=intruder"), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "POST", format!("/v1/conversations/{UNKNOWN}/name"), json, "{\"name\": \"x\", \"user\": \"u\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "DELETE", format!("/v1/conversations/{UNKNOWN}"), json, "{\"user\": \"u\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "DELETE", "/v1/conversations/not-a-uuid".into(), json, "{\"user\": \"u\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "POST", format!("/v1/messages/{UNKNOWN}/feedbacks"), json, "{\"rating\": \"like\", \"user\": \"u\"}".into(), 404, http::NOT_FOUND),
        (K::Chat, "POST", format!("/v1/messages/{msg}/feedbacks"), json, "{\"rating\": \"great\", \"user\": \"owner\"}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", format!("/v1/conversations/{conv}/name"), json, "{\"name\": {}, \"user\": \"owner\"}".into(), 400, http::INVALID_PARAM),
        // The wrong route for the app's mode.
        (K::Completion, "POST", "/v1/chat-messages".into(), json, ok_chat(""), 400, dify::NOT_CHAT_APP),
        (K::Workflow, "POST", "/v1/chat-messages".into(), json, ok_chat(""), 400, dify::NOT_CHAT_APP),
        (K::Chat, "POST", "/v1/completion-messages".into(), json, ok_chat(""), 400, dify::APP_UNAVAILABLE),
        (K::Chat, "POST", "/v1/workflows/run".into(), json, ok_chat(""), 400, dify::NOT_WORKFLOW_APP),
        // Stop: unknown tasks are fine, a missing user is not.
        (K::Chat, "POST", "/v1/chat-messages/t/stop".into(), json, "{}".into(), 400, http::INVALID_PARAM),
        (K::Chat, "POST", "/v1/chat-messages/t/stop".into(), "text/plain", "{}".into(), 415, http::UNSUPPORTED_MEDIA_TYPE),
        // Workflow versions and runs.
        (K::Workflow, "POST", format!("/v1/workflows/{UNKNOWN}/run"), json, "{\"inputs\": {}, \"user\": \"u\"}".into(), 404, http::NOT_FOUND),
        (K::Workflow, "GET", format!("/v1/workflows/run/{UNKNOWN}"), json, "".into(), 404, http::NOT_FOUND),
        (K::Workflow, "GET", "/v1/workflows/run/nope".into(), json, "".into(), 404, http::NOT_FOUND),
        // Query parameters.
        (K::Chat, "GET", "/v1/messages?user=u".into(), json, "".into(), 400, http::INVALID_PARAM),
        (K::Chat, "GET", format!("/v1/messages?conversation_id={conv}&user=owner&limit=0"), json, "".into(), 400, http::INVALID_PARAM),
        (K::Chat, "GET", format!("/v1/messages?conversation_id={conv}&user=owner&limit=101"), json, "".into(), 400, http::INVALID_PARAM),
        (K::Chat, "GET", format!("/v1/messages?conversation_id={conv}&user=owner&first_id={UNKNOWN}"), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "GET", format!("/v1/conversations?user=u&last_id={UNKNOWN}"), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "GET", "/v1/conversations?user=u&limit=-1".into(), json, "".into(), 400, http::INVALID_PARAM),
        (K::Chat, "GET", "/v1/app/feedbacks?page=0".into(), json, "".into(), 400, http::INVALID_PARAM),
        // Files and end users.
        (K::Chat, "GET", format!("/v1/files/{UNKNOWN}/preview?user=u"), json, "".into(), 404, dify::FILE_NOT_FOUND),
        (K::Chat, "GET", "/v1/files/nope/preview".into(), json, "".into(), 404, http::NOT_FOUND),
        (K::Chat, "GET", format!("/v1/end-users/{UNKNOWN}"), json, "".into(), 404, dify::END_USER_NOT_FOUND),
        (K::Chat, "POST", "/v1/files/upload".into(), json, "{}".into(), 400, dify::NO_FILE_UPLOADED),
    ];
    let mut wrong = Vec::new();
    for (k, method, path, ct, body, status, code) in &cases {
        let key = match k {
            K::Chat => &chat_key,
            K::Completion => &completion_key,
            K::Workflow => &workflow_key,
        };
        let mut req = server
            .client
            .request(method.parse().unwrap(), server.url(path))
            .bearer_auth(key);
        if !body.is_empty() || *method != "GET" {
            req = req.header("content-type", *ct).body(body.clone());
        }
        let res = req.send().await.unwrap();
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if got != *status || v["code"] != *code || v["status"] != *status {
            wrong.push(format!(
                "{k:?} {method} {path} [{ct}] {body} → {got} {text} (expected {status} {code})"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // The owner's conversation is untouched by all of that.
    let (_, page) = status_json(
        server
            .get(
                &chat_key,
                &format!("/v1/messages?conversation_id={conv}&user=owner"),
            )
            .await,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}
