//! The published web app (`/api`): passports, the page's boot calls, generation in the
//! simple format, the visitor's own history, and what happens when the site changes.

use super::*;
use common::upstream::Script;

/// A web-app visitor: the site code and the passport.
struct Visitor<'a> {
    server: &'a TestServer,
    code: String,
    passport: String,
}

impl<'a> Visitor<'a> {
    async fn arrive(server: &'a TestServer, code: &str, user_id: Option<&str>) -> Visitor<'a> {
        let path = match user_id {
            Some(u) => format!("/api/passport?user_id={u}"),
            None => "/api/passport".to_owned(),
        };
        let res = server
            .client
            .get(server.url(&path))
            .header("x-app-code", code)
            .send()
            .await
            .unwrap();
        let (status, body) = common::status_json(res).await;
        assert_eq!(status, 200, "{body}");
        Visitor {
            server,
            code: code.to_owned(),
            passport: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value, String) {
        let mut req = self
            .server
            .client
            .request(method.parse().unwrap(), self.server.url(path))
            .header("x-app-code", &self.code)
            .header("x-app-passport", &self.passport);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = self.send("GET", path, None).await;
        (s, b)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value, String) {
        self.send("POST", path, Some(body)).await
    }
}

/// The admin's browser and an imported app's site code.
async fn published<'a>(server: &'a TestServer, example: &str) -> (Browser<'a>, String, String) {
    let mut b = admin(server).await;
    let app = server.import_example(example).await;
    let (_, detail) = b.get(&format!("/apps/{app}")).await;
    let code = detail["site"]["code"].as_str().unwrap().to_owned();
    (b, app, code)
}

#[tokio::test]
async fn a_passport_opens_the_site_and_nothing_else() {
    let (server, _up) = common::start_with_upstream().await;
    let (_b, _app, code) = published(&server, "01-chat-simple.yml").await;
    let anon = |path: &str| server.client.get(server.url(path));
    let (status, body) = common::status_json(anon("/api/passport").send().await.unwrap()).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("X-App-Code header is missing."))
    );
    let res = anon("/api/passport")
        .header("x-app-code", "nosuchcode")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let (status, body) = common::status_json(
        anon("/api/webapp/access-mode?appCode=x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (200, json!({"accessMode": "public"})));
    let (_, features) =
        common::status_json(anon("/api/system-features").send().await.unwrap()).await;
    assert_eq!(features["webapp_auth"]["enabled"], false);

    let v = Visitor::arrive(&server, &code, None).await;
    let (status, status_body) = v.get(&format!("/api/login/status?app_code={code}")).await;
    assert_eq!(
        (status, status_body),
        (200, json!({"logged_in": true, "app_logged_in": true}))
    );
    let (_, other) = v
        .get(&format!(
            "/api/login/status?app_code={code}&user_id=someone"
        ))
        .await;
    assert_eq!(
        other["app_logged_in"], false,
        "another user_id needs its own passport"
    );
    let (status, _) = v.get("/api/login/status?app_code=nosuchcode").await;
    assert_eq!(status, 400);
    let (status, site) = v.get("/api/site").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            site["site"]["title"].as_str(),
            site["enable_site"].as_bool()
        ),
        (Some("Travel Buddy"), Some(true))
    );
    assert!(site["end_user_id"].is_string() && site["app_id"].is_string());
    let (_, params) = v.get("/api/parameters").await;
    assert_eq!(params["user_input_form"][0]["select"]["variable"], "budget");
    let (status, meta) = v.get("/api/meta").await;
    assert_eq!((status, meta), (200, json!({"tool_icons": {}})));

    let (status, body) = common::status_json(anon("/api/site").send().await.unwrap()).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("App token is missing."))
    );
    let res = anon("/api/site")
        .header("x-app-passport", "garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A console session is not a passport, nor the other way round.
    let res = server
        .client
        .get(server.url("/console/api/account/profile"))
        .bearer_auth(&v.passport)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn visitors_chat_in_the_simple_format_and_keep_their_own_history() {
    let (server, upstream) = common::start_with_upstream().await;
    let (mut admin_browser, app, code) = published(&server, "01-chat-simple.yml").await;
    let v = Visitor::arrive(&server, &code, None).await;
    upstream.push(Script::Reply("Lisbon is lovely".into()));
    let (status, _, text) = v
        .post("/api/chat-messages", json!({"query": "Where to go?", "inputs": {"budget": "luxury"}, "conversation_id": "", "response_mode": "streaming"}))
        .await;
    assert_eq!(status, 200);
    let events = common::sse::events(&text);
    let end = events.iter().find(|e| e["event"] == "message_end").unwrap();
    assert!(
        end["metadata"].get("usage").is_none(),
        "the simple format: {end}"
    );
    let conversation = end["conversation_id"].as_str().unwrap().to_owned();
    let (_, list) = v.get("/api/conversations?limit=100&pinned=false").await;
    assert_eq!(list["data"][0]["id"], conversation);
    assert_eq!(
        list["data"][0]["name"], "Where to go?",
        "not named during generation"
    );
    let (_, pinned) = v.get("/api/conversations?limit=100&pinned=true").await;
    assert_eq!(pinned["data"], json!([]));
    let (status, _, _) = v
        .send(
            "PATCH",
            &format!("/api/conversations/{conversation}/pin"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, pinned) = v.get("/api/conversations?limit=100&pinned=true").await;
    assert_eq!(pinned["data"][0]["id"], conversation);
    let (_, unpinned) = v.get("/api/conversations?limit=100&pinned=false").await;
    assert_eq!(unpinned["data"], json!([]));
    v.send(
        "PATCH",
        &format!("/api/conversations/{conversation}/unpin"),
        None,
    )
    .await;
    upstream.push(Script::Reply("Trip to Lisbon".into()));
    let (status, renamed, _) = v
        .post(
            &format!("/api/conversations/{conversation}/name"),
            json!({"auto_generate": true}),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Trip to Lisbon"))
    );
    let (_, messages) = v
        .get(&format!(
            "/api/messages?conversation_id={conversation}&limit=20&last_id="
        ))
        .await;
    let m = &messages["data"][0];
    assert_eq!(m["answer"], "Lisbon is lovely");
    assert!(m["metadata"].get("usage").is_none());
    let mid = m["id"].as_str().unwrap().to_owned();
    let (status, _, _) = v
        .post(
            &format!("/api/messages/{mid}/feedbacks"),
            json!({"rating": "like"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, messages) = v
        .get(&format!("/api/messages?conversation_id={conversation}"))
        .await;
    assert_eq!(messages["data"][0]["feedback"], json!({"rating": "like"}));
    upstream.push(Script::Reply("[\"a?\", \"b?\", \"c?\"]".into()));
    let (status, suggested) = v
        .get(&format!("/api/messages/{mid}/suggested-questions"))
        .await;
    assert_eq!(
        (status, suggested["data"].as_array().map(Vec::len)),
        (200, Some(3))
    );

    // Another visitor sees none of it.
    let stranger = Visitor::arrive(&server, &code, None).await;
    let (status, body) = stranger
        .get(&format!("/api/messages?conversation_id={conversation}"))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Conversation Not Exists."))
    );
    let (_, list) = stranger.get("/api/conversations").await;
    assert_eq!(list["data"], json!([]));
    let (status, _, _) = stranger
        .post(
            &format!("/api/messages/{mid}/feedbacks"),
            json!({"rating": "like"}),
        )
        .await;
    assert_eq!(status, 404);
    // The same page with the same user_id is the same visitor.
    let again = Visitor::arrive(&server, &code, Some("ann")).await;
    let twice = Visitor::arrive(&server, &code, Some("ann")).await;
    let (_, a) = again.get("/api/site").await;
    let (_, b) = twice.get("/api/site").await;
    assert_eq!(a["end_user_id"], b["end_user_id"]);

    // The console's logs show the visitor's conversation, with its feedback.
    let (_, logs) = admin_browser
        .get(&format!("/apps/{app}/chat-conversations"))
        .await;
    assert_eq!(logs["total"], 1);
    assert_eq!(
        (
            logs["data"][0]["from_source"].as_str(),
            logs["data"][0]["user_feedback_stats"]["like"].as_i64()
        ),
        (Some("api"), Some(1))
    );

    let (status, _, _) = v
        .send(
            "DELETE",
            &format!("/api/conversations/{conversation}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = v.get("/api/conversations").await;
    assert_eq!(list["data"], json!([]));
    // Completion-only routes refuse a chat app with the web app's code.
    let (status, body) = v.get("/api/saved-messages").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_completion_app"))
    );
    let (status, body, _) = v
        .post("/api/completion-messages", json!({"inputs": {}}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_completion_app"))
    );
    let (status, body, _) = v.post("/api/workflows/run", json!({"inputs": {}})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_workflow_app"))
    );
}

#[tokio::test]
async fn resetting_the_code_or_closing_the_site_ends_passports() {
    let (server, _up) = common::start_with_upstream().await;
    let (mut b, app, code) = published(&server, "01-chat-simple.yml").await;
    let v = Visitor::arrive(&server, &code, None).await;
    assert_eq!(v.get("/api/site").await.0, 200);
    let (_, off) = b
        .post(
            &format!("/apps/{app}/site-enable"),
            json!({"enable_site": false}),
        )
        .await;
    assert_eq!(off["enable_site"], false);
    let (status, body) = v.get("/api/site").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Site is disabled."))
    );
    let res = server
        .client
        .get(server.url("/api/passport"))
        .header("x-app-code", &code)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    b.post(
        &format!("/apps/{app}/site-enable"),
        json!({"enable_site": true}),
    )
    .await;
    assert_eq!(v.get("/api/site").await.0, 200);
    b.post(&format!("/apps/{app}/site/access-token-reset"), json!({}))
        .await;
    let (status, body) = v.get("/api/site").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Site URL is no longer valid."))
    );
    let (_, login) = v.get(&format!("/api/login/status?app_code={code}")).await;
    assert_eq!(
        login.get("app_logged_in"),
        None,
        "the old code is unknown: {login}"
    );
}

#[tokio::test]
async fn completions_save_results_and_workflows_stream_without_node_data() {
    let (server, upstream) = common::start_with_upstream().await;
    let (_b, _app, code) = published(&server, "02-completion-inputs.yml").await;
    let v = Visitor::arrive(&server, &code, None).await;
    upstream.push(Script::Reply("A fine lamp".into()));
    let inputs = json!({"product": "Lamp", "facts": "bright", "tone": "playful"});
    let (status, _, text) = v
        .post(
            "/api/completion-messages",
            json!({"inputs": inputs, "response_mode": "streaming"}),
        )
        .await;
    assert_eq!(status, 200);
    let events = common::sse::events(&text);
    let mid = events[0]["message_id"].as_str().unwrap().to_owned();
    let (status, _, _) = v
        .post("/api/saved-messages", json!({"message_id": mid}))
        .await;
    assert_eq!(status, 200);
    let (_, saved) = v.get("/api/saved-messages").await;
    assert_eq!(
        (
            saved["data"][0]["id"].as_str(),
            saved["data"][0]["answer"].as_str()
        ),
        (Some(mid.as_str()), Some("A fine lamp"))
    );
    upstream.push(Script::Reply("Another lamp".into()));
    let (status, again) = v
        .get(&format!(
            "/api/messages/{mid}/more-like-this?response_mode=blocking"
        ))
        .await;
    assert_eq!(
        (status, again["answer"].as_str()),
        (200, Some("Another lamp")),
        "{again}"
    );
    assert!(again["metadata"].get("usage").is_none());
    let (status, _, _) = v
        .send("DELETE", &format!("/api/saved-messages/{mid}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, saved) = v.get("/api/saved-messages").await;
    assert_eq!(saved["data"], json!([]));

    let (_b2, _app2, flow_code) = {
        let mut b = Browser::new(&server);
        b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let app = server.import_example("05-workflow-llm.yml").await;
        let (_, detail) = b.get(&format!("/apps/{app}")).await;
        let code = detail["site"]["code"].as_str().unwrap().to_owned();
        (b, app, code)
    };
    let w = Visitor::arrive(&server, &flow_code, None).await;
    let (status, _, text) = w
        .post(
            "/api/workflows/run",
            json!({"inputs": {"text": "Long text here.", "sentences": "1"}}),
        )
        .await;
    assert_eq!(status, 200);
    let events = common::sse::events(&text);
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "node_finished")
        .collect();
    assert!(!finished.is_empty());
    for e in finished {
        assert!(
            e["data"]["outputs"].is_null()
                && e["data"]["inputs"].is_null()
                && e["data"]["process_data"].is_null(),
            "{e}"
        );
    }
    assert_eq!(events.last().unwrap()["event"], "workflow_finished");
}

#[tokio::test]
async fn visitors_upload_files_for_their_messages() {
    let (server, _up) = common::start_with_upstream().await;
    let (_b, _app, code) = published(&server, "01-chat-simple.yml").await;
    let v = Visitor::arrive(&server, &code, None).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\nfake".to_vec())
            .file_name("pic.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let res = server
        .client
        .post(server.url("/api/files/upload"))
        .header("x-app-code", &code)
        .header("x-app-passport", &v.passport)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = common::status_json(res).await;
    assert_eq!((status, body["extension"].as_str()), (201, Some("png")));
}
