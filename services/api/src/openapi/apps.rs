//! Apps: `GET /apps` (the workspace's apps, paginated and filtered), `GET /apps/{app_id}`
//! (info, parameters and the JSON Schema of run input) and `POST /apps/{app_id}/files`.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, Body};

use super::{app_guard, bearer, envelope, iso_time, page_query, Invalid};
use crate::credentials::scopes;
use crate::dsl::AppMode;
use crate::request::{query_pairs, query_param};
use crate::runtime::LoadedApp;
use crate::service_api::files::{receive, upload_body_limit, upload_json};
use crate::service_api::info::parameters_json;
use crate::state::AppState;
use crate::store::AppRow;
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// The JSON Schema dialect of `input_schema`.
pub const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
/// The parts `GET /apps/{app_id}` can return (`fields`).
pub const DESCRIBE_FIELDS: [&str; 3] = ["info", "parameters", "input_schema"];
/// Longest `name` filter.
pub const MAX_NAME_FILTER: usize = 200;
/// The modes `GET /apps` filters by.
pub const LISTABLE_MODES: [&str; 5] = [
    "completion",
    "chat",
    "advanced-chat",
    "workflow",
    "agent-chat",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/openapi/v1/apps",
            bearer(scopes::APPS_READ),
            handler(state, list),
        ),
        Route::new(
            Method::GET,
            "/openapi/v1/apps/{app_id}",
            bearer(scopes::APPS_READ),
            handler(state, describe),
        ),
        Route::new(
            Method::POST,
            "/openapi/v1/apps/{app_id}/files",
            bearer(scopes::APPS_RUN).body_limit(upload_body_limit(state)),
            handler(state, upload),
        ),
    ]
}

fn list_row(app: &AppRow, workspace_name: &str) -> Value {
    json!({
        "id": app.id, "name": app.name,
        "description": if app.description.is_empty() { Value::Null } else { Value::String(app.description.clone()) },
        "mode": app.mode, "updated_at": iso_time(app.updated_at),
        "workspace_id": app.workspace_id, "workspace_name": workspace_name,
    })
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let pairs = query_pairs(&req);
    let Some(raw_ws) = query_param(&pairs, "workspace_id") else {
        let mut invalid = Invalid::default();
        invalid.missing("workspace_id");
        return Err(invalid.finish().unwrap_err().into());
    };
    let (_, ws) = super::workspace_guard(&state, &req, &raw_ws).await?;
    let mut invalid = Invalid::default();
    let (page, limit) = page_query(&pairs, &mut invalid);
    let mode = query_param(&pairs, "mode").filter(|m| !m.is_empty());
    if let Some(m) = &mode {
        if !LISTABLE_MODES.contains(&m.as_str()) {
            invalid.push(
                "literal_error",
                &["mode"],
                "Input should be 'completion', 'chat', 'advanced-chat', 'workflow' or 'agent-chat'",
            );
        }
    }
    let name = query_param(&pairs, "name").filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_FILTER)
    {
        invalid.push(
            "string_too_long",
            &["name"],
            format!("String should have at most {MAX_NAME_FILTER} characters"),
        );
    }
    invalid.finish()?;
    let store = state.store();
    if let Some(id) = name.as_deref().and_then(canonical_uuid) {
        // A name that is an app id looks that app up exactly.
        let found = store.app(&id).await?.filter(|a| {
            a.workspace_id == ws.id
                && a.status == "normal"
                && mode.as_deref().is_none_or(|m| a.mode == m)
        });
        let data: Vec<Value> = found.iter().map(|a| list_row(a, &ws.name)).collect();
        let total = data.len() as i64;
        return Ok(body::json(
            StatusCode::OK,
            &envelope(1, 1.max(total), total, data),
        ));
    }
    let (rows, total) = store
        .app_page(
            &ws.id,
            &crate::store::AppFilter {
                mode: mode.as_deref(),
                name: name.as_deref(),
                ..Default::default()
            },
            page,
            limit,
        )
        .await?;
    let data = rows.iter().map(|a| list_row(a, &ws.name)).collect();
    Ok(body::json(
        StatusCode::OK,
        &envelope(page, limit, total, data),
    ))
}

