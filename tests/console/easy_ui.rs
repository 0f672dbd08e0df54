use super::*;
use common::upstream::Script;

/// A complete easy-UI configuration as the configuration page publishes it.
pub fn config(pre_prompt: &str) -> Value {
    json!({
        "pre_prompt": pre_prompt, "prompt_type": "simple",
        "chat_prompt_config": {}, "completion_prompt_config": {},
        "user_input_form": [{"text-input": {"label": "Name", "variable": "name", "required": false, "max_length": 48, "default": ""}}],
        "dataset_query_variable": "", "opening_statement": "Hello!", "suggested_questions": [],
        "more_like_this": {"enabled": false}, "suggested_questions_after_answer": {"enabled": true},
        "speech_to_text": {"enabled": false}, "text_to_speech": {"enabled": false, "voice": "", "language": ""},
        "retriever_resource": {"enabled": true},
        "sensitive_word_avoidance": {"enabled": false, "type": "", "config": {}},
        "file_upload": {"image": {"enabled": false, "number_limits": 3, "detail": "high", "transfer_methods": ["remote_url", "local_file"]}},
        "agent_mode": {"enabled": false, "strategy": "function_call", "tools": [], "max_iteration": 5},
        "external_data_tools": [],
        "model": {"provider": "langgenius/openai/openai", "name": "gpt-4o-mini", "mode": "chat", "completion_params": {"temperature": 0.7, "stop": []}},
        "dataset_configs": {"retrieval_model": "multiple", "datasets": {"datasets": []}},
    })
}

/// Whether some chat call to the upstream carried `text` in its messages.
pub fn sent(upstream: &common::upstream::FakeUpstream, text: &str) -> bool {
    upstream
        .chat_requests()
        .iter()
        .any(|r| r["messages"].to_string().contains(text))
}

#[tokio::test]
async fn the_model_selector_shows_the_configured_providers() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let (status, providers) = b.get("/workspaces/current/model-providers").await;
    assert_eq!(status, 200);
    let p = &providers["data"][0];
    assert_eq!(p["provider"], "langgenius/openai/openai");
    assert_eq!(p["custom_configuration"]["status"], "active");
    // The selector calls a provider without an active credential "Configure required".
    let config = &p["custom_configuration"];
    assert_eq!(config["current_credential_name"], "weir.toml");
    assert_eq!(
        config["available_credentials"][0]["credential_id"],
        config["current_credential_id"]
    );
    assert_eq!(p["supported_model_types"], json!(["llm"]));
    let (_, none) = b
        .get("/workspaces/current/model-providers?model_type=rerank")
        .await;
    assert_eq!(none["data"], json!([]));
    let (_, llms) = b.get("/workspaces/current/models/model-types/llm").await;
    let m = &llms["data"][0]["models"][0];
    assert_eq!(
        (
            m["model"].as_str(),
            m["status"].as_str(),
            m["model_properties"]["mode"].as_str()
        ),
        (Some("gpt-4o-mini"), Some("active"), Some("chat"))
    );
    assert_eq!(
        b.get("/workspaces/current/models/model-types/robots")
            .await
            .0,
        400
    );
    let (_, default) = b
        .get("/workspaces/current/default-model?model_type=llm")
        .await;
    assert_eq!(default["data"]["model"], "gpt-4o-mini");
    assert_eq!(
        default["data"]["provider"]["provider"],
        "langgenius/openai/openai"
    );
    let (_, none) = b
        .get("/workspaces/current/default-model?model_type=rerank")
        .await;
    assert_eq!(none, json!({"data": null}));
    let (status, body) = b
        .post("/workspaces/current/default-model", json!({"model_settings": [{"model_type": "llm", "provider": "openai", "model": "nope"}]}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, _) = b
        .post("/workspaces/current/default-model", json!({"model_settings": [{"model_type": "llm", "provider": "langgenius/openai/openai", "model": "gpt-4o-mini"}, {"model_type": "rerank", "provider": null}]}))
        .await;
    assert_eq!(status, 200);
    for path in [
        "/workspaces/current/model-providers/langgenius/openai/openai/models",
        "/workspaces/current/model-providers/openai/models",
    ] {
        let (status, models) = b.get(path).await;
        assert_eq!(
            (status, models["data"][0]["provider"]["provider"].as_str()),
            (200, Some("langgenius/openai/openai")),
            "{path}"
        );
    }
    let (_, rules) = b
        .get("/workspaces/current/model-providers/langgenius/openai/openai/models/parameter-rules?model=gpt-4o-mini")
        .await;
    let names: Vec<&str> = rules["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"temperature") && names.contains(&"max_tokens"),
        "{names:?}"
    );
    let (_, none) = b
        .get("/workspaces/current/model-providers/langgenius/openai/openai/models/parameter-rules?model=other")
        .await;
    assert_eq!(none["data"], json!([]));
    let (status, body) = b.get("/workspaces/current/model-providers/langgenius/nope/nope/models/parameter-rules?model=x").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Provider langgenius/nope/nope does not exist."))
    );
}

