//! The `/openapi/v1` surface: bearer-token routes for apps (list, describe, `:run`, stop,
//! event replay, files, DSL), the account and its workspaces. Handlers check the contract's
//! guards in its order — app 404, Service API 403, workspace 404, scope 403 — through the
//! helpers here, and report request validation as 422 `invalid_param` with `details`.

pub mod account;
pub mod apps;
pub mod dsl;
pub mod meta;
pub mod run;

use std::future::Future;
use std::sync::Arc;

use http::{Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::auth::{require_scope, AuthContext};
use weir_layers::error::{codes, ErrorDetail};
use weir_layers::{AuthKind, Body, BoxError, HttpError, MatchedRoute};

use super::context;
use super::request::{path_param, read_body};
use super::Route;
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::store::{EndUserRow, WorkspaceRow};
use crate::util::canonical_uuid;

/// The contract's messages of guard failures and 422 refusals.
pub mod messages {
    /// App id not a UUID, unknown, or its status not `normal`.
    pub const APP_NOT_FOUND: &str = "app not found";
    /// Workspace id not a UUID, unknown, archived, or not the caller's.
    pub const WORKSPACE_NOT_FOUND: &str = "workspace not found";
    /// The app's workspace is gone or archived.
    pub const WORKSPACE_UNAVAILABLE: &str = "workspace unavailable";
    /// The app's Service API switch is off.
    pub const SERVICE_API_DISABLED: &str = "service_api_disabled";
    /// Body, query or path failed validation.
    pub const VALIDATION_FAILED: &str = "Request validation failed";
    /// A chat-family run without a query.
    pub const QUERY_REQUIRED_FOR_CHAT: &str = "query_required_for_chat";
    /// A workflow run with a query.
    pub const QUERY_NOT_SUPPORTED_FOR_WORKFLOW: &str = "query_not_supported_for_workflow";
    /// An app mode that `:run` cannot run.
    pub const MODE_NOT_RUNNABLE: &str = "mode_not_runnable";
    /// Event replay of an app that has no workflow runs.
    pub const MODE_NOT_SUPPORTED_FOR_EVENT_RECONNECT: &str =
        "mode_not_supported_for_event_reconnect";
    /// Event replay of a run that is unknown or someone else's.
    pub const WORKFLOW_RUN_NOT_FOUND: &str = "Workflow run not found";
}

/// The client version gate of the surface (the stack's `version_gate` layer).
pub mod client_gate {
    /// The paths it guards (removed ones too, so old clients learn why they 404).
    pub const PREFIX: &str = "/openapi/v1/";
    /// The client it knows, by `User-Agent: difyctl/<semver>`.
    pub const CLIENT: &str = "difyctl";
    /// The oldest client version served.
    pub const MIN_VERSION: &str = "0.2.0-alpha";
    /// What an outdated client is told to do.
    pub const HINT: &str = "Upgrade difyctl: https://docs.dify.ai/en/cli/install";
    /// Probes every client may call.
    pub const EXEMPT: [&str; 2] = ["/openapi/v1/_version", "/openapi/v1/_health"];
}

/// The end-user type of `/openapi/v1` callers.
pub const CALLER_TYPE: &str = "openapi";
/// The largest `limit` of a list.
pub const MAX_PAGE_LIMIT: i64 = 100;
/// The default `limit` of a list.
pub const DEFAULT_PAGE_LIMIT: i64 = 20;

/// Route facts: a bearer with this scope (or `full`).
pub const fn bearer(scope: &'static str) -> weir_layers::RouteMeta {
    weir_layers::RouteMeta::auth(AuthKind::Bearer(Some(scope)))
}

/// Every route of the surface.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = meta::routes(state);
    routes.extend(apps::routes(state));
    routes.extend(run::routes(state));
    routes.extend(dsl::routes(state));
    routes.extend(account::routes(state));
    routes
}

/// 422 `invalid_param` with a message of the contract (`query_required_for_chat`, …).
pub fn unprocessable(message: &'static str) -> HttpError {
    HttpError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::INVALID_PARAM,
        message,
    )
}

/// Collects validation failures; [`Invalid::finish`] turns them into one 422 whose
/// `details` name the field and the rule, never the value.
#[derive(Default)]
pub struct Invalid(Vec<ErrorDetail>);

