use super::*;

#[tokio::test]
async fn apps_of_every_mode_are_created_listed_and_filtered() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    for (name, mode) in [
        ("Chat one", "chat"),
        ("Agent", "agent-chat"),
        ("Writer", "completion"),
        ("Flow", "workflow"),
        ("Chatflow", "advanced-chat"),
    ] {
        let app = create_app(&mut b, name, mode).await;
        assert_eq!(
            (app["name"].as_str(), app["mode"].as_str()),
            (Some(name), Some(mode))
        );
        assert_eq!(
            (app["enable_site"].as_bool(), app["enable_api"].as_bool()),
            (Some(true), Some(true))
        );
        if mode == "workflow" || mode == "advanced-chat" {
            assert!(app["model_config"].is_null());
        } else {
            let mc = &app["model_config"];
            assert_eq!(mc["model"]["provider"], "langgenius/openai/openai");
            assert_eq!(mc["model"]["name"], "gpt-4o-mini");
            for key in [
                "opening_statement",
                "suggested_questions",
                "user_input_form",
                "agent_mode",
                "file_upload",
                "dataset_configs",
                "more_like_this",
            ] {
                assert!(mc.get(key).is_some(), "{key} in {mc}");
            }
            if mode == "completion" {
                assert_eq!(mc["pre_prompt"], "{{query}}");
                assert_eq!(mc["user_input_form"][0]["paragraph"]["variable"], "query");
            }
        }
    }
    let (status, page) = b.get("/apps?page=1&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(
        (page["total"].as_i64(), page["has_more"].as_bool()),
        (Some(5), Some(true))
    );
    assert_eq!(page["data"][0]["name"], "Chatflow", "newest first");
    assert_eq!(page["data"][0]["author_name"], "Admin");
    let (_, page) = b.get("/apps?page=3&limit=2").await;
    assert_eq!(
        (
            page["data"].as_array().unwrap().len(),
            page["has_more"].as_bool()
        ),
        (1, Some(false))
    );
    let (_, page) = b.get("/apps?mode=completion").await;
    assert_eq!(page["total"], 1);
    let (_, page) = b.get("/apps?name=CHAT").await;
    assert_eq!(page["total"], 2, "case-insensitive substring: {page}");
    let (_, page) = b.get("/apps?is_created_by_me=true").await;
    assert_eq!(page["total"], 5);
    for bad in [
        "/apps?mode=robot",
        "/apps?limit=101",
        "/apps?page=0",
        "/apps?tag_ids=nope",
    ] {
        let (status, body) = b.get(bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_param")),
            "{bad}"
        );
    }
    let (status, body) = b.post("/apps", json!({"name": "x", "mode": "robot"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_param"))
    );
    let (status, _) = b.post("/apps", json!({"name": "", "mode": "chat"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_app_detail_carries_its_site_and_edits_keep_the_dsl_in_step() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Helper", "chat").await;
    let id = app["id"].as_str().unwrap();
    let (status, detail) = b.get(&format!("/apps/{id}")).await;
    assert_eq!(status, 200);
    let site = &detail["site"];
    assert_eq!(site["access_token"].as_str().unwrap().len(), 16);
    assert_eq!(site["code"], site["access_token"]);
    assert_eq!(site["title"], "Helper");
    assert!(detail["api_base_url"].as_str().unwrap().ends_with("/v1"));
    assert!(site["app_base_url"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(detail["deleted_tools"], json!([]));

    let (status, body) = b
        .call(
            "PUT",
            &format!("/console/api/apps/{id}"),
            Some(json!({"name": "Renamed", "description": "Helps.", "max_active_requests": 3})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["name"].as_str(),
            body["description"].as_str(),
            body["max_active_requests"].as_i64()
        ),
        (Some("Renamed"), Some("Helps."), Some(3))
    );
    assert_eq!(
        body["icon"], "",
        "absent fields are stored empty, as Dify does"
    );
    let (status, _) = b
        .call(
            "PUT",
            &format!("/console/api/apps/{id}"),
            Some(json!({"name": "x", "description": "d".repeat(401)})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = b
        .post(&format!("/apps/{id}/name"), json!({"name": "Named"}))
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Named")));
    let (_, body) = b
        .post(
            &format!("/apps/{id}/icon"),
            json!({"icon": "🦀", "icon_background": "#000000"}),
        )
        .await;
    assert_eq!(
        (body["icon"].as_str(), body["name"].as_str()),
        (Some("🦀"), Some("Named"))
    );
    // The DSL export follows the edits.
    let (_, export) = b
        .get(&format!("/apps/{id}/export?include_secret=false"))
        .await;
    let yaml = export["data"].as_str().unwrap();
    assert!(
        yaml.contains("name: Named") && yaml.contains("🦀"),
        "{yaml}"
    );

    let (status, body) = b.get(&format!("/apps/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(
        (status, body["code"].as_str(), body["message"].as_str()),
        (404, Some("app_not_found"), Some("App not found."))
    );
    assert_eq!(b.get("/apps/not-a-uuid").await.0, 404);
    let (status, _) = b
        .call("DELETE", &format!("/console/api/apps/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(b.get(&format!("/apps/{id}")).await.0, 404);
}

#[tokio::test]
async fn roles_gate_edits_and_other_workspaces_apps_are_not_found() {
    let (server, _up) = server_with_model().await;
    let mut owner = admin(&server).await;
    let app = create_app(&mut owner, "Mine", "chat").await;
    let id = app["id"].as_str().unwrap().to_owned();
    let mut normal = member(&server, "normal@example.com", "normal").await;
    let (_, ws) = normal.post("/workspaces/current", json!({})).await;
    assert_eq!(ws["role"], "normal");
    assert_eq!(
        normal.get(&format!("/apps/{id}")).await.0,
        200,
        "members see apps"
    );
    let (status, body) = normal
        .post("/apps", json!({"name": "x", "mode": "chat"}))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        normal
            .call("DELETE", &format!("/console/api/apps/{id}"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        normal
            .post(&format!("/apps/{id}/api-keys"), json!({}))
            .await
            .0,
        403
    );
    let mut editor = member(&server, "editor@example.com", "editor").await;
    assert_eq!(
        editor
            .post(&format!("/apps/{id}/api-keys"), json!({}))
            .await
            .0,
        201
    );
    // Editors may not do what only admins do.
    assert_eq!(
        editor
            .post(
                &format!("/apps/{id}/api-enable"),
                json!({"enable_api": false})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        editor
            .post(&format!("/apps/{id}/site/access-token-reset"), json!({}))
            .await
            .0,
        403
    );

    // An app of another workspace is 404, as if it did not exist.
    let store = &server.db.store;
    let other_ws = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO workspaces (id, name, status, created_at) VALUES ($1, 'other', 'normal', 0)",
    )
    .bind(&other_ws)
    .execute(store.pool())
    .await
    .unwrap();
    let foreign = store
        .insert_app(&weir_api::store::NewApp {
            workspace_id: other_ws,
            name: "theirs".into(),
            mode: "chat".into(),
            description: String::new(),
            icon: String::new(),
            icon_type: "emoji".into(),
            icon_background: "#FFFFFF".into(),
            use_icon_as_answer_icon: false,
            dsl_version: "0.6.0".into(),
            dsl: "{}".into(),
            workflow: None,
            created_by: None,
        })
        .await
        .unwrap();
    for (method, path) in [
        ("GET", format!("/console/api/apps/{foreign}")),
        ("DELETE", format!("/console/api/apps/{foreign}")),
        ("GET", format!("/console/api/apps/{foreign}/api-keys")),
    ] {
        let (status, body) = owner.call(method, &path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("app_not_found")),
            "{method} {path}"
        );
    }
    let (_, page) = owner.get("/apps").await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn publishing_site_switches_and_keys_reach_the_service_api() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Pub", "chat").await;
    let id = app["id"].as_str().unwrap();
    let (status, site) = b.post(&format!("/apps/{id}/site"), json!({"title": "Public", "default_language": "fr-FR", "show_workflow_steps": false, "description": null})).await;
    assert_eq!(status, 200, "{site}");
    assert_eq!(
        (
            site["title"].as_str(),
            site["default_language"].as_str(),
            site["show_workflow_steps"].as_bool()
        ),
        (Some("Public"), Some("fr-FR"), Some(false))
    );
    for bad in [
        json!({"default_language": "xx"}),
        json!({"custom_disclaimer": "d".repeat(513)}),
        json!({"customize_token_strategy": "maybe"}),
        json!({"prompt_public": "yes"}),
    ] {
        let (status, body) = b.post(&format!("/apps/{id}/site"), bad.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_param")),
            "{bad}"
        );
    }
    let (_, reset) = b
        .post(&format!("/apps/{id}/site/access-token-reset"), json!({}))
        .await;
    assert_ne!(reset["code"], site["code"]);
    assert_eq!(reset["title"], "Public");

    let (status, key) = b.post(&format!("/apps/{id}/api-keys"), json!({})).await;
    assert_eq!(status, 201);
    let token = key["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("app-") && token.len() == 28);
    let (_, keys) = b.get(&format!("/apps/{id}/api-keys")).await;
    assert_eq!(
        keys["data"][0]["token"], token,
        "the console can show it again"
    );
    let info = server.get(&token, "/v1/info").await;
    assert_eq!(info.status(), 200);
    let (_, off) = b
        .post(
            &format!("/apps/{id}/api-enable"),
            json!({"enable_api": false}),
        )
        .await;
    assert_eq!(off["enable_api"], false);
    assert_eq!(server.get(&token, "/v1/info").await.status(), 403);
    b.post(
        &format!("/apps/{id}/api-enable"),
        json!({"enable_api": true}),
    )
    .await;
    let (_, off) = b
        .post(
            &format!("/apps/{id}/site-enable"),
            json!({"enable_site": false}),
        )
        .await;
    assert_eq!(off["enable_site"], false);
    let (status, _) = b
        .call(
            "DELETE",
            &format!(
                "/console/api/apps/{id}/api-keys/{}",
                key["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(server.get(&token, "/v1/info").await.status(), 401);
    let (status, _) = b
        .call(
            "DELETE",
            &format!("/console/api/apps/{id}/api-keys/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404);
    for _ in 0..10 {
        assert_eq!(
            b.post(&format!("/apps/{id}/api-keys"), json!({})).await.0,
            201
        );
    }
    let (status, body) = b.post(&format!("/apps/{id}/api-keys"), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("max_keys_exceeded"))
    );
    // Apps imported by the CLI are the same apps: they have a site too.
    let imported = server.import_example("01-chat-simple.yml").await;
    let (_, detail) = b.get(&format!("/apps/{imported}")).await;
    assert_eq!(detail["site"]["code"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn tags_bind_to_apps_and_filter_the_list() {
    let (server, _up) = server_with_model().await;
    let mut b = admin(&server).await;
    let app = create_app(&mut b, "Tagged", "chat").await;
    create_app(&mut b, "Plain", "chat").await;
    let id = app["id"].as_str().unwrap();
    let (status, tag) = b
        .post("/tags", json!({"name": "support", "type": "app"}))
        .await;
    assert_eq!((status, tag["binding_count"].as_str()), (200, Some("0")));
    let (status, body) = b
        .post("/tags", json!({"name": "support", "type": "app"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str(), body["message"].as_str()),
        (400, Some("invalid_param"), Some("Tag name already exists"))
    );
    let tag_id = tag["id"].as_str().unwrap();
    let (status, _) = b
        .post(
            "/tag-bindings",
            json!({"tag_ids": [tag_id], "target_id": id, "type": "app"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, tags) = b.get("/tags?type=app").await;
    assert_eq!(tags[0]["binding_count"], "1");
    let (_, page) = b.get(&format!("/apps?tag_ids[0]={tag_id}")).await;
    assert_eq!(
        (page["total"].as_i64(), page["data"][0]["name"].as_str()),
        (Some(1), Some("Tagged"))
    );
    assert_eq!(page["data"][0]["tags"][0]["name"], "support");
    // The 1.14 console renames with the name only.
    let (status, renamed) = b
        .call(
            "PATCH",
            &format!("/console/api/tags/{tag_id}"),
            Some(json!({"name": "help"})),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str(), renamed["type"].as_str()),
        (200, Some("help"), Some("app"))
    );
    let (status, _) = b
        .post(
            "/tag-bindings/remove",
            json!({"tag_ids": [tag_id], "target_id": id, "type": "app"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, page) = b.get(&format!("/apps?tag_ids={tag_id}")).await;
    assert_eq!(page["total"], 0);
    assert_eq!(
        b.call("DELETE", &format!("/console/api/tags/{tag_id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        b.call(
            "PATCH",
            &format!("/console/api/tags/{tag_id}"),
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        404
    );
    let (status, _) = b
        .post("/tags", json!({"name": "x", "type": "robots"}))
        .await;
    assert_eq!(status, 400);
}
