//! DSL in the console: export an app (or one of its published versions), import a DSL as a
//! new app or over a workflow app, confirm a pending (newer-version) import, and the
//! plugin dependencies an import lacks (none: weir has no plugins).

use http::{Method, Request};
use serde_json::json;
use weir_layers::{Body, HttpError};

use super::{caller_and_app, lax_bool, object_or_empty, text, Caller, USER};
use crate::apps::{self, ImportOptions};
use crate::error::ServiceError;
use crate::imports::{self, ImportBody};
use crate::openapi::dsl::{MODE_YAML_CONTENT, MODE_YAML_URL};
use crate::reply::ok;
use crate::request::{path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/console/api/apps/{app_id}/export",
            USER,
            handler(state, export),
        )
        .uuids(&["app_id"]),
        Route::new(
            Method::POST,
            "/console/api/apps/imports",
            USER,
            handler(state, import),
        ),
        Route::new(
            Method::POST,
            "/console/api/apps/imports/{import_id}/confirm",
            USER,
            handler(state, confirm),
        ),
        Route::new(
            Method::GET,
            "/console/api/apps/imports/{app_id}/check-dependencies",
            USER,
            handler(state, check_dependencies),
        ),
    ]
}

async fn export(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let include_secret = query_param(&q, "include_secret")
        .and_then(|v| lax_bool(&v))
        .unwrap_or(false);
    let version = match query_param(&q, "workflow_id").filter(|w| !w.is_empty()) {
        None => None,
        Some(raw) => {
            let id = canonical_uuid(&raw)
                .ok_or_else(|| ServiceError::invalid("workflow_id must be a UUID"))?;
            Some(
                state
                    .store()
                    .workflow(&id)
                    .await?
                    .filter(|w| w.app_id == app.row.id)
                    .ok_or_else(|| HttpError::not_found("Workflow not found"))?,
            )
        }
    };
    let yaml = apps::export_version(&app.row, version.as_ref(), state.secrets(), include_secret);
    Ok(ok(&json!({"data": yaml})))
}

async fn import(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let mode = text(&body, "mode").unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    let yaml = match mode.as_str() {
        MODE_YAML_CONTENT => match text(&body, "yaml_content") {
            Some(y) => y,
            None => {
                let error = "yaml_content is required when import_mode is yaml-content";
                return Ok(ImportBody::failed(id, error, String::new()).response());
            }
        },
        MODE_YAML_URL => {
            let Some(url) = text(&body, "yaml_url") else {
                let error = "yaml_url is required when import_mode is yaml-url";
                return Ok(ImportBody::failed(id, error, String::new()).response());
            };
            match imports::fetch(&state, &url).await {
                Ok(y) => y,
                Err(e) => return Ok(ImportBody::failed(id, e, String::new()).response()),
            }
        }
        other => return Err(ServiceError::invalid(format!("Invalid import_mode: {other}")).into()),
    };
    let options = ImportOptions {
        name: text(&body, "name"),
        description: text(&body, "description"),
        icon_type: text(&body, "icon_type"),
        icon: text(&body, "icon"),
        icon_background: text(&body, "icon_background"),
        app_id: text(&body, "app_id").filter(|a| !a.is_empty()),
        created_by: Some(caller.account_id.clone()),
        ..Default::default()
    };
    let answer = imports::import_text(&state, &caller.workspace_id, yaml, options).await?;
    Ok(answer.response())
}

async fn confirm(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let import_id = path_param(&req, "import_id");
    Ok(imports::confirm(&state, &caller.workspace_id, import_id)
        .await?
        .response())
}

/// Plugins an imported app needs and the workspace lacks: weir runs apps without plugins.
async fn check_dependencies(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    super::app_of(&state, &caller, &path_param(&req, "app_id")).await?;
    Ok(ok(&json!({"leaked_dependencies": []})))
}
