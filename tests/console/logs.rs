use super::easy_ui::{config, sent};
use super::*;
use common::upstream::Script;

#[tokio::test]
async fn logs_list_service_api_conversations_with_filters_in_the_accounts_zone() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Logged", "chat").await;
    let id = app["id"].as_str().unwrap();
    let (_, key) = b.post(&format!("/apps/{id}/api-keys"), json!({})).await;
    let key = key["token"].as_str().unwrap().to_owned();
    for (user, query) in [("ann", "apples please"), ("bob", "bananas please")] {
        let res = server
            .post(
                &key,
                "/v1/chat-messages",
                json!({"inputs": {}, "query": query, "response_mode": "blocking", "user": user}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let (_, logs) = b
        .get(&format!("/apps/{id}/chat-conversations?sort_by=created_at"))
        .await;
    assert_eq!(logs["total"], 2);
    assert_eq!(logs["data"][0]["from_end_user_session_id"], "ann");
    assert_eq!(logs["data"][0]["from_source"], "api");
    let (_, found) = b
        .get(&format!("/apps/{id}/chat-conversations?keyword=BANANA"))
        .await;
    assert_eq!(
        (
            found["total"].as_i64(),
            found["data"][0]["from_end_user_session_id"].as_str()
        ),
        (Some(1), Some("bob"))
    );
    let (_, found) = b
        .get(&format!("/apps/{id}/chat-conversations?keyword=ann"))
        .await;
    assert_eq!(found["total"], 1, "by session id");
    let (_, none) = b
        .get(&format!(
            "/apps/{id}/chat-conversations?annotation_status=annotated"
        ))
        .await;
    assert_eq!(none["total"], 0);
    b.post("/account/timezone", json!({"timezone": "Asia/Tokyo"}))
        .await;
    let (_, none) = b
        .get(&format!(
            "/apps/{id}/chat-conversations?start=2099-01-01%2000:00"
        ))
        .await;
    assert_eq!(none["total"], 0);
    let (_, all) = b
        .get(&format!(
            "/apps/{id}/chat-conversations?start=2000-01-01%2000:00&end=2099-01-01%2000:00"
        ))
        .await;
    assert_eq!(all["total"], 2);
    // The overview counts them (debugger turns are not counted).
    let (_, chart) = b
        .get(&format!("/apps/{id}/statistics/daily-messages"))
        .await;
    assert_eq!(chart["data"][0]["message_count"], 2, "{chart}");
    let (_, users) = b
        .get(&format!("/apps/{id}/statistics/daily-end-users"))
        .await;
    assert_eq!(users["data"][0]["terminal_count"], 2);
    for chart in [
        "daily-conversations",
        "token-costs",
        "average-session-interactions",
        "user-satisfaction-rate",
        "average-response-time",
        "tokens-per-second",
    ] {
        let (status, body) = b
            .get(&format!(
                "/apps/{id}/statistics/{chart}?start=2020-01-01%2000:00"
            ))
            .await;
        assert_eq!(
            (status, body["data"].as_array().map(Vec::len)),
            (200, Some(1)),
            "{chart}: {body}"
        );
    }
    assert_eq!(b.get(&format!("/apps/{id}/statistics/robots")).await.0, 404);
}

#[tokio::test]
async fn completion_debugging_and_generation_logs() {
    let (server, upstream) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Writer", "completion").await;
    let id = app["id"].as_str().unwrap();
    let mut cfg = config("Write about {{query}}.");
    cfg["user_input_form"] = json!([{"paragraph": {"label": "Query", "variable": "query", "required": true, "default": ""}}]);
    upstream.push(Script::Reply("A poem".into()));
    let seen = b
        .send("POST", &format!("/console/api/apps/{id}/completion-messages"), Some(json!({"inputs": {"query": "rain"}, "response_mode": "streaming", "model_config": cfg})))
        .await;
    assert_eq!(seen.status, 200);
    assert!(sent(&upstream, "Write about rain."));
    let (_, logs) = b.get(&format!("/apps/{id}/completion-conversations")).await;
    assert_eq!(logs["total"], 1);
    let item = &logs["data"][0];
    assert_eq!(
        (
            item["message"]["answer"].as_str(),
            item["from_source"].as_str()
        ),
        (Some("A poem"), Some("console"))
    );
    let (status, one) = b
        .get(&format!(
            "/apps/{id}/completion-conversations/{}",
            item["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (status, one["message"]["answer"].as_str()),
        (200, Some("A poem"))
    );
    // A chat route on a completion app is not found, as Dify answers.
    let (status, body) = b.get(&format!("/apps/{id}/chat-conversations")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("app_not_found"))
    );
    let (status, body) = b
        .post(
            &format!("/apps/{id}/chat-messages"),
            json!({"query": "x", "inputs": {}, "model_config": cfg}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("app_not_found"))
    );
    let (status, _) = b
        .post(
            &format!(
                "/apps/{id}/completion-messages/{}/stop",
                uuid::Uuid::new_v4()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn page_extras_answer_what_is_true_of_weir() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Extras", "chat").await;
    let id = app["id"].as_str().unwrap();
    let cases: [(String, Value); 12] = [
        (
            "/workspaces/current/plugin/list".into(),
            json!({"plugins": [], "total": 0}),
        ),
        ("/workspaces/current/tool-providers".into(), json!([])),
        (
            "/datasets/retrieval-setting".into(),
            json!({"retrieval_method": ["semantic_search", "full_text_search", "hybrid_search"]}),
        ),
        (
            "/notification".into(),
            json!({"should_show": false, "notifications": []}),
        ),
        (
            "/code-based-extension?module=moderation".into(),
            json!({"module": "moderation", "data": []}),
        ),
        (
            format!("/apps/{id}/trace"),
            json!({"enabled": false, "tracing_provider": null}),
        ),
        (
            format!("/apps/{id}/trace-config?tracing_provider=langfuse"),
            json!({"has_not_configured": true}),
        ),
        (format!("/apps/{id}/server"), json!({})),
        (format!("/apps/{id}/annotations/count"), json!({"count": 0})),
        (
            format!("/apps/{id}/annotation-setting"),
            json!({"enabled": false}),
        ),
        (
            format!("/apps/{id}/text-to-audio/voices?language=en-US"),
            json!([]),
        ),
        ("/tags?type=app".into(), json!([])),
    ];
    for (path, expected) in cases {
        assert_eq!(b.get(&path).await, (200, expected), "{path}");
    }
    let (_, prefs) = b.get("/workspaces/current/plugin/preferences/fetch").await;
    assert_eq!(prefs["permission"]["install_permission"], "noone");
    let (_, datasets) = b.get("/datasets?limit=30&page=1").await;
    assert_eq!(
        (datasets["total"].as_i64(), datasets["page"].as_i64()),
        (Some(0), Some(1))
    );
    let (_, templates) = b
        .get("/app/prompt-templates?app_mode=chat&model_mode=chat&has_context=true")
        .await;
    assert!(templates["chat_prompt_config"]["prompt"][0]["text"]
        .as_str()
        .unwrap()
        .contains("{{#context#}}"));
    let (_, stats) = b
        .get(&format!(
            "/apps/{id}/workflow/statistics/daily-conversations"
        ))
        .await;
    assert_eq!(stats, json!({"data": []}));
    let (status, _) = b
        .get(&format!("/apps/{}/trace", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
}
