//! Workflow endpoints: `POST /workflows/run` (and the pinned `/workflows/{id}/run`), run
//! detail, stop, logs; and the chatflow (advanced-chat) branch of `POST /chat-messages`.

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, AuthKind, Body, BoxError, RouteMeta, Surface};

use super::chat::{
    blocking_json, body_user, files_list, inputs_object, open_conversation, streaming, ChatBody,
    Serving,
};
use crate::context::{current_app, end_user, int_param, required_user};
use crate::dsl::AppMode;
use crate::engine::Workflow;
use crate::error::{messages, ServiceError};
use crate::events::{self, FlowEnvelope};
use crate::files::FileTable;
use crate::request::{json_object, path_param, query_pairs, query_param, user_string};
use crate::runtime::files::{self, FileUploadConfig, ResolvedFile};
use crate::runtime::workflow::{self as flow, ChatPart, FlowTurn, StreamSink};
use crate::runtime::{chat::new_envelope, LoadedApp};
use crate::state::AppState;
use crate::store::{EndUserRow, RunLogFilter};
use crate::util::{canonical_uuid, new_id};
use crate::{handler, HandlerResult, Route};
use weir_core::inputs;

const GENERATE: RouteMeta = RouteMeta::auth(AuthKind::AppKey).generation();
const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/v1/workflows/run",
            GENERATE,
            handler(state, run_latest),
        ),
        Route::new(
            Method::POST,
            "/v1/workflows/{workflow_id}/run",
            GENERATE,
            handler(state, run_pinned),
        ),
        Route::new(
            Method::GET,
            "/v1/workflows/run/{workflow_run_id}",
            APP_KEY,
            handler(state, detail),
        ),
        Route::new(
            Method::POST,
            "/v1/workflows/tasks/{task_id}/stop",
            APP_KEY,
            handler(state, stop),
        ),
        Route::new(
            Method::GET,
            "/v1/workflow/{workflow_run_id}/events",
            APP_KEY,
            handler(state, events),
        ),
        Route::new(
            Method::GET,
            "/v1/workflows/logs",
            APP_KEY,
            handler(state, logs),
        ),
    ]
}

/// The `version` of a workflow row that is a draft (never runnable by a pinned id).
pub const DRAFT_VERSION: &str = "draft";

/// The workflow version to run: the published one, or a pinned id of this app.
pub async fn version(
    state: &AppState,
    app: &LoadedApp,
    pinned: Option<&str>,
) -> Result<Arc<Workflow>, BoxError> {
    let Some(raw) = pinned else {
        return match (&app.workflow, &app.row.workflow_id) {
            (Some(w), _) => Ok(w.clone()),
            (None, None) => Err(ServiceError::WorkflowNotPublished.into()),
            (None, Some(_)) => Err(ServiceError::AppUnavailable.into()),
        };
    };
    let id = canonical_uuid(raw).ok_or_else(|| ServiceError::InvalidWorkflowId(raw.to_owned()))?;
    if let Some(w) = app.workflow.as_ref().filter(|w| w.id == id) {
        return Ok(w.clone());
    }
    let row = state
        .store()
        .workflow(&id)
        .await?
        .filter(|w| w.app_id == app.row.id)
        .ok_or_else(|| ServiceError::WorkflowNotFound(raw.to_owned()))?;
    if row.version == DRAFT_VERSION {
        return Err(ServiceError::DraftWorkflow(raw.to_owned()).into());
    }
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    let mut environment = parse(&row.environment_variables);
    state
        .secrets()
        .open_variables(&mut environment)
        .map_err(|e| ServiceError::BadRequest(e.to_string().into()))?;
    let wf = Workflow::compile(
        &row.id,
        &parse(&row.graph),
        &environment,
        &parse(&row.conversation_variables),
    )?;
    Ok(Arc::new(wf))
}

