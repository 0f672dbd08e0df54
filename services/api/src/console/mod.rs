//! The console API (`/console/api/…`) that Dify's own web frontend calls: accounts and
//! sessions ([`auth`], [`account`]), apps ([`apps`], [`sites`], [`tags`], [`files`]), the
//! easy-UI configuration, model selector, debugging and logs ([`models`], [`config`],
//! [`debug`], [`logs`], [`stats`]), and the static answers of features weir does not have
//! ([`statics`]).
//!
//! Every user route takes the session cookie and, unless it says otherwise, the CSRF double
//! submit (the auth layer checks both; see `weir_layers::auth`). Handlers then apply Dify's
//! role gates and the app lookup of its §1.5: an app of another workspace is 404
//! `app_not_found`, as is one of a mode the route does not serve.

pub mod account;
pub mod app_dsl;
pub mod app_json;
pub mod apps;
pub mod auth;
pub mod config;
pub mod debug;
pub mod files;
pub mod logs;
pub mod models;
pub mod sites;
pub mod statics;
pub mod stats;
pub mod tags;

use std::sync::Arc;

use http::Request;
use serde_json::{Map, Value};
use weir_layers::auth::AuthContext;
use weir_layers::{AuthKind, Body, BoxError, HttpError, RouteMeta};

use crate::dsl::AppMode;
use crate::error::{console_messages, ConsoleError};
use crate::request::{is_json, path_param, read_body, unsupported_media_type};
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::Route;

/// A console route for a logged-in user, with the CSRF check.
pub const USER: RouteMeta = RouteMeta::auth(AuthKind::Console { csrf: true });
/// A console route for a logged-in user that runs a generation (counts against the app's
/// concurrency cap).
pub const USER_GENERATION: RouteMeta =
    RouteMeta::auth(AuthKind::Console { csrf: true }).generation();
/// A console route without a session.
pub const OPEN: RouteMeta = RouteMeta::auth(AuthKind::None);

/// Every route of the console API.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = auth::routes(state);
    routes.extend(account::routes(state));
    routes.extend(apps::routes(state));
    routes.extend(app_dsl::routes(state));
    routes.extend(sites::routes(state));
    routes.extend(tags::routes(state));
    routes.extend(files::routes(state));
    routes.extend(models::routes(state));
    routes.extend(config::routes(state));
    routes.extend(debug::routes(state));
    routes.extend(logs::routes(state));
    routes.extend(stats::routes(state));
    routes.extend(statics::routes(state));
    routes
}

/// Workspace roles (Dify's).
pub mod roles {
    /// Owner.
    pub const OWNER: &str = "owner";
    /// Administrator.
    pub const ADMIN: &str = "admin";
    /// Editor.
    pub const EDITOR: &str = "editor";
}

/// The logged-in account of a console request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub account_id: String,
    /// Its current workspace.
    pub workspace_id: String,
    /// Its role there.
    pub role: String,
}

impl Caller {
    /// The caller of a request the auth layer let through.
    pub fn of(req: &Request<Body>) -> Result<Caller, HttpError> {
        let ctx: &AuthContext = crate::context::auth(req)?;
        let unauthorized = || HttpError::unauthorized(weir_layers::auth::messages::SESSION_INVALID);
        Ok(Caller {
            account_id: ctx.subject.as_deref().ok_or_else(unauthorized)?.to_owned(),
            workspace_id: ctx.workspace_id.to_string(),
            role: ctx.role.as_deref().unwrap_or_default().to_owned(),
        })
    }

    /// Whether the caller may edit apps (owner, admin, editor).
    pub fn can_edit(&self) -> bool {
        matches!(
            self.role.as_str(),
            roles::OWNER | roles::ADMIN | roles::EDITOR
        )
    }

    /// Whether the caller administers the workspace (owner, admin).
    pub fn is_admin(&self) -> bool {
        matches!(self.role.as_str(), roles::OWNER | roles::ADMIN)
    }

    /// 403 unless the caller may edit.
    pub fn require_edit(&self) -> Result<(), HttpError> {
        self.can_edit().then_some(()).ok_or_else(forbidden)
    }

    /// 403 unless the caller administers the workspace.
    pub fn require_admin(&self) -> Result<(), HttpError> {
        self.is_admin().then_some(()).ok_or_else(forbidden)
    }
}

/// Dify's bare 403.
pub fn forbidden() -> HttpError {
    HttpError::forbidden(weir_layers::error::messages::FORBIDDEN)
}

/// The app of the path's `app_id`, in the caller's workspace and `normal`; else 404
/// `app_not_found`.
pub async fn app_of(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
) -> Result<Arc<LoadedApp>, BoxError> {
    state
        .app(&app_id.to_lowercase())
        .await?
        .filter(|a| a.row.workspace_id == caller.workspace_id && a.row.status == "normal")
        .ok_or_else(|| ConsoleError::AppNotFound(console_messages::APP_NOT_FOUND.into()).into())
}

/// The caller and the path's app (the future does not borrow the request).
pub fn caller_and_app(
    state: &AppState,
    req: &Request<Body>,
) -> impl std::future::Future<Output = Result<(Caller, Arc<LoadedApp>), BoxError>> + Send + 'static
{
    let caller = Caller::of(req);
    let (state, app_id) = (state.clone(), path_param(req, "app_id"));
    async move {
        let caller = caller?;
        let app = app_of(&state, &caller, &app_id).await?;
        Ok((caller, app))
    }
}

/// 404 `app_not_found` unless the app is of one of `modes`.
pub fn require_modes(app: &LoadedApp, modes: &[AppMode]) -> Result<(), ConsoleError> {
    if modes.contains(&app.mode) {
        return Ok(());
    }
    let list: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
    Err(ConsoleError::AppNotFound(
        format!(
            "App mode is not in the supported list: {{{}}}",
            list.join(", ")
        )
        .into(),
    ))
}

/// The easy-UI modes (their configuration page, debugging and logs).
pub const EASY_UI: [AppMode; 3] = [AppMode::Chat, AppMode::AgentChat, AppMode::Completion];
/// The chat modes (conversations).
pub const CHAT_MODES: [AppMode; 3] = [AppMode::Chat, AppMode::AgentChat, AppMode::AdvancedChat];

/// A JSON object body; an empty body is `{}` (the console posts some calls bare).
pub async fn object_or_empty(req: Request<Body>) -> Result<Map<String, Value>, BoxError> {
    let has_type = req.headers().contains_key(http::header::CONTENT_TYPE);
    let json = is_json(&req);
    let bytes = read_body(req.into_body()).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if has_type && !json {
        return Err(unsupported_media_type().into());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(HttpError::bad_request(weir_layers::error::messages::BAD_REQUEST).into()),
    }
}

/// A string field of a body, if present and a string.
pub fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A boolean query value in pydantic's lax spelling (`true/false/1/0/yes/no/on/off`).
pub fn lax_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
