//! Generation in the web app: chat (chat, agent-chat, chatflow), completion and workflow
//! runs with their stop calls, and "more like this" for completions. Events use the simple
//! format (no usage in `message_end`, node events without inputs and outputs); new
//! conversations keep their first words as name until the page asks for a title.

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError, Surface};

use super::{visitor, PASSPORT, PASSPORT_GENERATION};
use crate::dsl::AppMode;
use crate::error::{messages, ConsoleError, ServiceError};
use crate::reply::success;
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::runtime::chat::Origin;
use crate::runtime::LoadedApp;
use crate::service_api::chat::{chat_turn, completion_turn, Serving};
use crate::service_api::workflows::{advanced_chat, workflow_turn};
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let post = |p: &'static str, meta, h| Route::new(Method::POST, p, meta, h);
    vec![
        post(
            "/api/chat-messages",
            PASSPORT_GENERATION,
            handler(state, chat),
        ),
        post(
            "/api/chat-messages/{task_id}/stop",
            PASSPORT,
            handler(state, stop_chat),
        ),
        post(
            "/api/completion-messages",
            PASSPORT_GENERATION,
            handler(state, completion),
        ),
        post(
            "/api/completion-messages/{task_id}/stop",
            PASSPORT,
            handler(state, stop_completion),
        ),
        post(
            "/api/workflows/run",
            PASSPORT_GENERATION,
            handler(state, run_workflow),
        ),
        post(
            "/api/workflows/tasks/{task_id}/stop",
            PASSPORT,
            handler(state, stop_workflow),
        ),
        Route::new(
            Method::GET,
            "/api/messages/{message_id}/more-like-this",
            PASSPORT_GENERATION,
            handler(state, more_like_this),
        )
        .uuids(&["message_id"]),
    ]
}

/// How the web app is served: the simple event format.
fn web() -> Serving {
    Serving {
        surface: Surface::WebApp,
        origin: Origin {
            simple: true,
            ..Default::default()
        },
        config: None,
    }
}

/// 400 `not_chat_app` unless the app chats.
pub fn require_chat(app: &LoadedApp) -> Result<(), ServiceError> {
    crate::context::require_chat(app)
}

fn require_completion(app: &LoadedApp) -> Result<(), ConsoleError> {
    (app.mode == AppMode::Completion)
        .then_some(())
        .ok_or(ConsoleError::NotCompletionApp)
}

fn require_workflow(app: &LoadedApp) -> Result<(), ServiceError> {
    (app.mode == AppMode::Workflow)
        .then_some(())
        .ok_or(ServiceError::NotWorkflowApp)
}

async fn chat(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let mut body = json_object(req).await?;
    require_chat(&app)?;
    // The page names a new conversation itself once the answer is in.
    body.insert("auto_generate_name".into(), Value::Bool(false));
    if app.mode == AppMode::AdvancedChat {
        return advanced_chat(state, app, user, body, web()).await;
    }
    chat_turn(state, app, user, body, web()).await
}

async fn completion(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let body = json_object(req).await?;
    require_completion(&app)?;
    completion_turn(state, app, user, body, web()).await
}

async fn run_workflow(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let mut body = json_object(req).await?;
    require_workflow(&app)?;
    // The web app streams runs whatever it asks.
    body.insert("response_mode".into(), json!("streaming"));
    workflow_turn(state, app, user, body, None, web()).await
}

async fn stop(
    state: AppState,
    req: Request<Body>,
    require: fn(&LoadedApp) -> Result<(), BoxError>,
) -> HandlerResult {
    let task_id = path_param(&req, "task_id");
    let (app, user) = visitor(&state, &req).await?;
    require(&app)?;
    state
        .tasks()
        .stop(&task_id, &app.row.id, Some(&user.id))
        .await;
    Ok(success())
}

async fn stop_chat(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, |a| Ok(require_chat(a)?)).await
}

async fn stop_completion(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, |a| Ok(require_completion(a)?)).await
}

async fn stop_workflow(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, |a| Ok(require_workflow(a)?)).await
}

/// Another completion from the same inputs as an earlier one.
async fn more_like_this(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id").to_lowercase();
    let stream = query_param(&query_pairs(&req), "response_mode").as_deref() == Some("streaming");
    let (app, user) = visitor(&state, &req).await?;
    require_completion(&app)?;
    let enabled = app
        .dsl
        .pointer("/model_config/more_like_this/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !enabled {
        return Err(ConsoleError::MoreLikeThisDisabled.into());
    }
    let msg = state
        .store()
        .message(&app.row.id, &user.id, &id)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::MESSAGE_NOT_EXISTS))?;
    let mut body = Map::new();
    body.insert(
        "inputs".into(),
        serde_json::from_str(&msg.inputs).unwrap_or_else(|_| json!({})),
    );
    body.insert("query".into(), json!(msg.query));
    body.insert(
        "response_mode".into(),
        json!(if stream { "streaming" } else { "blocking" }),
    );
    completion_turn(state, app, user, body, web()).await
}