/// Validates start inputs; file inputs become file objects, registered in `table`.
pub async fn start_inputs(
    state: &AppState,
    wf: &Workflow,
    raw: &Map<String, Value>,
    user: &EndUserRow,
    table: &FileTable,
) -> Result<Map<String, Value>, BoxError> {
    let mut values = inputs::validate(&wf.form, raw)?;
    for f in wf
        .form
        .iter()
        .filter(|f| f.kind == "file" || f.kind == "file-list")
    {
        let Some(v) = values.get(&f.variable).cloned() else {
            continue;
        };
        let list = match &v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let resolved =
            files::resolve(state, &FileUploadConfig::default(), &list, user, true).await?;
        let objects: Vec<Value> = resolved.iter().map(|f| table.register(f)).collect();
        let value = if f.kind == "file" {
            objects.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(objects)
        };
        values.insert(f.variable.clone(), value);
    }
    Ok(values)
}

/// Resolves `files` of a run into `sys.files`.
pub async fn system_files(
    state: &AppState,
    app: &LoadedApp,
    maps: &[Value],
    user: &EndUserRow,
) -> Result<Vec<ResolvedFile>, BoxError> {
    let cfg = FileUploadConfig::from_features(app.features());
    if !cfg.enabled || maps.is_empty() {
        return Ok(Vec::new());
    }
    Ok(files::resolve(state, &cfg, maps, user, false).await?)
}

fn run_data(turn_run: &str, wf: &str, s: &crate::engine::RunSummary) -> Value {
    json!({"id": turn_run, "workflow_id": wf, "status": s.status, "outputs": s.outputs, "error": s.error,
        "elapsed_time": s.elapsed_time, "total_tokens": s.total_tokens, "total_steps": s.total_steps,
        "created_at": s.created_at, "finished_at": s.finished_at})
}

/// Starts a workflow-family run, streaming (its events also go to the run log, for
/// re-attaching) or blocking.
pub async fn start(
    state: AppState,
    turn: FlowTurn,
    stream: bool,
    surface: Surface,
) -> HandlerResult {
    let guard = state.tasks().register(
        turn.envelope.task_id(),
        &turn.app.row.id,
        if turn.chat.is_some() {
            Some(&turn.end_user.id)
        } else {
            None
        },
    );
    let flag = guard.flag.clone();
    if stream {
        let (tx, body) = state.event_channel(surface);
        let log =
            crate::runtime::runlog::RunLog::open(state.coord(), &turn.run_id, &turn.app.row.id);
        let sink = StreamSink::new(
            std::sync::Arc::new(tx.clone()),
            turn.envelope.clone(),
            Some(log),
            turn.origin.simple,
        );
        let keys = turn.envelope.error_keys();
        events::spawn_producer(tx, keys, async move {
            let _guard = guard;
            flow::run(state.runtime().clone(), turn, Some(sink), flag)
                .await
                .map(|_| ())
        });
        return Ok(weir_layers::sse::response(body));
    }
    let chat = turn.chat.as_ref().map(|c| c.conversation_id.clone());
    let (run_id, wf_id, mode, envelope) = (
        turn.run_id.clone(),
        turn.workflow.id.clone(),
        turn.app.row.mode.clone(),
        turn.envelope.clone(),
    );
    // Boxed: the run is a large future, and spawn would copy it by value.
    let task = tokio::spawn(Box::pin(async move {
        let _guard = guard;
        flow::run(state.runtime().clone(), turn, None, flag).await
    }));
    let result = task.await??;
    let s = &result.summary;
    match (&envelope, chat) {
        (FlowEnvelope::Chat { chat: env, .. }, Some(conversation_id)) => {
            if s.status == "failed" {
                return Err(ServiceError::invalid(format!(
                    "Run failed: {}",
                    s.error.clone().unwrap_or_default()
                ))
                .into());
            }
            Ok(blocking_json(
                &json!({"event": "message", "task_id": env.task_id, "id": env.message_id,
                "message_id": env.message_id, "conversation_id": conversation_id, "mode": mode,
                "answer": s.answer, "metadata": result.metadata, "created_at": env.created_at}),
            ))
        }
        _ => Ok(blocking_json(
            &json!({"task_id": envelope.task_id(), "workflow_run_id": run_id, "data": run_data(&run_id, &wf_id, s)}),
        )),
    }
}

