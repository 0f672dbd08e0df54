//! DSL export and import: `GET /apps/{app_id}/dsl`,
//! `POST /workspaces/{workspace_id}/apps/imports` and its `…/{import_id}:confirm`. An import
//! answers with Dify's `Import` body whatever happens: 200 `completed` /
//! `completed-with-warnings`, 202 `pending` (a DSL newer than weir's, parked for ten minutes
//! until confirmed), 400 `failed` with the reason in `error`.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, Body, HttpError};

use super::{app_guard, bearer, lenient_body, workspace_guard, Invalid};
use crate::apps::{self, ImportOptions};
use crate::credentials::scopes;
use crate::imports;
use crate::request::{path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// Import modes.
pub const MODE_YAML_CONTENT: &str = "yaml-content";
/// Import by URL.
pub const MODE_YAML_URL: &str = "yaml-url";

const IMPORT_KEYS: [&str; 10] = [
    "mode",
    "yaml_content",
    "yaml_url",
    "name",
    "description",
    "icon_type",
    "icon",
    "icon_background",
    "app_id",
    "draft_hash",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/openapi/v1/apps/{app_id}/dsl",
            bearer(scopes::APPS_READ),
            handler(state, export),
        ),
        Route::new(
            Method::POST,
            "/openapi/v1/workspaces/{workspace_id}/apps/imports",
            bearer(scopes::WORKSPACE_WRITE),
            handler(state, import),
        ),
        Route::new(
            Method::POST,
            "/openapi/v1/workspaces/{workspace_id}/apps/imports/{import_id}:confirm",
            bearer(scopes::WORKSPACE_WRITE),
            handler(state, confirm),
        ),
    ]
}

async fn export(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let pairs = query_pairs(&req);
    let mut invalid = Invalid::default();
    let include_secret = invalid.boolean(&pairs, "include_secret", false);
    let workflow_id = match query_param(&pairs, "workflow_id").filter(|w| !w.is_empty()) {
        None => None,
        Some(raw) => match canonical_uuid(&raw) {
            Some(id) => Some(id),
            None => {
                invalid.push(
                    "uuid_parsing",
                    &["workflow_id"],
                    "Input should be a valid UUID, invalid character",
                );
                None
            }
        },
    };
    invalid.finish()?;
    // Secrets leave only for a caller who may do everything and asked for them.
    if include_secret {
        weir_layers::auth::require_scope(&call.ctx, Some(scopes::FULL))?;
    }
    let row = &call.app.row;
    let version = match workflow_id {
        None => None,
        Some(id) => Some(
            state
                .store()
                .workflow(&id)
                .await?
                .filter(|w| w.app_id == row.id)
                .ok_or_else(|| HttpError::not_found("Workflow not found"))?,
        ),
    };
    let yaml = apps::export_version(row, version.as_ref(), state.secrets(), include_secret);
    Ok(body::json(
        StatusCode::OK,
        &json!({"data": yaml, "draft_hash": null}),
    ))
}

/// The validated fields of an import request.
#[derive(Debug)]
struct ImportRequest {
    mode: String,
    yaml_content: Option<String>,
    yaml_url: Option<String>,
    options: ImportOptions,
}

fn parse_import(body: &Map<String, Value>) -> Result<ImportRequest, HttpError> {
    let mut invalid = Invalid::default();
    for key in body.keys() {
        if !IMPORT_KEYS.contains(&key.as_str()) {
            invalid.push("extra_forbidden", &[key], "Extra inputs are not permitted");
        }
    }
    let mode = invalid.string(body, "mode").map(str::to_owned);
    match mode.as_deref() {
        None if !body.contains_key("mode") || body["mode"].is_null() => invalid.missing("mode"),
        Some(MODE_YAML_CONTENT | MODE_YAML_URL) | None => {}
        Some(_) => invalid.push(
            "literal_error",
            &["mode"],
            "Input should be 'yaml-content' or 'yaml-url'",
        ),
    }
    let mut text = |key: &str| invalid.string(body, key).map(str::to_owned);
    let yaml_content = text("yaml_content");
    let yaml_url = text("yaml_url");
    let options = ImportOptions {
        name: text("name"),
        description: text("description"),
        icon_type: text("icon_type"),
        icon: text("icon"),
        icon_background: text("icon_background"),
        app_id: text("app_id").filter(|a| !a.is_empty()),
        allow_newer: false,
        created_by: None,
    };
    let _draft_hash = text("draft_hash");
    match mode.as_deref() {
        Some(MODE_YAML_CONTENT) if yaml_content.is_none() => invalid.push(
            "value_error",
            &[],
            "Value error, yaml_content is required when mode is 'yaml-content'",
        ),
        Some(MODE_YAML_URL) if yaml_url.is_none() => invalid.push(
            "value_error",
            &[],
            "Value error, yaml_url is required when mode is 'yaml-url'",
        ),
        _ => {}
    }
    invalid.finish()?;
    Ok(ImportRequest {
        mode: mode.unwrap_or_default(),
        yaml_content,
        yaml_url,
        options,
    })
}

async fn import(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, ws) = workspace_guard(&state, &req, &path_param(&req, "workspace_id")).await?;
    let request = parse_import(&lenient_body(req).await?)?;
    let text = if request.mode == MODE_YAML_URL {
        match imports::fetch(&state, request.yaml_url.as_deref().unwrap_or_default()).await {
            Ok(t) => t,
            Err(e) => {
                let id = uuid::Uuid::new_v4().to_string();
                return Ok(imports::ImportBody::failed(id, e, String::new()).response());
            }
        }
    } else {
        request.yaml_content.unwrap_or_default()
    };
    Ok(imports::import_text(&state, &ws.id, text, request.options)
        .await?
        .response())
}

async fn confirm(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, ws) = workspace_guard(&state, &req, &path_param(&req, "workspace_id")).await?;
    let import_id = path_param(&req, "import_id");
    Ok(imports::confirm(&state, &ws.id, import_id)
        .await?
        .response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn import_requests_are_strict() {
        let err = parse_import(&body(json!({"mode": "yaml-content", "bogus": 1}))).unwrap_err();
        let kinds: Vec<_> = err.details().iter().map(|d| d.kind.as_str()).collect();
        assert_eq!(kinds, ["extra_forbidden", "value_error"]);
        let err = parse_import(&body(json!({}))).unwrap_err();
        assert_eq!(err.details()[0].kind, "missing");
        let err = parse_import(&body(json!({"mode": "zip"}))).unwrap_err();
        assert_eq!(err.details()[0].kind, "literal_error");
        assert!(parse_import(&body(
            json!({"mode": "yaml-url", "yaml_url": "http://x/y.yml"})
        ))
        .is_ok());
    }
}
