//! The easy-UI configuration: `POST /apps/{id}/model-config` checks a whole configuration
//! (as Dify does, in its order and with its messages) and stores it in the app's DSL; the
//! debugger checks the unsaved one it runs with the same rules.

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError};

use super::app_json::model_config_defaults;
use super::models::{models_of, provider_id};
use super::{caller_and_app, object_or_empty, require_modes, Caller, EASY_UI, USER};
use crate::dsl::AppMode;
use crate::error::ServiceError;
use crate::reply::success;
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// Stop sequences a model config may have.
pub const MAX_STOP: usize = 4;
/// Prompt messages of an advanced chat prompt.
pub const MAX_PROMPT_MESSAGES: usize = 10;
/// The keys of a `user_input_form` entry.
pub const FORM_KEYS: [&str; 6] = [
    "text-input",
    "select",
    "paragraph",
    "number",
    "checkbox",
    "external_data_tool",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![Route::new(
        Method::POST,
        "/console/api/apps/{app_id}/model-config",
        USER,
        handler(state, save),
    )
    .uuids(&["app_id"])]
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::invalid(message.into())
}

fn enabled_object(v: Option<&Value>, key: &str) -> Result<Value, ServiceError> {
    match v {
        None | Some(Value::Null) => Ok(json!({"enabled": false})),
        Some(Value::Object(o)) => {
            if o.get("enabled").is_some_and(|e| !e.is_boolean()) {
                return Err(invalid(format!("{key}.enabled must be of boolean type")));
            }
            Ok(Value::Object(o.clone()))
        }
        Some(_) => Err(invalid(format!("{key} must be of dict type"))),
    }
}

/// Checks the model: a configured provider (a bare name stands for its plugin path), one
/// of its chat models, and completion parameters with at most four stop sequences.
fn check_model(state: &AppState, v: Option<&Value>) -> Result<Value, ServiceError> {
    let model = v
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("model is required"))?;
    let providers: Vec<String> = state
        .settings()
        .providers
        .keys()
        .map(|n| provider_id(n))
        .collect();
    let provider = model
        .get("provider")
        .and_then(Value::as_str)
        .map(|p| {
            if p.contains('/') {
                p.to_owned()
            } else {
                provider_id(p)
            }
        })
        .filter(|p| providers.contains(p))
        .ok_or_else(|| {
            invalid(format!(
                "model.provider is required and must be in {providers:?}"
            ))
        })?;
    let table = crate::providers::provider_key(&provider);
    let name = model
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("model.name is required"))?;
    let listed = state
        .settings()
        .providers
        .get(table)
        .is_some_and(|p| models_of(p, "llm").iter().any(|m| m == name));
    if !listed {
        return Err(invalid("model.name must be in the specified model list"));
    }
    let mut params = model
        .get("completion_params")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| invalid("model.completion_params is required"))?;
    match params.get("stop") {
        None | Some(Value::Null) => {
            params.insert("stop".into(), json!([]));
        }
        Some(Value::Array(stops)) => {
            if stops.len() > MAX_STOP {
                return Err(invalid(format!(
                    "stop sequences must be less than {MAX_STOP}"
                )));
            }
            if !stops.iter().all(Value::is_string) {
                return Err(invalid(
                    "stop in model.completion_params must be of list type",
                ));
            }
        }
        Some(_) => {
            return Err(invalid(
                "stop in model.completion_params must be of list type",
            ))
        }
    }
    Ok(json!({"provider": provider, "name": name, "mode": "chat", "completion_params": params}))
}

fn check_form(v: Option<&Value>) -> Result<Value, ServiceError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("user_input_form must be a list of objects")),
    };
    let allowed = FORM_KEYS.join(", ");
    for item in items {
        let obj = item.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            invalid(format!(
                "Keys in user_input_form list can only be {allowed}"
            ))
        })?;
        let (key, field) = obj.iter().next().expect("one key");
        if !FORM_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "Keys in user_input_form list can only be {allowed}"
            )));
        }
        let field = field
            .as_object()
            .ok_or_else(|| invalid(format!("{key} in user_input_form must be of dict type")))?;
        if !field.get("label").is_some_and(Value::is_string) {
            return Err(invalid("label is required in user_input_form"));
        }
        let variable = field.get("variable").and_then(Value::as_str).unwrap_or("");
        if variable.is_empty() || variable.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid(
                "variable in user_input_form must be a string, and cannot start with a number",
            ));
        }
        if field.get("required").is_some_and(|r| !r.is_boolean()) {
            return Err(invalid(
                "required in user_input_form must be of boolean type",
            ));
        }
        if key == "select" {
            let options = field
                .get("options")
                .and_then(Value::as_array)
                .filter(|o| o.iter().all(Value::is_string))
                .ok_or_else(|| invalid("options in user_input_form must be a list of strings"))?;
            if let Some(d) = field
                .get("default")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
            {
                if !options.iter().any(|o| o == d) {
                    return Err(invalid(
                        "default value in user_input_form must be in the options list",
                    ));
                }
            }
        }
    }
    Ok(Value::Array(items.clone()))
}

