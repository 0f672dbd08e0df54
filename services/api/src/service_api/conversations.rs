//! Conversations of chat-like apps: list, delete, rename, and their variables.

use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use weir_layers::{body, AuthKind, Body, RouteMeta};

use crate::context::{current_app, end_user, int_param, require_chat};
use crate::error::{messages, ServiceError};
use crate::request::{json_object, path_param, query_pairs, query_param, user_string};
use crate::runtime::naming;
use crate::state::AppState;
use crate::store::{ConversationRow, ConversationSort, ConversationVariableRow};
use crate::{handler, HandlerResult, Route};
use weir_core::model::Models;

const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/v1/conversations",
            APP_KEY,
            handler(state, list),
        ),
        Route::new(
            Method::DELETE,
            "/v1/conversations/{conversation_id}",
            APP_KEY,
            handler(state, delete),
        )
        .uuids(&["conversation_id"]),
        Route::new(
            Method::POST,
            "/v1/conversations/{conversation_id}/name",
            APP_KEY,
            handler(state, rename),
        )
        .uuids(&["conversation_id"]),
        Route::new(
            Method::GET,
            "/v1/conversations/{conversation_id}/variables",
            APP_KEY,
            handler(state, variables),
        )
        .uuids(&["conversation_id"]),
        Route::new(
            Method::PUT,
            "/v1/conversations/{conversation_id}/variables/{variable_id}",
            APP_KEY,
            handler(state, update_variable),
        )
        .uuids(&["conversation_id", "variable_id"]),
    ]
}

/// A conversation as lists and renames show it.
pub fn conversation_json(c: &ConversationRow) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "inputs": serde_json::from_str::<Value>(&c.inputs).unwrap_or(json!({})),
        "status": c.status,
        "introduction": c.introduction,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// A conversation variable as the API shows it: `value` is always text.
pub fn variable_json(v: &ConversationVariableRow) -> Value {
    let value: Value = serde_json::from_str(&v.value).unwrap_or(Value::Null);
    let text = match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    json!({"id": v.id, "name": v.name, "value_type": v.value_type, "value": text,
        "description": v.description, "created_at": v.created_at, "updated_at": v.updated_at})
}

async fn owned(
    state: &AppState,
    app_id: &str,
    user_id: &str,
    id: &str,
) -> Result<ConversationRow, weir_layers::BoxError> {
    Ok(state
        .store()
        .conversation(app_id, user_id, &id.to_lowercase())
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS))?)
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let user = end_user(&state, &app, query_param(&q, "user").as_deref()).await?;
    require_chat(&app)?;
    let limit = int_param(&q, "limit", 20, 1, 100)?;
    let sort = match query_param(&q, "sort_by").filter(|s| !s.is_empty()) {
        None => ConversationSort::UpdatedDesc,
        Some(s) => ConversationSort::parse(&s).ok_or_else(|| {
            ServiceError::invalid(
                "sort_by must be one of created_at, -created_at, updated_at, -updated_at",
            )
        })?,
    };
    let last_id = match query_param(&q, "last_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(id) => Some(
            crate::util::canonical_uuid(&id)
                .ok_or_else(|| ServiceError::not_found(messages::LAST_CONVERSATION_NOT_EXISTS))?,
        ),
    };
    let (rows, has_more) = state
        .store()
        .conversations(&app.row.id, &user.id, sort, last_id.as_deref(), limit, None)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::LAST_CONVERSATION_NOT_EXISTS))?;
    let data: Vec<Value> = rows.iter().map(conversation_json).collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = end_user(&state, &app, user_string(body.get("user")).as_deref()).await?;
    require_chat(&app)?;
    let c = owned(&state, &app.row.id, &user.id, &id).await?;
    state.store().delete_conversation(&c.id).await?;
    let mut res = http::Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    Ok(res)
}

async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = end_user(&state, &app, user_string(body.get("user")).as_deref()).await?;
    require_chat(&app)?;
    let auto = crate::service_api::chat::bool_field(&body, "auto_generate", false)?;
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ServiceError::invalid("name must be a string").into()),
    };
    let c = owned(&state, &app.row.id, &user.id, &id).await?;
    let new_name = new_name(&state, &app, &c, auto, name).await?;
    state.store().rename_conversation(&c.id, &new_name).await?;
    let c = owned(&state, &app.row.id, &user.id, &c.id).await?;
    Ok(body::json(StatusCode::OK, &conversation_json(&c)))
}