/// The JSON Schema of `:run` input for an app's `user_input_form`.
pub fn input_schema(mode: AppMode, form: &[Value]) -> Value {
    let file = json!({"type": "object", "properties": {
        "type": {"type": "string"}, "transfer_method": {"type": "string"},
        "url": {"type": "string"}, "upload_file_id": {"type": "string"}}});
    let mut properties = Map::new();
    let mut required = Vec::new();
    for row in form {
        let Some((kind, spec)) = row.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let Some(variable) = spec.get("variable").and_then(Value::as_str) else {
            continue;
        };
        let mut prop = match kind.as_str() {
            "text-input" | "paragraph" => {
                let mut p = json!({"type": "string"});
                if let Some(max) = spec
                    .get("max_length")
                    .and_then(Value::as_i64)
                    .filter(|m| *m > 0)
                {
                    p["maxLength"] = max.into();
                }
                p
            }
            "select" => {
                json!({"type": "string", "enum": spec.get("options").cloned().unwrap_or(json!([]))})
            }
            "number" => json!({"type": "number"}),
            "file" => file.clone(),
            "file-list" => json!({"type": "array", "items": file}),
            _ => continue,
        };
        if let Some(label) = spec.get("label").and_then(Value::as_str) {
            prop["title"] = label.into();
        }
        if spec
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            required.push(Value::String(variable.to_owned()));
        }
        properties.insert(variable.to_owned(), prop);
    }
    let inputs = json!({"type": "object", "properties": properties, "required": required,
        "additionalProperties": false});
    let mut top = Map::new();
    let mut top_required = Vec::new();
    if mode.is_chat_like() {
        top.insert("query".into(), json!({"type": "string", "minLength": 1}));
        top_required.push(Value::from("query"));
    }
    top.insert("inputs".into(), inputs);
    top_required.push(Value::from("inputs"));
    json!({"$schema": SCHEMA_DIALECT, "type": "object", "properties": top, "required": top_required})
}

/// The parameters of an app, or the empty form when its configuration is broken.
fn parameters_or_empty(state: &AppState, app: &LoadedApp) -> Value {
    parameters_json(state, app).unwrap_or_else(|_| {
        json!({"opening_statement": null, "suggested_questions": [], "user_input_form": [],
            "file_upload": null, "system_parameters": {}})
    })
}

async fn describe(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let pairs = query_pairs(&req);
    let mut invalid = Invalid::default();
    invalid.forbid_extra(&pairs, &["fields"]);
    let wanted: Vec<String> = match query_param(&pairs, "fields") {
        None => Vec::new(),
        Some(f) => f
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let unknown: Vec<&String> = wanted
        .iter()
        .filter(|f| !DESCRIBE_FIELDS.contains(&f.as_str()))
        .collect();
    if !unknown.is_empty() {
        invalid.push(
            "value_error",
            &["fields"],
            format!("Value error, unknown field(s): {unknown:?}"),
        );
    }
    invalid.finish()?;
    let want = |f: &str| wanted.is_empty() || wanted.iter().any(|w| w == f);
    let app = &call.app;
    let params = parameters_or_empty(&state, app);
    let info = want("info").then(|| {
        json!({
            "id": app.row.id, "name": app.row.name,
            "description": if app.row.description.is_empty() { Value::Null } else { app.row.description.clone().into() },
            "mode": app.row.mode, "updated_at": iso_time(app.row.updated_at),
            "service_api_enabled": app.row.enable_api,
            "is_agent": matches!(app.mode, AppMode::AgentChat | AppMode::AdvancedChat),
        })
    });
    let schema = want("input_schema").then(|| {
        let form = params["user_input_form"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        input_schema(app.mode, &form)
    });
    Ok(body::json(
        StatusCode::OK,
        &json!({"info": info, "parameters": want("parameters").then_some(params), "input_schema": schema}),
    ))
}

async fn upload(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = app_guard(&state, &req).await?;
    let user = call.end_user(&state).await?;
    let row = receive(&state, &call.app, req, Some(user)).await?;
    let mut file = upload_json(&state, &row);
    file["reference"] = Value::Null;
    Ok(body::json(StatusCode::CREATED, &file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_of_a_form() {
        let form = vec![
            json!({"text-input": {"variable": "name", "label": "Name", "required": true, "max_length": 48}}),
            json!({"select": {"variable": "tone", "label": "Tone", "required": false, "options": ["a", "b"]}}),
            json!({"number": {"variable": "n", "label": "N", "required": false}}),
            json!({"file-list": {"variable": "docs", "label": "Docs", "required": false}}),
            json!({"mystery": {"variable": "x"}}),
        ];
        let s = input_schema(AppMode::Chat, &form);
        assert_eq!(s["$schema"], SCHEMA_DIALECT);
        assert_eq!(s["required"], json!(["query", "inputs"]));
        assert_eq!(s["properties"]["query"]["minLength"], 1);
        let inputs = &s["properties"]["inputs"];
        assert_eq!(inputs["additionalProperties"], false);
        assert_eq!(inputs["required"], json!(["name"]));
        assert_eq!(inputs["properties"]["name"]["maxLength"], 48);
        assert_eq!(inputs["properties"]["name"]["title"], "Name");
        assert_eq!(inputs["properties"]["tone"]["enum"], json!(["a", "b"]));
        assert_eq!(inputs["properties"]["docs"]["type"], "array");
        assert!(inputs["properties"].get("x").is_none());
        let w = input_schema(AppMode::Workflow, &[]);
        assert_eq!(w["required"], json!(["inputs"]));
        assert!(w["properties"].get("query").is_none());
    }
}