fn check_prompt(
    out: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ServiceError> {
    let prompt_type = body
        .get("prompt_type")
        .and_then(Value::as_str)
        .unwrap_or("simple");
    if !matches!(prompt_type, "simple" | "advanced") {
        return Err(invalid("prompt_type must be in ['simple', 'advanced']"));
    }
    out.insert("prompt_type".into(), json!(prompt_type));
    match body.get("pre_prompt") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("pre_prompt".into(), json!(s));
        }
        Some(_) => return Err(invalid("pre_prompt must be of string type")),
    }
    for key in ["chat_prompt_config", "completion_prompt_config"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                let messages = o
                    .get("prompt")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if messages > MAX_PROMPT_MESSAGES {
                    return Err(invalid(format!(
                        "prompt messages must be less than {MAX_PROMPT_MESSAGES}"
                    )));
                }
                out.insert(key.into(), Value::Object(o.clone()));
            }
            Some(_) => return Err(invalid(format!("{key} must be of object type"))),
        }
    }
    Ok(())
}

/// The dataset ids a configuration names (`dataset_configs` and agent tools).
fn dataset_ids(body: &Map<String, Value>) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(list) = body
        .get("dataset_configs")
        .and_then(|d| d.pointer("/datasets/datasets"))
        .and_then(Value::as_array)
    {
        ids.extend(
            list.iter()
                .filter_map(|d| d.pointer("/dataset/id").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    if let Some(tools) = body
        .get("agent_mode")
        .and_then(|a| a.get("tools"))
        .and_then(Value::as_array)
    {
        ids.extend(
            tools
                .iter()
                .filter_map(|t| t.pointer("/dataset/id").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    ids
}

/// A whole easy-UI configuration, checked and completed: the stored form of `body`.
pub async fn check_model_config(
    state: &AppState,
    caller: &Caller,
    mode: AppMode,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, BoxError> {
    let mut out = model_config_defaults();
    out.insert("model".into(), check_model(state, body.get("model"))?);
    out.insert(
        "user_input_form".into(),
        check_form(body.get("user_input_form"))?,
    );
    if let Some(f) = body.get("file_upload").filter(|f| !f.is_null()) {
        if !f.is_object() {
            return Err(invalid("file_upload must be of dict type").into());
        }
        out.insert("file_upload".into(), f.clone());
    }
    check_prompt(&mut out, body)?;
    match body.get("dataset_configs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(d)) => {
            out.insert("dataset_configs".into(), Value::Object(d.clone()));
        }
        Some(_) => return Err(invalid("dataset_configs must be of object type").into()),
    }
    let store = state.store();
    for id in dataset_ids(body) {
        let found = match crate::util::canonical_uuid(&id) {
            Some(id) => store.dataset(&caller.workspace_id, &id).await?.is_some(),
            None => false,
        };
        if !found {
            return Err(invalid(format!("Dataset {id} does not exist")).into());
        }
    }
    if mode == AppMode::Completion && !dataset_ids(body).is_empty() {
        let var = body
            .get("dataset_query_variable")
            .and_then(Value::as_str)
            .unwrap_or("");
        if var.is_empty() {
            return Err(invalid("Dataset query variable is required when dataset is exist").into());
        }
    }
    match body.get("opening_statement") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("opening_statement".into(), json!(s));
        }
        Some(_) => return Err(invalid("opening_statement must be of string type").into()),
    }
    match body.get("suggested_questions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            out.insert("suggested_questions".into(), Value::Array(a.clone()));
        }
        Some(_) => return Err(invalid("suggested_questions must be of list type").into()),
    }
    for key in [
        "suggested_questions_after_answer",
        "speech_to_text",
        "text_to_speech",
        "retriever_resource",
        "more_like_this",
        "sensitive_word_avoidance",
        "annotation_reply",
    ] {
        if body.contains_key(key) {
            out.insert(key.into(), enabled_object(body.get(key), key)?);
        }
    }
    for key in ["dataset_query_variable", "external_data_tools"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    if mode == AppMode::AgentChat {
        let agent = body
            .get("agent_mode")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("agent_mode must be of object type"))?;
        if agent.get("enabled").is_some_and(|e| !e.is_boolean()) {
            return Err(invalid("agent_mode.enabled must be of boolean type").into());
        }
        if agent.get("tools").is_some_and(|t| !t.is_array()) {
            return Err(invalid("agent_mode.tools must be of list type").into());
        }
        out.insert("agent_mode".into(), Value::Object(agent.clone()));
    } else if let Some(a) = body.get("agent_mode").filter(|a| a.is_object()) {
        out.insert("agent_mode".into(), a.clone());
    }
    Ok(out)
}

async fn save(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &EASY_UI)?;
    let body = object_or_empty(req).await?;
    let config = check_model_config(&state, &caller, app.mode, &body).await?;
    let mut doc: Value = serde_json::from_str(&app.row.dsl).unwrap_or_else(|_| json!({}));
    doc["model_config"] = Value::Object(config);
    state
        .store()
        .save_app_config(&app.row.id, &doc.to_string(), &caller.account_id)
        .await?;
    state.forget_app(&app.row.id);
    Ok(success())
}
