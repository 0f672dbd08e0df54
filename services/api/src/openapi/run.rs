//! Running apps: `POST /apps/{app_id}:run` (every mode, always streamed),
//! `POST /apps/{app_id}/tasks/{task_id}:stop`, and `GET /apps/{app_id}/tasks/{task_id}/events`
//! (re-attach to a running workflow run, or replay a finished one as its
//! `workflow_finished`). Runs go through the same runtime as the Service API, with the
//! `/openapi/v1` error contract.

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{body, Body, Surface};

use super::{app_guard, bearer, lenient_body, messages, unprocessable, Invalid};
use crate::credentials::scopes;
use crate::dsl::AppMode;
use crate::error::ServiceError;
use crate::request::{path_param, query_pairs};
use crate::service_api::{chat, workflows};
use crate::state::AppState;
use crate::util::canonical_uuid;
use crate::{handler, replay, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/openapi/v1/apps/{app_id}:run",
            bearer(scopes::APPS_RUN).generation(),
            handler(state, run),
        ),
        Route::new(
            Method::POST,
            "/openapi/v1/apps/{app_id}/tasks/{task_id}:stop",
            bearer(scopes::APPS_RUN),
            handler(state, stop),
        ),
        Route::new(
            Method::GET,
            "/openapi/v1/apps/{app_id}/tasks/{task_id}/events",
            bearer(scopes::APPS_RUN),
            handler(state, events),
        ),
    ]
}

/// The fields of a `:run` body after validation.
#[derive(Debug, Default)]
struct RunRequest {
    inputs: Map<String, Value>,
    query: Option<String>,
    files: Option<Vec<Value>>,
    conversation_id: Option<String>,
    auto_generate_name: bool,
    workflow_id: Option<String>,
}

/// Validates a `:run` body (unknown keys are ignored).
fn parse_run(body: &Map<String, Value>) -> Result<RunRequest, weir_layers::HttpError> {
    let mut invalid = Invalid::default();
    let mut out = RunRequest {
        auto_generate_name: true,
        ..RunRequest::default()
    };
    match body.get("inputs") {
        None => invalid.missing("inputs"),
        Some(Value::Object(m)) => out.inputs = m.clone(),
        Some(_) => invalid.push(
            "dict_type",
            &["inputs"],
            "Input should be a valid dictionary",
        ),
    }
    out.query = invalid.string(body, "query").map(str::to_owned);
    match body.get("files") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => out.files = Some(a.clone()),
        Some(_) => invalid.push("list_type", &["files"], "Input should be a valid list"),
    }
    if let Some(raw) = invalid.string(body, "conversation_id") {
        let raw = raw.trim();
        if !raw.is_empty() {
            match canonical_uuid(raw) {
                Some(id) => out.conversation_id = Some(id),
                None => invalid.push(
                    "value_error",
                    &["conversation_id"],
                    "Value error, conversation_id must be a valid UUID",
                ),
            }
        }
    }
    match body.get("auto_generate_name") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.auto_generate_name = *b,
        Some(_) => invalid.push(
            "bool_type",
            &["auto_generate_name"],
            "Input should be a valid boolean",
        ),
    }
    out.workflow_id = invalid
        .string(body, "workflow_id")
        .filter(|w| !w.trim().is_empty())
        .map(str::to_owned);
    if let Some(ws) = invalid.string(body, "workspace_id") {
        if !ws.trim().is_empty() && canonical_uuid(ws).is_none() {
            invalid.push(
                "uuid_parsing",
                &["workspace_id"],
                "Input should be a valid UUID, invalid character",
            );
        }
    }
    invalid.finish()?;
    Ok(out)
}

/// The Service API body the runtime reads, built from a validated `:run` request.
fn runtime_body(r: RunRequest, mode: AppMode) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("inputs".into(), Value::Object(r.inputs));
    body.insert("response_mode".into(), "streaming".into());
    if let Some(files) = r.files {
        body.insert("files".into(), Value::Array(files));
    }
    if mode != AppMode::Workflow {
        body.insert("query".into(), r.query.unwrap_or_default().into());
        if let Some(c) = r.conversation_id {
            body.insert("conversation_id".into(), c.into());
        }
        let auto_name = r.auto_generate_name && mode != AppMode::Completion;
        body.insert("auto_generate_name".into(), auto_name.into());
    }
    if let Some(w) = r.workflow_id {
        body.insert("workflow_id".into(), w.into());
    }
    body
}

