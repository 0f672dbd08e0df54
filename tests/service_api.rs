//! The Service API around generation: pagination, feedback, suggestions, conversations,
//! files, app information, keep-alive pings, and no 500 for any bad input.

mod common;

use std::time::Duration;

use common::upstream::Script;
use common::{sse, start_with_upstream, status_json, wire_body, with_upstream, TestServer};
use serde_json::{json, Value};

async fn chat(
    server: &TestServer,
    key: &str,
    user: &str,
    query: &str,
    conversation: &str,
) -> Value {
    let (status, body) = status_json(
        server
            .post(key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": query, "user": user, "conversation_id": conversation}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn app_information_matches_the_wire() {
    let (server, _up) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    for (path, wire) in [
        ("/v1/parameters", "01-chat-simple.parameters"),
        ("/v1/meta", "01-chat-simple.meta"),
        ("/v1/info", "01-chat-simple.info"),
        ("/v1/site", "01-chat-simple.site"),
    ] {
        let (status, body) = status_json(server.get(&key, path).await).await;
        assert_eq!(status, 200);
        assert_eq!(body, wire_body(wire), "{path}");
    }
    let (_, key) = server.app_with_key("02-completion-inputs.yml").await;
    let (_, body) = status_json(server.get(&key, "/v1/parameters").await).await;
    assert_eq!(body, wire_body("02-completion-inputs.parameters"));
    let (_, key) = server.app_with_key("03-agent-chat-tool.yml").await;
    let (_, body) = status_json(server.get(&key, "/v1/meta").await).await;
    assert!(body["tool_icons"]["current_time"].is_object());
}

#[tokio::test]
async fn conversation_and_message_pagination() {
    let (server, _up) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    let mut conversations = Vec::new();
    for i in 0..5 {
        conversations.push(
            chat(&server, &key, "pager", &format!("c{i}"), "").await["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    chat(&server, &key, "someone-else", "hidden", "").await;
    // Newest updated first, stable across pages.
    let mut seen = Vec::new();
    let mut last = String::new();
    loop {
        let path = format!("/v1/conversations?user=pager&limit=2&last_id={last}");
        let (status, page) = status_json(server.get(&key, &path).await).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["limit"], 2);
        let data = page["data"].as_array().unwrap();
        seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if page["has_more"] == false {
            break;
        }
        last = data.last().unwrap()["id"].as_str().unwrap().to_owned();
    }
    let mut expected = conversations.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let (_, asc) = status_json(
        server
            .get(
                &key,
                "/v1/conversations?user=pager&sort_by=created_at&limit=100",
            )
            .await,
    )
    .await;
    let asc: Vec<_> = asc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(asc, conversations);
    // Bad cursors and bounds.
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, body) = status_json(
        server
            .get(
                &key,
                &format!("/v1/conversations?user=pager&last_id={unknown}"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Last Conversation Not Exists."))
    );
    for bad in ["limit=0", "limit=101", "limit=x", "sort_by=name"] {
        let (status, body) = status_json(
            server
                .get(&key, &format!("/v1/conversations?user=pager&{bad}"))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_param")),
            "{bad}"
        );
    }

    // Messages: five turns in one conversation, paged backwards with first_id.
    let conv = chat(&server, &key, "pager", "m0", "").await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 1..5 {
        chat(&server, &key, "pager", &format!("m{i}"), &conv).await;
    }
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?user=pager&conversation_id={conv}&limit=2"),
            )
            .await,
    )
    .await;
    let queries = |p: &Value| {
        p["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["query"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(queries(&page), vec!["m3", "m4"]);
    assert_eq!(page["has_more"], true);
    let first = page["data"][0]["id"].as_str().unwrap();
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?user=pager&conversation_id={conv}&limit=2&first_id={first}"),
            )
            .await,
    )
    .await;
    assert_eq!(queries(&page), vec!["m1", "m2"]);
    let first = page["data"][0]["id"].as_str().unwrap();
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?user=pager&conversation_id={conv}&limit=2&first_id={first}"),
            )
            .await,
    )
    .await;
    assert_eq!(queries(&page), vec!["m0"]);
    assert_eq!(page["has_more"], false);
    let (status, body) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?user=pager&conversation_id={conv}&first_id={unknown}"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("First Message Not Exists."))
    );
    for bad in ["limit=0", "limit=101", "limit=x"] {
        let (status, body) = status_json(
            server
                .get(
                    &key,
                    &format!("/v1/messages?user=pager&conversation_id={conv}&{bad}"),
                )
                .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_param")),
            "messages {bad}"
        );
    }
    let (status, body) = status_json(
        server
            .get(
                &key,
                &format!("/v1/messages?user=someone-else&conversation_id={conv}"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Conversation Not Exists."))
    );
    let (status, page) = status_json(
        server
            .get(&key, "/v1/messages?user=pager&conversation_id=")
            .await,
    )
    .await;
    assert_eq!((status, page["data"].as_array().unwrap().len()), (200, 0));
}

#[tokio::test]
async fn feedback_rename_delete_and_suggestions() {
    let (server, upstream) = start_with_upstream().await;
    let (app_id, key) = server.app_with_key("01-chat-simple.yml").await;
    let turn = chat(
        &server,
        &key,
        "ana",
        "What can I do in Lisbon in two days?",
        "",
    )
    .await;
    let (conv, msg) = (
        turn["conversation_id"].as_str().unwrap(),
        turn["id"].as_str().unwrap(),
    );
    let fb = |rating: Value, user: &str| json!({"rating": rating, "user": user, "content": "nice"});
    let (status, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/messages/{msg}/feedbacks"),
                fb(json!(null), "ana"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("rating cannot be None when feedback not exists"))
    );
    assert_eq!(
        server
            .post(
                &key,
                &format!("/v1/messages/{msg}/feedbacks"),
                fb(json!("like"), "ana")
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .post(
                &key,
                &format!("/v1/messages/{msg}/feedbacks"),
                fb(json!("dislike"), "ana")
            )
            .await
            .status(),
        200
    );
    let (status, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/messages/{msg}/feedbacks"),
                fb(json!("like"), "bob"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Message Not Exists."))
    );
    let (status, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/messages/{msg}/feedbacks"),
                fb(json!("love"), "ana"),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (_, all) = status_json(server.get(&key, "/v1/app/feedbacks?page=1&limit=20").await).await;
    let item = &all["data"][0];
    assert_eq!(
        (
            item["rating"].as_str(),
            item["app_id"].as_str(),
            item["from_source"].as_str()
        ),
        (Some("dislike"), Some(app_id.as_str()), Some("user"))
    );
    assert!(item["created_at"].as_str().unwrap().contains('T'));

    upstream.push(Script::Reply(
        "[\"Where to eat?\", \"Best museums?\", \"Day trips?\"]".into(),
    ));
    let (status, body) = status_json(
        server
            .get(&key, &format!("/v1/messages/{msg}/suggested?user=ana"))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"result": "success", "data": ["Where to eat?", "Best museums?", "Day trips?"]})
    );
    let (status, body) = status_json(
        server
            .get(&key, &format!("/v1/messages/{msg}/suggested"))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Arg user must be provided."))
    );

    let (status, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/conversations/{conv}/name"),
                json!({"name": "", "user": "ana"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("name is required when auto_generate is false"))
    );
    let (status, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/conversations/{conv}/name"),
                json!({"name": "Trip", "user": "ana"}),
            )
            .await,
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Trip")));
    upstream.push(Script::Reply("Lisbon weekend".into()));
    let (_, body) = status_json(
        server
            .post(
                &key,
                &format!("/v1/conversations/{conv}/name"),
                json!({"auto_generate": true, "user": "ana"}),
            )
            .await,
    )
    .await;
    assert_eq!(body["name"], "Lisbon weekend");

    // Another user cannot delete it; the owner can, once.
    let del = |user: &'static str| {
        server
            .client
            .delete(server.url(&format!("/v1/conversations/{conv}")))
            .bearer_auth(&key)
            .json(&json!({"user": user}))
            .send()
    };
    assert_eq!(del("bob").await.unwrap().status(), 404);
    assert_eq!(del("ana").await.unwrap().status(), 204);
    assert_eq!(del("ana").await.unwrap().status(), 404);
    let res = server
        .client
        .delete(server.url(&format!("/v1/conversations/{conv}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
}

#[tokio::test]
async fn auto_generated_names_do_not_delay_the_answer() {
    let (server, upstream) = start_with_upstream().await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Reply("echo: hi".into()));
    upstream.push(Script::Reply("Greeting".into()));
    let turn = chat(&server, &key, "namer", "hi", "").await;
    let conv = turn["conversation_id"].as_str().unwrap().to_owned();
    let named = common::eventually(Duration::from_secs(5), || async {
        let (_, list) = status_json(server.get(&key, "/v1/conversations?user=namer").await).await;
        (list["data"][0]["name"] == "Greeting").then_some(())
    })
    .await;
    assert!(named.is_some(), "the name is generated after the answer");
    assert_eq!(turn["conversation_id"], conv);
}

#[tokio::test]
async fn files_upload_preview_and_vision() {
    let upstream = common::upstream::FakeUpstream::start().await;
    let mut opts = with_upstream(&upstream);
    let base = opts.config;
    opts.config = Box::new(move |c| {
        base(c);
        c.services.limits.upload_image_bytes = 1024;
    });
    let server = TestServer::start_with(opts).await;
    let vision = common::example("01-chat-simple.yml").replace(
        "      enabled: false\n      number_limits: 3",
        "      enabled: true\n      number_limits: 3",
    );
    let app = server.import(&vision).await;
    let key = server.app_key(&app).await;
    let upload =
        |name: &'static str, mime: Option<&'static str>, bytes: Vec<u8>, user: &'static str| {
            let mut part = reqwest::multipart::Part::bytes(bytes).file_name(name);
            if let Some(m) = mime {
                part = part.mime_str(m).unwrap();
            }
            let form = reqwest::multipart::Form::new()
                .part("file", part)
                .text("user", user);
            server
                .client
                .post(server.url("/v1/files/upload"))
                .bearer_auth(&key)
                .multipart(form)
                .send()
        };
    let res = upload("pixel.png", Some("image/png"), vec![137, 80, 78, 71], "ana")
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (_, file) = status_json(res).await;
    for k in [
        "id",
        "name",
        "size",
        "extension",
        "mime_type",
        "created_by",
        "created_at",
        "preview_url",
        "source_url",
        "original_url",
        "user_id",
        "tenant_id",
        "conversation_id",
        "file_key",
    ] {
        assert!(file.get(k).is_some(), "{k}");
    }
    assert_eq!(
        (
            file["extension"].as_str(),
            file["size"].as_u64(),
            file["mime_type"].as_str()
        ),
        (Some("png"), Some(4), Some("image/png"))
    );
    let (status, body) = status_json(
        upload("big.png", Some("image/png"), vec![0; 2048], "ana")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("file_too_large"))
    );
    let (status, body) = status_json(upload("x.png", None, vec![1], "ana").await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_file_type"))
    );
    let (status, body) = status_json(
        upload("a:b.png", Some("image/png"), vec![1], "ana")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let form = reqwest::multipart::Form::new().text("user", "ana");
    let (status, body) = status_json(
        server
            .client
            .post(server.url("/v1/files/upload"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_file_uploaded"))
    );

    // Preview only once a message references it.
    let id = file["id"].as_str().unwrap();
    let (status, body) =
        status_json(server.get(&key, &format!("/v1/files/{id}/preview")).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("file_not_found"))
    );
    let files = json!([{"type": "image", "transfer_method": "local_file", "upload_file_id": id}]);
    let (status, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "what is this", "user": "bob", "files": files})).await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Invalid upload file")),
        "another user's upload"
    );
    let (status, body) = status_json(server.post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "what is this", "user": "ana", "files": files})).await).await;
    assert_eq!(status, 200, "{body}");
    let sent = upstream.chat_requests();
    let with_image = sent
        .iter()
        .find(|r| r["messages"].as_array().unwrap().last().unwrap()["content"].is_array())
        .expect("the image went to the model");
    let content = &with_image["messages"].as_array().unwrap().last().unwrap()["content"];
    assert_eq!(content[0], json!({"type": "text", "text": "what is this"}));
    assert_eq!(content[1]["type"], "image_url");
    assert!(content[1]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let res = server.get(&key, &format!("/v1/files/{id}/preview")).await;
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), vec![137, 80, 78, 71]);
    let res = server
        .get(&key, &format!("/v1/files/{id}/preview?as_attachment=true"))
        .await;
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename*=UTF-8''pixel.png"));
    // The signed URL works without a key.
    let (_, page) = status_json(
        server
            .get(
                &key,
                &format!(
                    "/v1/messages?user=ana&conversation_id={}",
                    body["conversation_id"].as_str().unwrap()
                ),
            )
            .await,
    )
    .await;
    let url = page["data"][0]["message_files"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server
            .client
            .get(server.url(&url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        server
            .client
            .get(server.url(&url.replace("sign=", "sign=0")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn idle_streams_get_pings() {
    let upstream = common::upstream::FakeUpstream::start().await;
    let mut opts = with_upstream(&upstream);
    let base = opts.config;
    opts.config = Box::new(move |c| {
        base(c);
        c.services.limits.ping_interval_s = 1;
    });
    let server = TestServer::start_with(opts).await;
    let (_, key) = server.app_with_key("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "slow answer".into(),
        Duration::from_millis(1300),
    ));
    let text = server
        .post(&key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": "q", "user": "u", "response_mode": "streaming"}))
        .await
        .text()
        .await
        .unwrap();
    let frames = sse::parse(&text);
    assert!(frames.contains(&sse::Frame::Ping), "{text}");
    assert_eq!(
        sse::names(&sse::events(&text)).last().unwrap(),
        "message_end"
    );
}

/// Which app's key a sweep case uses.
#[derive(Clone, Copy, Debug)]
enum K {
    Chat,
    Completion,
    Workflow,
}

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

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
