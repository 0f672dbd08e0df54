//! The `/openapi/v1` surface over real HTTP: meta routes and the client version gate; the
//! bearer guards in the contract's order; apps list and describe; `:run` for every mode
//! with its 422 rules; the seed's error table (every domain error on the `:run` path with its
//! exact status, code and message, unknown errors and panics as the generic 500); event
//! replay; files; DSL export/import round trips and version statuses; the per-token rate
//! limit and revocation; account and workspaces.

mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{example, example_names, sse, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};
use weir_api::credentials;
use weir_api::error::{messages as service_messages, ServiceError};

/// A server on the fake upstream whose token limit does not get in the way.
async fn start(
    upstream: &FakeUpstream,
    adjust: impl FnOnce(&mut weir::Config) + 'static,
) -> TestServer {
    let base = with_upstream(upstream);
    TestServer::start_with(Options {
        config: Box::new(move |c| {
            (base.config)(c);
            c.services.limits.openapi_rate_limit_per_token = "100000/m".into();
            adjust(c);
        }),
        ..Options::default()
    })
    .await
}

async fn workspace(server: &TestServer) -> String {
    server.db.store.default_workspace_id().await.unwrap()
}

async fn token(server: &TestServer, scopes: &str) -> String {
    let ws = workspace(server).await;
    credentials::create_token(&server.db.store, &ws, scopes, "test", None)
        .await
        .unwrap()
}

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    status_json(
        server
            .client
            .get(server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Runs an app: the status and, for a stream, its events (else the error body as one item).
async fn run(server: &TestServer, token: &str, app: &str, body: Value) -> (u16, Vec<Value>) {
    let res = post(server, token, &format!("/openapi/v1/apps/{app}:run"), body).await;
    let status = res.status().as_u16();
    let streaming = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    if streaming {
        (status, sse::events(&text))
    } else {
        (
            status,
            vec![serde_json::from_str(&text).unwrap_or(Value::String(text))],
        )
    }
}

/// The inputs the chat example (01) requires.
fn chat_body(query: &str) -> Value {
    json!({"inputs": {"budget": "luxury"}, "query": query})
}

fn error_of(events: &[Value]) -> Value {
    let e = events.last().expect("an event");
    json!({"status": e["status"], "code": e["code"], "message": e["message"]})
}

fn expect(status: u16, code: &str, message: &str) -> Value {
    json!({"status": status, "code": code, "message": message})
}

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

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn run_streams_every_mode_and_keeps_the_422_rules() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let t = token(&server, "apps:run").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    let completion = server.import_example("02-completion-inputs.yml").await;
    let agent = server.import_example("03-agent-chat-tool.yml").await;
    let chatflow = server.import_example("04-chatflow-llm-ifelse.yml").await;
    let flow = server.import_example("05-workflow-llm.yml").await;

    let (status, events) = run(&server, &t, &chat, chat_body("hello")).await;
    assert_eq!(status, 200, "{events:?}");
    let names = sse::names(&events);
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_end"),
        "{names:?}"
    );
    let end = events.last().unwrap();
    assert!(end["task_id"].is_string() && end["conversation_id"].is_string());
    let answer: String = events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "echo: hello");
    // The conversation continues; the caller owns it.
    let conversation = end["conversation_id"].as_str().unwrap().to_owned();
    let (status, events) = run(
        &server,
        &t,
        &chat,
        json!({"inputs": {"budget": "luxury"}, "query": "again", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(
        (status, events.last().unwrap()["conversation_id"].as_str()),
        (200, Some(conversation.as_str()))
    );

    let before = upstream.chat_requests().len();
    let form = example_inputs(&server, &completion).await;
    let (status, events) = run(
        &server,
        &t,
        &completion,
        json!({"inputs": form, "auto_generate_name": true, "ignored": 1}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    assert_eq!(
        sse::names(&events).last().map(String::as_str),
        Some("message_end")
    );
    assert!(events.last().unwrap().get("conversation_id").is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        upstream.chat_requests().len(),
        before + 1,
        "completions are never named"
    );

    upstream.push(Script::Reply("plain answer".into()));
    let agent_inputs = example_inputs(&server, &agent).await;
    let (status, events) = run(
        &server,
        &t,
        &agent,
        json!({"inputs": agent_inputs, "query": "what day is it?"}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    assert!(
        sse::names(&events).contains(&"agent_message".to_owned()),
        "{events:?}"
    );
    assert_eq!(
        sse::names(&events).last().map(String::as_str),
        Some("message_end")
    );

    let chatflow_inputs = example_inputs(&server, &chatflow).await;
    let (status, events) = run(
        &server,
        &t,
        &chatflow,
        json!({"inputs": chatflow_inputs, "query": "hello there"}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    let names = sse::names(&events);
    assert_eq!(names.first().map(String::as_str), Some("workflow_started"));
    assert!(
        names.contains(&"message_end".to_owned())
            && names.contains(&"workflow_finished".to_owned())
    );
    assert!(events.iter().all(|e| e["task_id"].is_string()));

    let (status, events) = run(
        &server,
        &t,
        &flow,
        json!({"inputs": {"text": "Some text.", "sentences": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["data"]["status"].as_str()),
        (Some("workflow_finished"), Some("succeeded"))
    );
    assert!(events
        .iter()
        .all(|e| e["workflow_run_id"] == last["workflow_run_id"]));

    // The 422 rules, all `invalid_param`.
    let cases = [
        (&chat, json!({"inputs": {}}), "query_required_for_chat"),
        (&chat, chat_body("   "), "query_required_for_chat"),
        (&agent, json!({"inputs": {}}), "query_required_for_chat"),
        (
            &chatflow,
            json!({"inputs": {}, "query": null}),
            "query_required_for_chat",
        ),
        (
            &flow,
            json!({"inputs": {}, "query": ""}),
            "query_not_supported_for_workflow",
        ),
    ];
    for (app, body, message) in cases {
        let (status, out) = run(&server, &t, app, body.clone()).await;
        assert_eq!(
            (status, out[0].clone()),
            (422, expect(422, "invalid_param", message)),
            "{body}"
        );
    }
    let (status, out) = run(
        &server,
        &t,
        &chat,
        json!({"query": "x", "conversation_id": "nope"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(out[0]["message"], "Request validation failed");
    assert_eq!(
        out[0]["details"],
        json!([{"type": "missing", "loc": ["inputs"], "msg": "Field required"},
            {"type": "value_error", "loc": ["conversation_id"], "msg": "Value error, conversation_id must be a valid UUID"}])
    );
    // A body that is not JSON reads as `{}`.
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}:run")))
        .bearer_auth(&t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["details"][0]["loc"].clone()),
        (422, json!(["inputs"]))
    );
    // Inputs the app refuses are a 400, not a 500.
    let (status, out) = run(&server, &t, &completion, json!({"inputs": {"nope": 1}})).await;
    assert_eq!(
        (status, out[0]["code"].as_str()),
        (400, Some("bad_request")),
        "{out:?}"
    );

    // Stop always succeeds; files upload for the caller.
    let res = post(
        &server,
        &t,
        &format!(
            "/openapi/v1/apps/{chat}/tasks/{}:stop",
            uuid::Uuid::new_v4()
        ),
        json!({}),
    )
    .await;
    assert_eq!(status_json(res).await, (200, json!({"result": "success"})));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec())
            .file_name("a.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}/files")))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, file) = status_json(res).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(
        (file["name"].as_str(), file["size"].as_i64()),
        (Some("a.txt"), Some(5))
    );
    assert!(file.get("reference").is_some_and(Value::is_null));
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}/files")))
        .bearer_auth(&t)
        .multipart(reqwest::multipart::Form::new().text("user", "x"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_file_uploaded"))
    );
}

/// Values for every variable of an app's form (the first option of selects, else text).
async fn example_inputs(server: &TestServer, app: &str) -> Value {
    let t = token(server, "apps:read").await;
    let (_, body) = get(
        server,
        &t,
        &format!("/openapi/v1/apps/{app}?fields=parameters"),
    )
    .await;
    let mut inputs = serde_json::Map::new();
    for row in body["parameters"]["user_input_form"].as_array().unwrap() {
        let (kind, spec) = row.as_object().unwrap().iter().next().unwrap();
        let value = match kind.as_str() {
            "select" => spec["options"][0].clone(),
            "number" => json!(1),
            _ => json!("some text"),
        };
        inputs.insert(spec["variable"].as_str().unwrap().to_owned(), value);
    }
    Value::Object(inputs)
}

/// The seed's lesson: every domain error raised inside `:run` keeps its status, code and
/// message, before the stream starts (an error body) or after (an SSE `error` event).
#[tokio::test]
async fn run_error_table() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |c| {
        c.services.limits.app_max_active_requests = 1;
    })
    .await;
    let t = token(&server, "apps:run").await;
    let pool = server.db.store.pool();
    let chat = server.import_example("01-chat-simple.yml").await;
    let flow = server.import_example("05-workflow-llm.yml").await;
    let flow_run = |workflow_id: &str| json!({"inputs": {"text": "Some text.", "sentences": "1"}, "workflow_id": workflow_id});
    let sql = |text: &'static str, a: String, b: String| async move {
        sqlx::query(text)
            .bind(a)
            .bind(b)
            .execute(pool)
            .await
            .unwrap();
    };

    // The conditions: a draft version, an ended conversation, a broken app, an app whose
    // provider weir has no credentials for.
    let missing = uuid::Uuid::new_v4().to_string();
    let draft = uuid::Uuid::new_v4().to_string();
    sql(
        "INSERT INTO workflows (id, app_id, version, graph, features, environment_variables, \
         conversation_variables, created_at) VALUES ($1, $2, 'draft', '{}', '{}', '[]', '[]', 0)",
        draft.clone(),
        flow.clone(),
    )
    .await;
    let (_, events) = run(&server, &t, &chat, chat_body("x")).await;
    let ended = events.last().unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sql(
        "UPDATE conversations SET status = $1 WHERE id = $2",
        "completed".into(),
        ended.clone(),
    )
    .await;
    let broken = server.import_example("01-chat-simple.yml").await;
    let no_config =
        json!({"version": "0.6.0", "kind": "app", "app": {"mode": "chat", "name": "broken"}});
    sql(
        "UPDATE apps SET dsl = $1 WHERE id = $2",
        no_config.to_string(),
        broken.clone(),
    )
    .await;
    let unconfigured = server
        .import(&example("01-chat-simple.yml").replace("provider: openai", "provider: anthropic"))
        .await;
    let with_conversation =
        |id: &str| json!({"inputs": {"budget": "luxury"}, "query": "x", "conversation_id": id});

    let before_stream = [
        (
            &flow,
            flow_run(&missing),
            expect(
                404,
                "not_found",
                &ServiceError::WorkflowNotFound(missing.clone()).to_string(),
            ),
        ),
        (
            &flow,
            flow_run(&draft),
            expect(
                400,
                "bad_request",
                &ServiceError::DraftWorkflow(draft.clone()).to_string(),
            ),
        ),
        (
            &flow,
            flow_run("v1"),
            expect(
                400,
                "bad_request",
                &ServiceError::InvalidWorkflowId("v1".into()).to_string(),
            ),
        ),
        (
            &chat,
            with_conversation(&missing),
            expect(404, "not_found", service_messages::CONVERSATION_NOT_EXISTS),
        ),
        (
            &chat,
            with_conversation(&ended),
            expect(
                400,
                "conversation_completed",
                service_messages::CONVERSATION_COMPLETED,
            ),
        ),
        (
            &broken,
            chat_body("x"),
            expect(400, "app_unavailable", service_messages::APP_UNAVAILABLE),
        ),
        (
            &unconfigured,
            chat_body("x"),
            expect(
                400,
                "provider_not_initialize",
                "Model gpt-4o-mini credentials is not initialized.",
            ),
        ),
    ];
    for (app, body, want) in before_stream {
        let (status, out) = run(&server, &t, app, body.clone()).await;
        assert_eq!(
            (status, &out[0]),
            (want["status"].as_u64().unwrap() as u16, &want),
            "{body}"
        );
    }

    // Upstream failures after the stream started end it with an `error` event.
    let quota = json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}});
    let no_model = json!({"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error", "code": "model_not_found"}});
    let in_stream = [
        (
            Script::StatusBody(429, quota),
            400,
            "provider_quota_exceeded",
            Some(service_messages::PROVIDER_QUOTA_EXCEEDED),
        ),
        (
            Script::StatusBody(404, no_model),
            400,
            "model_currently_not_support",
            None,
        ),
        (Script::Status(429), 429, "rate_limit_error", None),
        (Script::Status(500), 400, "completion_request_error", None),
    ];
    for (script, status, code, message) in in_stream {
        upstream.push(script.clone());
        let (http_status, events) = run(&server, &t, &chat, chat_body("x")).await;
        assert_eq!(http_status, 200, "{script:?}");
        let last = events.last().unwrap();
        assert_eq!(last["event"], "error", "{script:?}: {events:?}");
        assert!(last["message_id"].is_string() && last["conversation_id"].is_string());
        let got = error_of(&events);
        assert_eq!(
            (got["status"].as_u64(), got["code"].as_str()),
            (Some(status), Some(code)),
            "{script:?}"
        );
        let text = got["message"].as_str().unwrap();
        assert!(
            message.is_none_or(|m| m == text) && !text.is_empty(),
            "{script:?}: {text}"
        );
    }

    // App concurrency: a second run while the first streams.
    upstream.push(Script::Slow(
        "one two three four".into(),
        Duration::from_millis(250),
    ));
    let first = post(
        &server,
        &t,
        &format!("/openapi/v1/apps/{chat}:run"),
        chat_body("slow"),
    )
    .await;
    assert_eq!(first.status(), 200);
    let (status, out) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, &out[0]),
        (429, &expect(429, "too_many_requests", "Too Many Requests"))
    );
    assert!(first.text().await.unwrap().contains("message_end"));

    // An unknown failure (the store loses a table mid-flight) is the generic 500, in the
    // stream or as the answer; the server keeps serving and recovers with the table.
    sqlx::query("ALTER TABLE messages RENAME TO messages_gone")
        .execute(pool)
        .await
        .unwrap();
    let (status, out) = run(&server, &t, &chat, chat_body("x")).await;
    let generic = expect(500, "internal_server_error", "Internal Server Error");
    if status == 200 {
        assert_eq!(error_of(&out), generic, "{out:?}");
    } else {
        assert_eq!((status, &out[0]), (500, &generic));
    }
    sqlx::query("ALTER TABLE messages_gone RENAME TO messages")
        .execute(pool)
        .await
        .unwrap();
    let (status, events) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, sse::names(&events).last().map(String::as_str)),
        (200, Some("message_end"))
    );
}