impl Invalid {
    /// Records a failure of `loc`.
    pub fn push(&mut self, kind: &str, loc: &[&str], msg: impl Into<String>) {
        self.0.push(ErrorDetail {
            kind: kind.to_owned(),
            loc: loc.iter().map(|l| Value::String((*l).to_owned())).collect(),
            msg: msg.into(),
        });
    }

    /// A required field is absent.
    pub fn missing(&mut self, field: &str) {
        self.push("missing", &[field], "Field required");
    }

    /// Ok if nothing failed, else the 422.
    pub fn finish(self) -> Result<(), HttpError> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(unprocessable(messages::VALIDATION_FAILED).with_details(self.0))
    }

    /// Refuses query parameters outside `allowed` (strict query models).
    pub fn forbid_extra(&mut self, pairs: &[(String, String)], allowed: &[&str]) {
        for (key, _) in pairs {
            if !allowed.contains(&key.as_str()) {
                self.push("extra_forbidden", &[key], "Extra inputs are not permitted");
            }
        }
    }

    /// An integer query parameter in `min..=max` (`default` when absent).
    pub fn int(
        &mut self,
        pairs: &[(String, String)],
        name: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        let Some(raw) = super::request::query_param(pairs, name) else {
            return default;
        };
        match raw.trim().parse::<i64>() {
            Err(_) => {
                self.push(
                    "int_parsing",
                    &[name],
                    "Input should be a valid integer, unable to parse string as an integer",
                );
                default
            }
            Ok(n) if n < min => {
                self.push(
                    "greater_than_equal",
                    &[name],
                    format!("Input should be greater than or equal to {min}"),
                );
                default
            }
            Ok(n) if n > max => {
                self.push(
                    "less_than_equal",
                    &[name],
                    format!("Input should be less than or equal to {max}"),
                );
                default
            }
            Ok(n) => n,
        }
    }

    /// A boolean query parameter, spelled as pydantic accepts (`default` when absent).
    pub fn boolean(&mut self, pairs: &[(String, String)], name: &str, default: bool) -> bool {
        let Some(raw) = super::request::query_param(pairs, name) else {
            return default;
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => true,
            "false" | "0" | "no" | "off" | "f" | "n" => false,
            _ => {
                self.push(
                    "bool_parsing",
                    &[name],
                    "Input should be a valid boolean, unable to interpret input",
                );
                default
            }
        }
    }

    /// An optional string field of a JSON body.
    pub fn string<'a>(&mut self, body: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.push("string_type", &[field], "Input should be a valid string");
                None
            }
        }
    }
}

/// `{page, limit}` of a list query (strict: only `allowed` keys besides them).
pub fn page_query(pairs: &[(String, String)], invalid: &mut Invalid) -> (i64, i64) {
    let page = invalid.int(pairs, "page", 1, 1, i64::from(i32::MAX));
    let limit = invalid.int(pairs, "limit", DEFAULT_PAGE_LIMIT, 1, MAX_PAGE_LIMIT);
    (page, limit)
}

/// The pagination envelope.
pub fn envelope(page: i64, limit: i64, total: i64, data: Vec<Value>) -> Value {
    json!({"page": page, "limit": limit, "total": total, "has_more": page * limit < total, "data": data})
}

/// A lenient JSON body: absent, broken or non-object JSON reads as `{}` (so validation
/// reports the missing fields rather than a parse error).
pub async fn lenient_body(req: Request<Body>) -> Result<Map<String, Value>, BoxError> {
    let bytes = read_body(req.into_body()).await?;
    Ok(match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    })
}

/// The caller of a bearer route and the scope the route declared.
fn caller(req: &Request<Body>) -> Result<(AuthContext, Option<&'static str>), HttpError> {
    let ctx = context::auth(req)?.clone();
    let scope = match req.extensions().get::<MatchedRoute>().map(|m| m.meta.auth) {
        Some(AuthKind::Bearer(scope)) => scope,
        _ => None,
    };
    Ok((ctx, scope))
}

/// An app route's caller and app, after the contract's guards.
pub struct AppCall {
    /// Who calls.
    pub ctx: AuthContext,
    /// The app of the path.
    pub app: Arc<LoadedApp>,
}

