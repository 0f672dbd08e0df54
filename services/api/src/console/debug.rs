//! Debug and preview: the configuration page's chat and text generation over SSE, with the
//! unsaved configuration the page sends, as the logged-in account, and their stop calls.
//! Conversations made here are the account's (`from_source: console`); the Service API
//! and the web app never list them.

use http::{Method, Request};
use serde_json::Value;
use weir_layers::{Body, BoxError, Surface};

use super::config::check_model_config;
use super::{caller_and_app, object_or_empty, require_modes, Caller, USER, USER_GENERATION};
use crate::dsl::AppMode;
use crate::error::ServiceError;
use crate::reply::success;
use crate::request::path_param;
use crate::runtime::chat::Origin;
use crate::runtime::config::AppConfig;
use crate::runtime::LoadedApp;
use crate::service_api::chat::{chat_turn, completion_turn, Serving};
use crate::state::AppState;
use crate::store::EndUserRow;
use crate::{handler, HandlerResult, Route};

/// The end-user type of the console's own conversations (one per account and app).
pub const CONSOLE_USER: &str = "console";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let id = &["app_id"];
    vec![
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/chat-messages",
            USER_GENERATION,
            handler(state, chat),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/completion-messages",
            USER_GENERATION,
            handler(state, completion),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/chat-messages/{task_id}/stop",
            USER,
            handler(state, stop_chat),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/completion-messages/{task_id}/stop",
            USER,
            handler(state, stop_completion),
        )
        .uuids(id),
    ]
}

/// The account's own end user of an app (its debugger conversations belong to it).
pub async fn console_user(
    state: &AppState,
    caller: &Caller,
    app: &LoadedApp,
) -> Result<EndUserRow, BoxError> {
    Ok(state
        .end_user_of(
            CONSOLE_USER,
            &app.row.workspace_id,
            &app.row.id,
            Some(&caller.account_id),
        )
        .await?)
}

/// How the debugger serves a turn: as the account, with the page's configuration.
async fn serving(
    state: &AppState,
    caller: &Caller,
    app: &LoadedApp,
    body: &serde_json::Map<String, Value>,
) -> Result<Serving, BoxError> {
    let raw = body
        .get("model_config")
        .and_then(Value::as_object)
        .ok_or_else(|| ServiceError::invalid("model_config is required"))?;
    let checked = check_model_config(state, caller, app.mode, raw).await?;
    let config =
        AppConfig::from_model_config(app.mode, &checked).ok_or(ServiceError::AppUnavailable)?;
    Ok(Serving {
        surface: Surface::Console,
        origin: Origin {
            account_id: Some(caller.account_id.clone()),
            ..Default::default()
        },
        config: Some(config),
    })
}

async fn chat(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &[AppMode::Chat, AppMode::AgentChat])?;
    let body = object_or_empty(req).await?;
    let serving = serving(&state, &caller, &app, &body).await?;
    let user = console_user(&state, &caller, &app).await?;
    chat_turn(state, app, user, body, serving).await
}

async fn completion(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &[AppMode::Completion])?;
    let body = object_or_empty(req).await?;
    let serving = serving(&state, &caller, &app, &body).await?;
    let user = console_user(&state, &caller, &app).await?;
    completion_turn(state, app, user, body, serving).await
}

async fn stop(state: AppState, req: Request<Body>, modes: &[AppMode]) -> HandlerResult {
    let task_id = path_param(&req, "task_id");
    let (caller, app) = caller_and_app(&state, &req).await?;
    require_modes(&app, modes)?;
    let user = console_user(&state, &caller, &app).await?;
    state
        .tasks()
        .stop(&task_id, &app.row.id, Some(&user.id))
        .await;
    Ok(success())
}

async fn stop_chat(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, &super::CHAT_MODES).await
}

async fn stop_completion(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, &[AppMode::Completion]).await
}