async fn run(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let request = parse_run(&lenient_body(req).await?)?;
    let app = call.app.clone();
    let query_blank = request.query.as_deref().is_none_or(|q| q.trim().is_empty());
    match app.mode {
        AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat if query_blank => {
            return Err(unprocessable(messages::QUERY_REQUIRED_FOR_CHAT).into())
        }
        AppMode::Workflow if request.query.is_some() => {
            return Err(unprocessable(messages::QUERY_NOT_SUPPORTED_FOR_WORKFLOW).into())
        }
        _ => {}
    }
    let user = call.end_user(&state).await?;
    let pinned = request.workflow_id.clone();
    let body = runtime_body(request, app.mode);
    tracing::info!(audit = true, event = "app.run.openapi", app_id = %app.row.id,
        tenant_id = %app.row.workspace_id, caller_kind = "end_user", mode = app.mode.as_str(),
        surface = "apps");
    let surface = Surface::OpenApi;
    match app.mode {
        AppMode::Chat | AppMode::AgentChat => {
            chat::chat_turn(state, app, user, body, surface.into()).await
        }
        AppMode::Completion => chat::completion_turn(state, app, user, body, surface.into()).await,
        AppMode::AdvancedChat => {
            workflows::advanced_chat(state, app, user, body, surface.into()).await
        }
        AppMode::Workflow => {
            workflows::workflow_turn(state, app, user, body, pinned, surface.into()).await
        }
        #[allow(unreachable_patterns)]
        _ => Err(unprocessable(messages::MODE_NOT_RUNNABLE).into()),
    }
}

async fn stop(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let task_id = path_param(&req, "task_id");
    state.tasks().stop_any(&task_id, &call.app.row.id).await;
    Ok(body::json(
        http::StatusCode::OK,
        &json!({"result": "success"}),
    ))
}

async fn events(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let pairs = query_pairs(&req);
    let mut invalid = Invalid::default();
    // weir has no paused runs yet: both switches are accepted and change nothing.
    invalid.boolean(&pairs, "include_state_snapshot", false);
    invalid.boolean(&pairs, "continue_on_pause", false);
    invalid.finish()?;
    if !call.app.mode.is_workflow_based() {
        return Err(unprocessable(messages::MODE_NOT_SUPPORTED_FOR_EVENT_RECONNECT).into());
    }
    let user = call.end_user(&state).await?;
    let not_found = || ServiceError::not_found(messages::WORKFLOW_RUN_NOT_FOUND);
    let run_id = canonical_uuid(&path_param(&req, "task_id")).ok_or_else(not_found)?;
    let run = state
        .store()
        .run(&call.app.row.id, &run_id)
        .await?
        .filter(|r| r.created_by_end_user_id.as_deref() == Some(user.id.as_str()))
        .ok_or_else(not_found)?;
    let after = replay::last_event_id(&req);
    let session = user.session_id.clone();
    Ok(replay::reattach(
        state,
        run,
        session,
        after,
        Surface::OpenApi,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bodies_are_validated_without_echo() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let err =
            parse_run(&body(json!({"query": 5, "conversation_id": "nope-secret"}))).unwrap_err();
        let kinds: Vec<_> = err.details().iter().map(|d| d.kind.clone()).collect();
        assert_eq!(kinds, ["missing", "string_type", "value_error"]);
        assert!(!serde_json::to_string(err.details())
            .unwrap()
            .contains("nope-secret"));
        let ok = parse_run(&body(
            json!({"inputs": {}, "conversation_id": "  ", "extra": 1}),
        ))
        .unwrap();
        assert!(ok.conversation_id.is_none());
        assert!(ok.auto_generate_name);
    }

    #[test]
    fn completion_never_names_its_conversation() {
        let r = RunRequest {
            auto_generate_name: true,
            ..RunRequest::default()
        };
        let b = runtime_body(r, AppMode::Completion);
        assert_eq!(b["auto_generate_name"], false);
        assert_eq!(b["query"], "");
        let w = runtime_body(RunRequest::default(), AppMode::Workflow);
        assert!(w.get("query").is_none() && w.get("auto_generate_name").is_none());
    }
}