#[tokio::test]
async fn saving_a_configuration_checks_it_as_dify_does_and_the_service_api_uses_it() {
    let (server, upstream) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Configured", "chat").await;
    let id = app["id"].as_str().unwrap();
    let path = format!("/apps/{id}/model-config");
    let broken: [(&str, Value, &str); 7] = [
        ("/model", Value::Null, "model is required"),
        (
            "/model/provider",
            json!("langgenius/nope/nope"),
            "model.provider is required and must be in",
        ),
        (
            "/model/name",
            json!("gpt-9"),
            "model.name must be in the specified model list",
        ),
        (
            "/model/completion_params",
            Value::Null,
            "model.completion_params is required",
        ),
        (
            "/model/completion_params/stop",
            json!(["a", "b", "c", "d", "e"]),
            "stop sequences must be less than 4",
        ),
        (
            "/user_input_form",
            json!([{"text-input": {"label": "x", "variable": "1x"}}]),
            "variable in user_input_form must be a string, and cannot start with a number",
        ),
        (
            "/user_input_form",
            json!([{"file": {"label": "x", "variable": "f"}}]),
            "Keys in user_input_form list can only be",
        ),
    ];
    for (pointer, value, message) in broken {
        let mut body = config("x");
        *body.pointer_mut(pointer).unwrap() = value;
        if pointer == "/model" {
            body.as_object_mut().unwrap().remove("model");
        }
        let (status, res) = b.post(&path, body).await;
        assert_eq!(
            (status, res["code"].as_str()),
            (400, Some("invalid_param")),
            "{pointer}"
        );
        assert!(
            res["message"].as_str().unwrap().starts_with(message),
            "{pointer}: {res}"
        );
    }
    // A bare provider name stands for its plugin path.
    let mut body = config("You are the Configured bot.");
    body["model"]["provider"] = json!("openai");
    assert_eq!(
        b.post(&path, body).await,
        (200, json!({"result": "success"}))
    );
    let (_, detail) = b.get(&format!("/apps/{id}")).await;
    assert_eq!(
        detail["model_config"]["pre_prompt"],
        "You are the Configured bot."
    );
    assert_eq!(
        detail["model_config"]["model"]["provider"],
        "langgenius/openai/openai"
    );
    assert_eq!(detail["model_config"]["opening_statement"], "Hello!");
    // Workflow apps have no such page.
    let flow = create_app(&mut b, "Flow", "workflow").await;
    let (status, body) = b
        .post(
            &format!("/apps/{}/model-config", flow["id"].as_str().unwrap()),
            config("x"),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("app_not_found"))
    );

    let (_, key) = b.post(&format!("/apps/{id}/api-keys"), json!({})).await;
    let res = server
        .post(
            key["token"].as_str().unwrap(),
            "/v1/chat-messages",
            json!({"inputs": {}, "query": "hi", "response_mode": "blocking", "user": "ann"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(sent(&upstream, "You are the Configured bot."));
}

#[tokio::test]
async fn debugging_streams_with_the_unsaved_configuration_and_logs_the_turn() {
    let (server, upstream) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Debugged", "chat").await;
    let id = app["id"].as_str().unwrap();
    upstream.push(Script::Reply("Bonjour from the preview".into()));
    let seen = b
        .send(
            "POST",
            &format!("/console/api/apps/{id}/chat-messages"),
            Some(json!({"query": "Say hello", "inputs": {"name": "Ann"}, "response_mode": "streaming",
                "conversation_id": "", "model_config": config("You are an unsaved draft.")})),
        )
        .await;
    assert_eq!(seen.status, 200);
    let events = common::sse::events(&seen.text);
    let names = common::sse::names(&events);
    assert_eq!(
        names.first().map(String::as_str),
        Some("message"),
        "{names:?}"
    );
    let end = events.last().unwrap();
    assert_eq!(end["event"], "message_end");
    assert!(
        end["metadata"]["usage"]["total_tokens"].is_number(),
        "the debugger sees usage: {end}"
    );
    assert!(sent(&upstream, "You are an unsaved draft."));
    // The page then reloads the stored turn.
    let (_, logs) = b.get(&format!("/apps/{id}/chat-conversations")).await;
    assert_eq!(logs["total"], 1, "{logs}");
    let conv = &logs["data"][0];
    assert_eq!(
        (conv["from_source"].as_str(), conv["message_count"].as_i64()),
        (Some("console"), Some(1))
    );
    assert_eq!(conv["from_account_name"], "Admin");
    assert_eq!(conv["summary"], "Say hello");
    let cid = conv["id"].as_str().unwrap();
    let (status, history) = b
        .get(&format!("/apps/{id}/chat-messages?conversation_id={cid}"))
        .await;
    assert_eq!(status, 200);
    let m = &history["data"][0];
    assert_eq!(
        (m["answer"].as_str(), m["query"].as_str()),
        (Some("Bonjour from the preview"), Some("Say hello"))
    );
    let prompt = m["message"].as_array().unwrap();
    assert_eq!(prompt.last().unwrap()["role"], "user");
    assert!(prompt[0]["text"]
        .as_str()
        .unwrap()
        .contains("unsaved draft"));
    assert!(m["provider_response_latency"].is_number());
    assert_eq!(
        (m["from_source"].as_str(), m["from_end_user_id"].is_null()),
        (Some("console"), true)
    );
    assert!(m["message_tokens"].as_i64().unwrap() > 0);
    let mid = m["id"].as_str().unwrap();
    let (status, _) = b
        .post(
            &format!("/apps/{id}/feedbacks"),
            json!({"message_id": mid, "rating": "like"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, one) = b.get(&format!("/apps/{id}/messages/{mid}")).await;
    assert_eq!(one["feedbacks"][0]["from_source"], "admin");
    assert_eq!(one["feedbacks"][0]["from_account"]["name"], "Admin");
    let (status, _) = b
        .post(
            &format!("/apps/{id}/feedbacks"),
            json!({"message_id": mid, "rating": null}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = b
        .post(
            &format!("/apps/{id}/feedbacks"),
            json!({"message_id": mid, "rating": null}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, _) = b
        .post(
            &format!("/apps/{id}/feedbacks"),
            json!({"message_id": uuid::Uuid::new_v4().to_string(), "rating": "like"}),
        )
        .await;
    assert_eq!(status, 404);
    // Suggested questions follow the stored configuration (off for a new app).
    let (status, body) = b
        .get(&format!(
            "/apps/{id}/chat-messages/{mid}/suggested-questions"
        ))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("app_suggested_questions_after_answer_disabled"))
    );
    b.post(&format!("/apps/{id}/model-config"), config("saved"))
        .await;
    upstream.push(Script::Reply("[\"Why?\", \"How?\", \"When?\"]".into()));
    let (status, body) = b
        .get(&format!(
            "/apps/{id}/chat-messages/{mid}/suggested-questions"
        ))
        .await;
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{body}"
    );

    let (status, detail) = b.get(&format!("/apps/{id}/chat-conversations/{cid}")).await;
    assert_eq!((status, detail["message_count"].as_i64()), (200, Some(1)));
    let (_, logs) = b.get(&format!("/apps/{id}/chat-conversations")).await;
    assert!(
        logs["data"][0]["read_at"].is_i64(),
        "opening it marks it read"
    );
    for bad in ["?start=yesterday", "?sort_by=name", "?limit=0"] {
        let (status, _) = b.get(&format!("/apps/{id}/chat-conversations{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = b
        .call(
            "DELETE",
            &format!("/console/api/apps/{id}/chat-conversations/{cid}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, logs) = b.get(&format!("/apps/{id}/chat-conversations")).await;
    assert_eq!(logs["total"], 0);
    let (status, body) = b
        .get(&format!("/apps/{id}/chat-messages?conversation_id={cid}"))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Conversation Not Exists."))
    );
}

#[tokio::test]
async fn stopping_a_debug_stream_ends_it() {
    let (server, upstream) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Stopper", "chat").await;
    let id = app["id"].as_str().unwrap().to_owned();
    upstream.push(Script::Slow(
        "one two three four five six seven eight".into(),
        std::time::Duration::from_millis(300),
    ));
    let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let res = server
        .client
        .post(server.url(&format!("/console/api/apps/{id}/chat-messages")))
        .header("cookie", jar.join("; "))
        .header("x-csrf-token", b.cookies["csrf_token"].clone())
        .json(&json!({"query": "go", "inputs": {}, "response_mode": "streaming", "model_config": config("x")}))
        .send()
        .await
        .unwrap();
    use futures_util::StreamExt;
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let mut stopped = false;
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if !stopped && text.contains("\"answer\":\" two\"") {
            let task = common::sse::events(&text)[0]["task_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let (status, body) = b
                .post(&format!("/apps/{id}/chat-messages/{task}/stop"), json!({}))
                .await;
            assert_eq!((status, body), (200, json!({"result": "success"})));
            stopped = true;
        }
    }
    let names = common::sse::names(&common::sse::events(&text));
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_end"),
        "{names:?}"
    );
    assert!(!text.contains("eight"));
}