/// A handler panic on the `:run` path is the generic 500, and the server keeps serving.
#[tokio::test]
async fn a_panic_on_the_run_path_is_the_generic_500() {
    let upstream = FakeUpstream::start().await;
    let base = with_upstream(&upstream);
    let server = TestServer::start_with(Options {
        config: base.config,
        server: Box::new(|s| {
            s.map_stack(|stack| {
                stack.layer(
                    "panic_injector",
                    tower::util::MapRequestLayer::new(|req: http::Request<weir::layers::Body>| {
                        if req.headers().contains_key("x-test-panic") {
                            panic!("injected panic");
                        }
                        req
                    }),
                )
            })
        }),
        ..Options::default()
    })
    .await;
    let t = token(&server, "apps:run").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    let res = server
        .client
        .post(server.url(&format!("/openapi/v1/apps/{chat}:run")))
        .bearer_auth(&t)
        .header("x-test-panic", "1")
        .json(&chat_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(res).await,
        (
            500,
            expect(500, "internal_server_error", "Internal Server Error")
        )
    );
    let (status, events) = run(&server, &t, &chat, chat_body("x")).await;
    assert_eq!(
        (status, sse::names(&events).last().map(String::as_str)),
        (200, Some("message_end"))
    );
}

#[tokio::test]
async fn event_replay_reattaches_and_replays() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let t = token(&server, "apps:run").await;
    let flow = server.import_example("05-workflow-llm.yml").await;
    let chat = server.import_example("01-chat-simple.yml").await;
    upstream.push(Script::Slow(
        "alpha beta gamma delta epsilon".into(),
        Duration::from_millis(150),
    ));
    let mut first = post(
        &server,
        &t,
        &format!("/openapi/v1/apps/{flow}:run"),
        json!({"inputs": {"text": "x", "sentences": "1"}}),
    )
    .await;
    assert_eq!(first.status(), 200);
    // The first data frame names the run.
    let mut head = String::new();
    let started = loop {
        let chunk = first.chunk().await.unwrap().expect("a first frame");
        head.push_str(std::str::from_utf8(&chunk).unwrap());
        let complete = &head[..head.rfind("\n\n").map_or(0, |i| i + 2)];
        if let Some(e) = sse::events(complete).into_iter().next() {
            break e;
        }
    };
    assert_eq!(started["event"], "workflow_started");
    let run_id = started["workflow_run_id"].as_str().unwrap().to_owned();
    let events_path = format!("/openapi/v1/apps/{flow}/tasks/{run_id}/events");

    // A second connection follows the running run to its end.
    let res = server
        .client
        .get(server.url(&events_path))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let reattached = sse::events(&res.text().await.unwrap());
    let names = sse::names(&reattached);
    assert_eq!(
        names.last().map(String::as_str),
        Some("workflow_finished"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "text_chunk" || n == "node_finished"),
        "{names:?}"
    );
    assert!(reattached
        .iter()
        .all(|e| e["workflow_run_id"] == run_id.as_str()));
    let rest = first.text().await.unwrap();
    let original = sse::events(&format!("{head}{rest}"));
    assert_eq!(
        original.last(),
        reattached.last(),
        "both connections end alike"
    );

    // A finished run replays as exactly its `workflow_finished`.
    let (status, body) = {
        let res = server
            .client
            .get(server.url(&events_path))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    assert_eq!(status, 200);
    let replay = sse::events(&body);
    assert_eq!(sse::names(&replay), ["workflow_finished"]);
    let (a, b) = (&replay[0]["data"], &reattached.last().unwrap()["data"]);
    for key in ["id", "workflow_id", "status", "outputs", "total_steps"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["status"], "succeeded");

    // Someone else's run, an unknown run, a non-workflow app.
    let other = token(&server, "apps:run").await;
    let (status, body) = get(&server, &other, &events_path).await;
    assert_eq!(
        (status, body),
        (404, expect(404, "not_found", "Workflow run not found"))
    );
    let (status, _) = get(
        &server,
        &t,
        &format!(
            "/openapi/v1/apps/{flow}/tasks/{}/events",
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(
        &server,
        &t,
        &format!("/openapi/v1/apps/{chat}/tasks/{run_id}/events"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            422,
            expect(
                422,
                "invalid_param",
                "mode_not_supported_for_event_reconnect"
            )
        )
    );
    let (status, body) = get(
        &server,
        &t,
        &format!("{events_path}?include_state_snapshot=maybe"),
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("bool_parsing"))
    );
}

async fn import_dsl(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let ws = workspace(server).await;
    status_json(
        post(
            server,
            token,
            &format!("/openapi/v1/workspaces/{ws}/apps/imports"),
            body,
        )
        .await,
    )
    .await
}

fn parse_yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

#[tokio::test]
async fn dsl_round_trips_and_version_statuses() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    let writer = token(&server, "workspace:write,apps:read").await;
    for name in example_names() {
        let text = example(&name);
        let (status, first) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": text}),
        )
        .await;
        assert_eq!(status, 200, "{name}: {first}");
        let declared = weir_api::dsl::Dsl::declared_version(&example(&name)).unwrap_or_default();
        assert_eq!(
            first["status"],
            weir_api::dsl::import_status(&declared).as_str(),
            "{name}"
        );
        for key in [
            "id",
            "app_id",
            "app_mode",
            "current_dsl_version",
            "imported_dsl_version",
            "error",
        ] {
            assert!(first.get(key).is_some(), "{key}");
        }
        assert_eq!(first["current_dsl_version"], "0.6.0");
        let app = first["app_id"].as_str().unwrap();
        let (status, exported) =
            get(&server, &writer, &format!("/openapi/v1/apps/{app}/dsl")).await;
        assert_eq!(status, 200, "{exported}");
        assert!(exported.get("draft_hash").is_some());
        let yaml = exported["data"].as_str().unwrap().to_owned();
        // An export is always at weir's version, so it imports `completed`.
        let (status, second) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": yaml}),
        )
        .await;
        assert_eq!(
            (status, second["status"].as_str()),
            (200, Some("completed")),
            "{name}: {second}"
        );
        assert_eq!(second["app_mode"], first["app_mode"]);
        let again = get(
            &server,
            &writer,
            &format!(
                "/openapi/v1/apps/{}/dsl",
                second["app_id"].as_str().unwrap()
            ),
        )
        .await
        .1;
        assert_eq!(
            parse_yaml(&yaml),
            parse_yaml(again["data"].as_str().unwrap()),
            "{name} round-trips"
        );
        let original = parse_yaml(&example(&name));
        let exported = parse_yaml(&yaml);
        assert_eq!(exported["app"]["mode"], original["app"]["mode"]);
        assert_eq!(
            exported["workflow"]["graph"]["nodes"]
                .as_array()
                .map(Vec::len),
            original["workflow"]["graph"]["nodes"]
                .as_array()
                .map(Vec::len)
        );
    }

    // Version statuses.
    let base = example("01-chat-simple.yml");
    let with_version = |v: &str| {
        let doc = parse_yaml(&base);
        let mut doc = doc.as_object().unwrap().clone();
        doc.insert("version".into(), json!(v));
        serde_yaml::to_string(&doc).unwrap()
    };
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": with_version("0.5.0")}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("completed-with-warnings")),
        "{body}"
    );
    assert_eq!(body["imported_dsl_version"], "0.5.0");
    let (status, body) = import_dsl(&server, &writer, json!({"mode": "yaml-content", "yaml_content": with_version("0.7.0"), "name": "From the future"})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    assert!(body["app_id"].is_null());
    let ws = workspace(&server).await;
    let confirm = format!(
        "/openapi/v1/workspaces/{ws}/apps/imports/{}:confirm",
        body["id"].as_str().unwrap()
    );
    let (status, done) = status_json(post(&server, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("completed")),
        "{done}"
    );
    let app = done["app_id"].as_str().unwrap();
    assert_eq!(
        server.db.store.app(app).await.unwrap().unwrap().name,
        "From the future"
    );
    let (status, again) = status_json(post(&server, &writer, &confirm, json!({})).await).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (400, Some("failed")),
        "a pending import confirms once"
    );
    for bad in [
        with_version("zero"),
        "a: [unclosed".to_owned(),
        "version: '0.6.0'\napp: {mode: chat}\n".to_owned(),
    ] {
        let (status, body) = import_dsl(
            &server,
            &writer,
            json!({"mode": "yaml-content", "yaml_content": bad}),
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (400, Some("failed")),
            "{body}"
        );
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    // Overwrite a workflow app in place; refuse other modes.
    let flow = example("05-workflow-llm.yml");
    let (_, created) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": flow}),
    )
    .await;
    let id = created["app_id"].as_str().unwrap();
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": flow, "app_id": id, "name": "Renamed"}),
    )
    .await;
    assert_eq!((status, body["app_id"].as_str()), (200, Some(id)), "{body}");
    assert_eq!(
        server.db.store.app(id).await.unwrap().unwrap().name,
        "Renamed"
    );
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "yaml_content": base, "app_id": id}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("failed")));
    // Strict bodies and the URL mode (guarded like any outbound fetch).
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-content", "extra": true}),
    )
    .await;
    assert_eq!(status, 422);
    let kinds: Vec<_> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["extra_forbidden", "value_error"]);
    let (status, body) = import_dsl(
        &server,
        &writer,
        json!({"mode": "yaml-url", "yaml_url": "http://127.0.0.1:1/app.yml"}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (400, Some("failed")),
        "{body}"
    );
    // Scopes: importing needs `workspace:write`.
    let reader = token(&server, "apps:read,workspace:read").await;
    let (status, body) = import_dsl(
        &server,
        &reader,
        json!({"mode": "yaml-content", "yaml_content": base}),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn token_rate_limit_and_revocation() {
    let server = TestServer::start_with(Options {
        config: Box::new(|c| c.services.limits.openapi_rate_limit_per_token = "3/m".into()),
        ..Options::default()
    })
    .await;
    let t = token(&server, "full").await;
    for _ in 0..3 {
        assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 200);
    }
    let res = server
        .client
        .get(server.url("/openapi/v1/account"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        status_json(res).await,
        (
            429,
            expect(429, "too_many_requests", credentials::TOKEN_RATE_LIMITED)
        )
    );
    // Unknown tokens with a valid prefix are charged too; malformed ones are not.
    let unknown = format!("dfoa_{}", "y".repeat(43));
    for _ in 0..3 {
        assert_eq!(get(&server, &unknown, "/openapi/v1/account").await.0, 401);
    }
    assert_eq!(get(&server, &unknown, "/openapi/v1/account").await.0, 429);
    for _ in 0..5 {
        assert_eq!(get(&server, "nope", "/openapi/v1/account").await.0, 401);
    }
}

#[tokio::test]
async fn revocation_bites_at_once_here_and_within_the_cache_bound_elsewhere() {
    let upstream = FakeUpstream::start().await;
    let server = start(&upstream, |_| {}).await;
    // Revoking the presenting token bites at once.
    let t = token(&server, "full").await;
    let res = server
        .client
        .delete(server.url("/openapi/v1/account/sessions/self"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(res).await, (200, json!({"status": "revoked"})));
    assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 401);
    // A revocation elsewhere (another instance, the CLI) bites within the cache bound.
    let t = token(&server, "full").await;
    assert_eq!(get(&server, &t, "/openapi/v1/account").await.0, 200);
    let row = server
        .db
        .store
        .token_by_hash(&weir_api::util::sha256_hex(&t))
        .await
        .unwrap()
        .unwrap();
    server.db.store.revoke_token(&row.id).await.unwrap();
    let gone = common::eventually(credentials::AUTH_CACHE_TTL + Duration::from_secs(2), || {
        let (server, t) = (&server, &t);
        async move { (get(server, t, "/openapi/v1/account").await.0 == 401).then_some(()) }
    })
    .await;
    assert!(
        gone.is_some(),
        "revocation takes effect within the cache bound"
    );
}

#[tokio::test]
async fn account_and_workspaces() {
    let server = TestServer::start().await;
    let ws = workspace(&server).await;
    let full = token(&server, "full").await;
    let (status, body) = get(&server, &full, "/openapi/v1/account").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject_type"], "account");
    assert_eq!(body["account"]["name"], "test");
    assert_eq!(
        body["workspaces"],
        json!([{"id": ws, "name": "default", "role": "owner"}])
    );
    assert_eq!(body["default_workspace_id"], ws.as_str());
    let (status, body) = get(&server, &full, "/openapi/v1/workspaces").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"page": 1, "limit": 20, "total": 1, "has_more": false,
            "data": [{"id": ws, "name": "default", "role": "owner", "status": "normal", "current": true}]})
    );
    let (status, body) = get(&server, &full, "/openapi/v1/workspaces?limit=1&tag=x").await;
    assert_eq!(
        (status, body["details"][0]["type"].as_str()),
        (422, Some("extra_forbidden"))
    );
    // `/account` needs `full`; `/workspaces` needs `workspace:read`.
    let reader = token(&server, "workspace:read").await;
    assert_eq!(get(&server, &reader, "/openapi/v1/workspaces").await.0, 200);
    assert_eq!(
        get(&server, &reader, "/openapi/v1/account").await,
        (403, expect(403, "forbidden", "insufficient_scope"))
    );
    let apps = token(&server, "apps:read").await;
    assert_eq!(get(&server, &apps, "/openapi/v1/workspaces").await.0, 403);
}
