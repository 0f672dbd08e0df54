use super::*;

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
    let (status, _) = server
        .call(&key, "DELETE", &format!("/v1/conversations/{conv}"), None)
        .await;
    assert_eq!(status, 415);
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