async fn run_workflow(
    state: AppState,
    req: Request<Body>,
    pinned: Option<String>,
) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = body_user(&state, &app, &body).await?;
    if app.mode != AppMode::Workflow {
        return Err(ServiceError::NotWorkflowApp.into());
    }
    workflow_turn(state, app, user, body, pinned, Surface::ServiceApi.into()).await
}

/// A workflow run from a request body (`inputs`, `response_mode`, `files`) of a caller
/// already known, on the published version or the `pinned` one.
pub async fn workflow_turn(
    state: AppState,
    app: Arc<LoadedApp>,
    user: EndUserRow,
    body: Map<String, Value>,
    pinned: Option<String>,
    serving: Serving,
) -> HandlerResult {
    let raw = inputs_object(&body)?;
    let stream = streaming(&body)?;
    let maps = files_list(&body)?;
    let wf = version(&state, &app, pinned.as_deref()).await?;
    let file_table = Arc::new(FileTable::default());
    let inputs = start_inputs(&state, &wf, &raw, &user, &file_table).await?;
    let files = system_files(&state, &app, &maps, &user).await?;
    let run_id = new_id();
    let turn = FlowTurn {
        file_table,
        envelope: FlowEnvelope::Workflow {
            run_id: run_id.clone(),
            task_id: uuid::Uuid::new_v4().to_string(),
        },
        app,
        workflow: wf,
        end_user: user,
        inputs,
        files,
        chat: None,
        run_id,
        origin: serving.origin,
    };
    start(state, turn, stream, serving.surface).await
}

async fn run_latest(state: AppState, req: Request<Body>) -> HandlerResult {
    run_workflow(state, req, None).await
}

async fn run_pinned(state: AppState, req: Request<Body>) -> HandlerResult {
    let pinned = path_param(&req, "workflow_id");
    run_workflow(state, req, Some(pinned)).await
}

/// `POST /chat-messages` for a chatflow app (mode and `user` already checked).
pub async fn advanced_chat(
    state: AppState,
    app: Arc<LoadedApp>,
    user: EndUserRow,
    body: Map<String, Value>,
    serving: Serving,
) -> HandlerResult {
    let ChatBody {
        query,
        inputs: raw,
        stream,
        conversation_id: conv_id,
        files: maps,
        auto_generate_name: auto_name,
    } = ChatBody::parse(&body)?;
    let pinned = match body.get("workflow_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(ServiceError::InvalidWorkflowId(other.to_string()).into()),
    };
    let conversation = open_conversation(&state, &app, &user, conv_id.as_deref()).await?;
    let wf = version(&state, &app, pinned.as_deref()).await?;
    let file_table = Arc::new(FileTable::default());
    let inputs = start_inputs(&state, &wf, &raw, &user, &file_table).await?;
    let files = system_files(&state, &app, &maps, &user).await?;
    let conversation_id = conversation.as_ref().map_or_else(new_id, |c| c.id.clone());
    let run_id = new_id();
    let turn = FlowTurn {
        file_table,
        envelope: FlowEnvelope::Chat {
            chat: new_envelope(Some(conversation_id.clone())),
            run_id: run_id.clone(),
        },
        app,
        workflow: wf,
        end_user: user,
        inputs,
        files,
        chat: Some(ChatPart {
            query,
            conversation,
            conversation_id,
            auto_generate_name: auto_name,
        }),
        run_id,
        origin: serving.origin,
    };
    start(state, turn, stream, serving.surface).await
}

async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "workflow_run_id");
    let app = current_app(&state, &req).await?;
    if !app.mode.is_workflow_based() {
        return Err(ServiceError::NotWorkflowApp.into());
    }
    let not_found = || ServiceError::not_found(messages::WORKFLOW_RUN_NOT_FOUND);
    let id = canonical_uuid(&id).ok_or_else(not_found)?;
    let r = state
        .store()
        .run(&app.row.id, &id)
        .await?
        .ok_or_else(not_found)?;
    let outputs: Value = r
        .outputs
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(json!({}));
    Ok(body::json(
        StatusCode::OK,
        &json!({"id": r.id, "workflow_id": r.workflow_id, "status": r.status, "inputs": r.inputs, "outputs": outputs,
            "error": r.error, "total_steps": r.total_steps, "total_tokens": r.total_tokens, "created_at": r.created_at,
            "finished_at": r.finished_at, "elapsed_time": r.elapsed_time}),
    ))
}