/// The name a rename asks for: generated by the app's model from the first question when
/// `auto`, else the given one (required then).
pub async fn new_name(
    state: &AppState,
    app: &crate::runtime::LoadedApp,
    c: &ConversationRow,
    auto: bool,
    name: Option<String>,
) -> Result<String, weir_layers::BoxError> {
    if !auto {
        return name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            ServiceError::invalid("name is required when auto_generate is false").into()
        });
    }
    let first = state
        .store()
        .messages_page(&c.id, None, 100)
        .await?
        .map(|(rows, _)| rows)
        .unwrap_or_default();
    let Some(first) = first.first() else {
        return Err(ServiceError::invalid("").into());
    };
    let generated = match app.model() {
        Some(spec) => match state.providers().get(&spec.provider, &spec.name) {
            Ok(client) => naming::generate_name(&*client, &spec.name, &first.query).await,
            Err(_) => None,
        },
        None => None,
    };
    Ok(generated.unwrap_or_else(|| c.name.clone()))
}

async fn variables(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let user = end_user(&state, &app, query_param(&q, "user").as_deref()).await?;
    require_chat(&app)?;
    let limit = int_param(&q, "limit", 20, 1, 100)?;
    let name_filter = query_param(&q, "variable_name").filter(|s| !s.is_empty());
    if let Some(n) = &name_filter {
        let ok = n.len() <= 255
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(ServiceError::invalid(
                "variable_name may only contain letters, digits, '_', '.' and '-'",
            )
            .into());
        }
    }
    let c = owned(&state, &app.row.id, &user.id, &id).await?;
    let mut vars = state.store().conversation_variables(&c.id).await?;
    if let Some(n) = &name_filter {
        let n = n.to_lowercase();
        vars.retain(|v| v.name.to_lowercase().contains(&n));
    }
    if let Some(last) = query_param(&q, "last_id").filter(|s| !s.is_empty()) {
        let pos = vars
            .iter()
            .position(|v| v.id == last.to_lowercase())
            .ok_or_else(|| ServiceError::invalid(""))?;
        vars.drain(..=pos);
    }
    let has_more = vars.len() as i64 > limit;
    vars.truncate(limit as usize);
    let data: Vec<Value> = vars.iter().map(variable_json).collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

/// The JSON type name of a value, as Dify's type-mismatch message spells it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "none",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `value` fits a declared variable type.
pub fn fits(value_type: &str, value: &Value) -> bool {
    match (value_type, value) {
        (_, Value::Null) => true,
        ("string" | "secret", Value::String(_)) => true,
        ("number", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("object" | "file", Value::Object(_)) => true,
        ("array[string]", Value::Array(a)) => a.iter().all(Value::is_string),
        ("array[number]", Value::Array(a)) => a.iter().all(Value::is_number),
        ("array[boolean]", Value::Array(a)) => a.iter().all(Value::is_boolean),
        ("array[object]" | "array[file]", Value::Array(a)) => a.iter().all(Value::is_object),
        ("array[any]", Value::Array(_)) => true,
        _ => false,
    }
}

async fn update_variable(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let var_id = path_param(&req, "variable_id").to_lowercase();
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = end_user(&state, &app, user_string(body.get("user")).as_deref()).await?;
    require_chat(&app)?;
    let Some(value) = body.get("value") else {
        return Err(ServiceError::invalid("value is required").into());
    };
    let c = owned(&state, &app.row.id, &user.id, &id).await?;
    let vars = state.store().conversation_variables(&c.id).await?;
    let var = vars
        .iter()
        .find(|v| v.id == var_id)
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_VARIABLE_NOT_EXISTS))?;
    if !fits(&var.value_type, value) {
        return Err(ServiceError::BadRequest(
            format!(
                "Type mismatch: variable '{}' expects {}, but got {} type",
                var.name,
                var.value_type,
                type_name(value)
            )
            .into(),
        )
        .into());
    }
    state
        .store()
        .set_conversation_variable(&c.id, &var.id, &value.to_string())
        .await?;
    let updated = state.store().conversation_variables(&c.id).await?;
    let var = updated
        .iter()
        .find(|v| v.id == var_id)
        .ok_or(ServiceError::not_found(
            messages::CONVERSATION_VARIABLE_NOT_EXISTS,
        ))?;
    Ok(body::json(StatusCode::OK, &variable_json(var)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_types() {
        assert!(fits("string", &json!("x")));
        assert!(!fits("string", &json!(1)));
        assert!(fits("array[string]", &json!(["a"])));
        assert!(!fits("array[string]", &json!([1])));
        assert!(fits("number", &json!(2.5)));
        assert!(fits("number", &Value::Null));
    }
}