impl AppCall {
    /// The caller's end user of this app (one per token), created on first sight.
    pub async fn end_user(&self, state: &AppState) -> Result<EndUserRow, BoxError> {
        let session = format!("token:{}", self.ctx.key_id);
        Ok(state
            .end_user_of(
                CALLER_TYPE,
                &self.app.row.workspace_id,
                &self.app.row.id,
                Some(&session),
            )
            .await?)
    }
}

/// The guards of `{app_id}` routes, in the contract's order: app (404), its workspace
/// (403), Service API switch (403), membership (404), scope (403). The future does not
/// borrow the request.
pub fn app_guard(
    state: &AppState,
    req: &Request<Body>,
) -> impl Future<Output = Result<AppCall, BoxError>> + Send + 'static {
    let caller = caller(req);
    let raw_id = path_param(req, "app_id");
    let state = state.clone();
    async move {
        let (ctx, scope) = caller?;
        let not_found = || HttpError::not_found(messages::APP_NOT_FOUND);
        let id = canonical_uuid(&raw_id).ok_or_else(not_found)?;
        let app = state
            .app(&id)
            .await?
            .filter(|a| a.row.status == "normal")
            .ok_or_else(not_found)?;
        let usable = state
            .store()
            .workspace(&app.row.workspace_id)
            .await?
            .is_some_and(|w| w.status == "normal");
        if !usable {
            return Err(HttpError::forbidden(messages::WORKSPACE_UNAVAILABLE).into());
        }
        if !app.row.enable_api {
            return Err(HttpError::forbidden(messages::SERVICE_API_DISABLED).into());
        }
        if *ctx.workspace_id != *app.row.workspace_id {
            return Err(HttpError::not_found(messages::WORKSPACE_NOT_FOUND).into());
        }
        require_scope(&ctx, scope)?;
        Ok(AppCall { ctx, app })
    }
}

/// The guards of workspace-scoped routes: the workspace `raw_id` names must be the
/// caller's and live (404 otherwise), then the scope (403).
pub fn workspace_guard(
    state: &AppState,
    req: &Request<Body>,
    raw_id: &str,
) -> impl Future<Output = Result<(AuthContext, WorkspaceRow), BoxError>> + Send + 'static {
    let caller = caller(req);
    let raw_id = raw_id.to_owned();
    let state = state.clone();
    async move {
        let (ctx, scope) = caller?;
        let not_found = || HttpError::not_found(messages::WORKSPACE_NOT_FOUND);
        let id = canonical_uuid(&raw_id)
            .filter(|id| *id == *ctx.workspace_id)
            .ok_or_else(not_found)?;
        let ws = state
            .store()
            .workspace(&id)
            .await?
            .filter(|w| w.status == "normal")
            .ok_or_else(not_found)?;
        require_scope(&ctx, scope)?;
        Ok((ctx, ws))
    }
}

/// The guards of routes scoped to the caller alone (account, workspaces list).
pub fn token_guard(req: &Request<Body>) -> Result<AuthContext, HttpError> {
    let (ctx, scope) = caller(req)?;
    require_scope(&ctx, scope)?;
    Ok(ctx)
}

/// An ISO-8601 UTC time of Unix seconds.
pub fn iso_time(secs: i64) -> Value {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn validation_names_fields_never_values() {
        let mut inv = Invalid::default();
        let (page, limit) = page_query(&pairs("page=0&limit=secret-value&x=1"), &mut inv);
        inv.forbid_extra(&pairs("page=0&limit=secret-value&x=1"), &["page", "limit"]);
        assert_eq!((page, limit), (1, DEFAULT_PAGE_LIMIT));
        let err = inv.finish().unwrap_err();
        assert_eq!(err.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.message(), messages::VALIDATION_FAILED);
        let kinds: Vec<&str> = err.details().iter().map(|d| d.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["greater_than_equal", "int_parsing", "extra_forbidden"]
        );
        let text = serde_json::to_string(err.details()).unwrap();
        assert!(!text.contains("secret-value"));
        assert!(Invalid::default().finish().is_ok());
    }

    #[test]
    fn envelope_has_more() {
        assert_eq!(envelope(1, 2, 3, vec![])["has_more"], true);
        assert_eq!(envelope(2, 2, 3, vec![])["has_more"], false);
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
    }
}