/// Re-attaches to a run of the key's app that `user` started (see [`crate::replay`]).
async fn events(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    if !app.mode.is_workflow_based() {
        return Err(ServiceError::NotWorkflowApp.into());
    }
    let q = query_pairs(&req);
    let user = required_user(query_param(&q, "user"))?;
    let user = crate::context::end_user(&state, &app, Some(&user)).await?;
    let not_found = || ServiceError::not_found(messages::WORKFLOW_RUN_NOT_FOUND);
    let id = canonical_uuid(&path_param(&req, "workflow_run_id")).ok_or_else(not_found)?;
    let run = state
        .store()
        .run(&app.row.id, &id)
        .await?
        .filter(|r| r.created_by_end_user_id.as_deref() == Some(user.id.as_str()))
        .ok_or_else(not_found)?;
    let after = crate::replay::last_event_id(&req);
    let session = user.session_id.clone();
    Ok(crate::replay::reattach(
        state,
        run,
        session,
        after,
        Surface::ServiceApi,
    ))
}

async fn stop(state: AppState, req: Request<Body>) -> HandlerResult {
    let task_id = path_param(&req, "task_id");
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = required_user(user_string(body.get("user")))?;
    let _user = end_user(&state, &app, Some(&user)).await?;
    if app.mode != AppMode::Workflow {
        return Err(ServiceError::NotWorkflowApp.into());
    }
    state.tasks().stop(&task_id, &app.row.id, None).await;
    Ok(body::json(StatusCode::OK, &json!({"result": "success"})))
}

fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

async fn logs(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let page = int_param(&q, "page", 1, 1, 99_999)?;
    let limit = int_param(&q, "limit", 20, 1, 100)?;
    let status = query_param(&q, "status").filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !matches!(
            s.as_str(),
            "succeeded" | "failed" | "stopped" | "partial-succeeded"
        ) {
            return Err(
                ServiceError::invalid("status must be one of succeeded, failed, stopped").into(),
            );
        }
    }
    if let Some(email) = query_param(&q, "created_by_account").filter(|s| !s.is_empty()) {
        return Err(ServiceError::invalid(format!("Account not found: {email}")).into());
    }
    let time = |key: &str| -> Result<Option<i64>, ServiceError> {
        match query_param(&q, key).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(t) => parse_time(&t)
                .map(Some)
                .ok_or_else(|| ServiceError::invalid(format!("{key} must be an ISO-8601 time"))),
        }
    };
    let filter = RunLogFilter {
        status,
        keyword: query_param(&q, "keyword").filter(|s| !s.is_empty()),
        before: time("created_at__before")?,
        after: time("created_at__after")?,
        session_id: query_param(&q, "created_by_end_user_session_id").filter(|s| !s.is_empty()),
    };
    let (rows, total) = if app.mode == AppMode::Workflow {
        state
            .store()
            .run_logs(&app.row.id, &filter, page, limit)
            .await?
    } else {
        (Vec::new(), 0)
    };
    let data: Vec<Value> = rows
        .iter()
        .map(|l| {
            let r = &l.run;
            json!({
                "id": r.id,
                "workflow_run": {"id": r.id, "version": r.workflow_id, "status": r.status, "triggered_from": "app-run",
                    "error": r.error, "elapsed_time": r.elapsed_time, "total_tokens": r.total_tokens,
                    "total_steps": r.total_steps, "created_at": r.created_at, "finished_at": r.finished_at,
                    "exceptions_count": r.exceptions_count},
                "details": null,
                "created_from": "service-api",
                "created_by_role": "end_user",
                "created_by_account": null,
                "created_by_end_user": {"id": r.created_by_end_user_id, "type": "service-api", "is_anonymous": l.is_anonymous, "session_id": l.session_id},
                "created_at": r.created_at,
            })
        })
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"page": page, "limit": limit, "total": total, "has_more": total > page * limit, "data": data}),
    ))
}
