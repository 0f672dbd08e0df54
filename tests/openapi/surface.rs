use super::*;

#[tokio::test]
async fn meta_routes_headers_and_the_version_gate() {
    let server = TestServer::start().await;
    let res = server
        .client
        .get(server.url("/openapi/v1/_health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    assert_eq!(status_json(res).await, (200, json!({"ok": true})));
    let (status, body) = status_json(
        server
            .client
            .get(server.url("/openapi/v1/_version"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["edition"], "SELF_HOSTED");
    assert!(body["version"].is_string());
    // Errors carry the framing headers too; the Service API does not.
    let res = server
        .client
        .get(server.url("/openapi/v1/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let res = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-frame-options").is_none());

    // An outdated difyctl is refused before auth, on any path under the prefix.
    let old = |path: &str| {
        server
            .client
            .get(server.url(path))
            .header("user-agent", "difyctl/0.1.9 (linux)")
    };
    let (status, body) = status_json(old("/openapi/v1/apps").send().await.unwrap()).await;
    assert_eq!(status, 426);
    assert_eq!(
        body,
        json!({"code": "upgrade_required", "status": 426,
            "message": "difyctl 0.1.9 is no longer supported; upgrade to >= 0.2.0-alpha.",
            "hint": "Upgrade difyctl: https://docs.dify.ai/en/cli/install"})
    );
    assert_eq!(
        status_json(old("/openapi/v1/removed/path").send().await.unwrap())
            .await
            .0,
        426
    );
    for exempt in ["/openapi/v1/_version", "/openapi/v1/_health"] {
        assert_eq!(old(exempt).send().await.unwrap().status(), 200);
    }
    // Current and unknown agents pass to auth.
    for agent in [
        "difyctl/0.2.0",
        "difyctl/0.2.0-alpha",
        "curl/8.0",
        "difyctl/garbage",
    ] {
        let res = server
            .client
            .get(server.url("/openapi/v1/apps"))
            .header("user-agent", agent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{agent}");
    }
    // The Service API is not gated.
    assert_eq!(old("/health").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn bearer_guards_answer_in_the_contract_order() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let app = server.import_example("01-chat-simple.yml").await;
    let run_path = format!("/openapi/v1/apps/{app}:run");
    let req = chat_body("hi");

    // 401: no bearer, other scheme, app keys, unknown tokens — with WWW-Authenticate.
    let res = server
        .client
        .post(server.url(&run_path))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(
        status_json(res).await,
        (401, expect(401, "unauthorized", "bearer required"))
    );
    let app_key = server.app_key(&app).await;
    let unknown = format!("dfoa_{}", "x".repeat(43));
    for bad in [app_key.as_str(), unknown.as_str(), "garbage"] {
        let (status, body) = status_json(post(&server, bad, &run_path, req.clone()).await).await;
        assert_eq!(
            (status, body),
            (401, expect(401, "unauthorized", credentials::TOKEN_INVALID)),
            "{bad}"
        );
    }
    // Expired tokens say so, with a hint.
    let ws = workspace(&server).await;
    let expired = credentials::create_token(&server.db.store, &ws, "full", "old", Some(1))
        .await
        .unwrap();
    let (status, body) = status_json(post(&server, &expired, &run_path, req.clone()).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_expired");
    assert_eq!(body["message"], credentials::TOKEN_EXPIRED);
    assert_eq!(body["hint"], credentials::TOKEN_EXPIRED_HINT);

    // 404 before 403: a token without `apps:run` learns nothing about ids it cannot see.
    let reader = token(&server, "apps:read").await;
    for path in [
        "/openapi/v1/apps/not-a-uuid:run",
        "/openapi/v1/apps/00000000-0000-4000-8000-000000000000:run",
    ] {
        let (status, body) = status_json(post(&server, &reader, path, req.clone()).await).await;
        assert_eq!(
            (status, body),
            (404, expect(404, "not_found", "app not found")),
            "{path}"
        );
    }
    // An app of another workspace: 404 workspace not found.
    let other_ws = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO workspaces (id, name, status, created_at) VALUES ($1, 'other', 'normal', 0)",
    )
    .bind(&other_ws)
    .execute(server.db.store.pool())
    .await
    .unwrap();
    let tools = weir_api::tools::ToolRegistry::new(&server.config.services);
    let foreign = weir_api::apps::import(
        &server.db.store,
        &tools,
        &server.secrets(),
        &other_ws,
        &example("01-chat-simple.yml"),
        None,
    )
    .await
    .unwrap()
    .app_id;
    let (status, body) = status_json(
        post(
            &server,
            &reader,
            &format!("/openapi/v1/apps/{foreign}:run"),
            req.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, expect(404, "not_found", "workspace not found"))
    );
    let (status, _) = get(
        &server,
        &reader,
        &format!("/openapi/v1/apps?workspace_id={other_ws}"),
    )
    .await;
    assert_eq!(status, 404);
    // The scope, once the ids are the caller's.
    let (status, body) = status_json(post(&server, &reader, &run_path, req.clone()).await).await;
    assert_eq!(
        (status, body),
        (403, expect(403, "forbidden", "insufficient_scope"))
    );
    let (status, _) = get(&server, &reader, &format!("/openapi/v1/apps/{app}")).await;
    assert_eq!(status, 200);
    let runner = token(&server, "apps:run").await;
    let (status, body) = get(&server, &runner, &format!("/openapi/v1/apps/{app}")).await;
    assert_eq!(
        (status, body),
        (403, expect(403, "forbidden", "insufficient_scope"))
    );
    // The Service API switch comes before membership and scope.
    let switched = server.import_example("01-chat-simple.yml").await;
    server
        .db
        .store
        .set_app_api_enabled(&switched, false)
        .await
        .unwrap();
    let (status, body) = status_json(
        post(
            &server,
            &reader,
            &format!("/openapi/v1/apps/{switched}:run"),
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (403, expect(403, "forbidden", "service_api_disabled"))
    );
    // Unknown paths and methods under the prefix answer with the error body.
    let full = token(&server, "full").await;
    let (status, body) = get(&server, &full, "/openapi/v1/no/such/route").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let res = server
        .client
        .delete(server.url("/openapi/v1/_health"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(res).await.1["code"], "method_not_allowed");
}

#[tokio::test]
async fn apps_are_listed_and_described() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let chat = server.import_example("01-chat-simple.yml").await;
    let completion = server.import_example("02-completion-inputs.yml").await;
    let flow = server.import_example("05-workflow-llm.yml").await;
    let chatflow = server.import_example("04-chatflow-llm-ifelse.yml").await;
    let agent = server.import_example("03-agent-chat-tool.yml").await;
    let ws = workspace(&server).await;
    let t = token(&server, "apps:read").await;

    let (status, body) = get(&server, &t, "/openapi/v1/apps").await;
    assert_eq!(status, 422);
    assert_eq!(body["message"], "Request validation failed");
    assert_eq!(
        body["details"],
        json!([{"type": "missing", "loc": ["workspace_id"], "msg": "Field required"}])
    );

    let list = |q: String| {
        let (server, t, ws) = (&server, &t, &ws);
        async move { get(server, t, &format!("/openapi/v1/apps?workspace_id={ws}{q}")).await }
    };
    let (status, body) = list(String::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["page"].as_i64(),
            body["limit"].as_i64(),
            body["total"].as_i64()
        ),
        (Some(1), Some(20), Some(5))
    );
    assert_eq!(body["has_more"], false);
    let row = &body["data"][0];
    for key in [
        "id",
        "name",
        "description",
        "mode",
        "updated_at",
        "workspace_id",
        "workspace_name",
    ] {
        assert!(row.get(key).is_some(), "{key}");
    }
    assert_eq!(row["workspace_name"], "default");
    assert!(row["updated_at"].as_str().unwrap().ends_with('Z'));
    let (_, body) = list("&page=2&limit=2".into()).await;
    assert_eq!(
        (
            body["data"].as_array().unwrap().len(),
            body["has_more"].as_bool()
        ),
        (2, Some(true))
    );
    let (_, body) = list("&mode=workflow".into()).await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["data"][0]["id"], flow.as_str());
    let (_, body) = list(format!("&name={chatflow}")).await;
    assert_eq!(
        (body["total"].as_i64(), body["data"][0]["id"].as_str()),
        (Some(1), Some(chatflow.as_str()))
    );
    let name = server.db.store.app(&agent).await.unwrap().unwrap().name;
    let (_, body) = list(format!(
        "&name={}",
        urlencode(&name[1..name.len() - 1].to_uppercase())
    ))
    .await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == agent.as_str()),
        "{body}"
    );
    for (q, kind) in [
        ("&limit=0", "greater_than_equal"),
        ("&limit=101", "less_than_equal"),
        ("&page=x", "int_parsing"),
        ("&mode=agent", "literal_error"),
    ] {
        let (status, body) = list(q.into()).await;
        assert_eq!(
            (status, body["details"][0]["type"].as_str()),
            (422, Some(kind)),
            "{q}"
        );
        assert_eq!(body["code"], "invalid_param");
    }

    // Describe: every part by default, chosen parts with `fields`.
    let (status, body) = get(&server, &t, &format!("/openapi/v1/apps/{chat}")).await;
    assert_eq!(status, 200, "{body}");
    let info = &body["info"];
    assert_eq!(
        (info["id"].as_str(), info["mode"].as_str()),
        (Some(chat.as_str()), Some("chat"))
    );
    assert_eq!(
        (
            info["service_api_enabled"].as_bool(),
            info["is_agent"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(body["parameters"]["user_input_form"].is_array());
    assert_eq!(
        body["parameters"]["system_parameters"]["workflow_file_upload_limit"],
        10
    );
    let schema = &body["input_schema"];
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["required"], json!(["query", "inputs"]));
    let (_, body) = get(
        &server,
        &t,
        &format!("/openapi/v1/apps/{completion}?fields=input_schema"),
    )
    .await;
    assert!(body["info"].is_null() && body["parameters"].is_null());
    let inputs = &body["input_schema"]["properties"]["inputs"];
    assert_eq!(inputs["additionalProperties"], false);
    assert!(
        !inputs["properties"].as_object().unwrap().is_empty(),
        "{inputs}"
    );
    let (_, body) = get(
        &server,
        &t,
        &format!("/openapi/v1/apps/{flow}?fields=info,input_schema"),
    )
    .await;
    assert_eq!(body["input_schema"]["required"], json!(["inputs"]));
    assert!(body["parameters"].is_null());
    for (id, agentic) in [(&agent, true), (&chatflow, true), (&flow, false)] {
        let (_, body) = get(&server, &t, &format!("/openapi/v1/apps/{id}?fields=info")).await;
        assert_eq!(body["info"]["is_agent"], agentic);
    }
    let (status, body) = get(
        &server,
        &t,
        &format!("/openapi/v1/apps/{chat}?fields=info,secrets"),
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("value_error"))
    );
    let (status, body) = get(&server, &t, &format!("/openapi/v1/apps/{chat}?bogus=1")).await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("extra_forbidden"))
    );
}
