//! The `/openapi/v1` surface over real HTTP: meta routes and the client version gate; the
//! bearer guards in the contract's order; apps list and describe; `:run` for every mode
//! with its 422 rules; the seed's error table (every domain error on the `:run` path with its
//! exact status, code and message, unknown errors and panics as the generic 500); event
//! replay; files; DSL export/import round trips and version statuses; the per-token rate
//! limit and revocation; account and workspaces.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{example, example_names, sse, status_json, with_upstream, Options, TestServer};
use serde_json::{json, Value};
use weir_api::credentials;
use weir_api::error::{messages as service_messages, ServiceError};

mod dsl;
mod replay;
mod runs;
mod surface;
mod tokens;

/// A server on the fake upstream whose token limit does not get in the way.
async fn start(
    upstream: &FakeUpstream,
    adjust: impl FnOnce(&mut weir::Config) + 'static,
) -> TestServer {
    let opts = with_upstream(upstream).also(move |c| {
        c.services.limits.openapi_rate_limit_per_token = "100000/m".into();
        adjust(c);
    });
    TestServer::start_with(opts).await
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

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
