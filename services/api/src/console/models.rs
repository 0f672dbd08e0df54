//! The model providers and the model selector, backed by weir's configured `[providers.*]`
//! tables and presented as Dify's provider and model entities: each table is the provider
//! `langgenius/<name>/<name>`, its `llm_models`, `embedding_models` and `rerank_models` its
//! models, every one `active` (the operator configured its credentials). Credentials live
//! in the operator's config, never in the console. Also the workspace's default models and
//! each model's parameter rules.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::{Body, BoxError};

use super::{object_or_empty, Caller, USER};
use crate::error::ServiceError;
use crate::reply::{ok, success};
use crate::request::{path_param, query_pairs, query_param};
use crate::settings::ProviderSettings;
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// Model types Dify knows.
pub const MODEL_TYPES: [&str; 6] = [
    "llm",
    "text-embedding",
    "rerank",
    "speech2text",
    "moderation",
    "tts",
];
/// The context size reported for chat models (weir does not know the upstream's).
pub const LLM_CONTEXT_SIZE: u64 = 128_000;
/// What chat models can do through weir's OpenAI-compatible client.
pub const LLM_FEATURES: [&str; 4] = [
    "tool-call",
    "multi-tool-call",
    "stream-tool-call",
    "agent-thought",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = vec![
        Route::new(
            Method::GET,
            "/console/api/workspaces/current/model-providers",
            USER,
            handler(state, providers),
        ),
        Route::new(
            Method::GET,
            "/console/api/workspaces/current/models/model-types/{model_type}",
            USER,
            handler(state, models_of_type),
        ),
        Route::new(
            Method::GET,
            "/console/api/workspaces/current/default-model",
            USER,
            handler(state, default_model),
        ),
        Route::new(
            Method::POST,
            "/console/api/workspaces/current/default-model",
            USER,
            handler(state, set_default_model),
        ),
    ];
    // A provider id may be a plugin path (`langgenius/openai/openai`) or a plain name.
    for (models, rules) in [
        (
            "/console/api/workspaces/current/model-providers/{provider}/models",
            "/console/api/workspaces/current/model-providers/{provider}/models/parameter-rules",
        ),
        (
            "/console/api/workspaces/current/model-providers/{org}/{plugin}/{provider}/models",
            "/console/api/workspaces/current/model-providers/{org}/{plugin}/{provider}/models/parameter-rules",
        ),
    ] {
        routes.push(Route::new(Method::GET, models, USER, handler(state, provider_models)));
        routes.push(Route::new(Method::GET, rules, USER, handler(state, parameter_rules)));
    }
    routes
}

/// A text in every language the console asks for.
pub fn i18n(text: &str) -> Value {
    json!({"en_US": text, "zh_Hans": text})
}

/// The provider id the console sees for a `[providers.NAME]` table.
pub fn provider_id(name: &str) -> String {
    format!("langgenius/{name}/{name}")
}

/// A table's models of one type.
pub fn models_of<'a>(p: &'a ProviderSettings, kind: &str) -> &'a [String] {
    match kind {
        "llm" => &p.llm_models,
        "text-embedding" => &p.embedding_models,
        "rerank" => &p.rerank_models,
        _ => &[],
    }
}

fn supported_types(p: &ProviderSettings) -> Vec<&'static str> {
    MODEL_TYPES
        .iter()
        .copied()
        .filter(|k| !models_of(p, k).is_empty())
        .collect()
}

/// One model entity.
pub fn model_json(model: &str, kind: &str) -> Value {
    let (features, properties) = if kind == "llm" {
        (
            json!(LLM_FEATURES),
            json!({"mode": "chat", "context_size": LLM_CONTEXT_SIZE}),
        )
    } else {
        (Value::Null, json!({}))
    };
    json!({"model": model, "label": i18n(model), "model_type": kind, "features": features,
        "fetch_from": "customizable-model", "model_properties": properties, "deprecated": false,
        "status": "active", "load_balancing_enabled": false,
        "has_invalid_load_balancing_configs": false})
}

fn provider_head(workspace_id: &str, name: &str, p: &ProviderSettings) -> Value {
    json!({"tenant_id": workspace_id, "provider": provider_id(name), "label": i18n(name),
        "icon_small": null, "icon_small_dark": null, "supported_model_types": supported_types(p)})
}

/// The table a provider id names (`langgenius/openai/openai` or `openai`).
fn table<'a>(state: &'a AppState, provider: &str) -> Option<(&'a String, &'a ProviderSettings)> {
    let key = crate::providers::provider_key(provider);
    state.settings().providers.get_key_value(key)
}

fn provider_in_path(req: &Request<Body>) -> String {
    match req
        .extensions()
        .get::<weir_layers::MatchedRoute>()
        .and_then(|m| m.param("org").map(str::to_owned))
    {
        Some(org) => format!(
            "{org}/{}/{}",
            path_param(req, "plugin"),
            path_param(req, "provider")
        ),
        None => path_param(req, "provider"),
    }
}

/// The name the console shows for a provider's credential: it lives in the config.
const CREDENTIAL_NAME: &str = "weir.toml";

/// A stable id for a provider's configured credential.
fn credential_id(provider: &str) -> String {
    format!("config-{provider}")
}

async fn providers(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let kind = query_param(&query_pairs(&req), "model_type").filter(|k| !k.is_empty());
    let data: Vec<Value> = state
        .settings()
        .providers
        .iter()
        .filter(|(_, p)| kind.as_deref().is_none_or(|k| !models_of(p, k).is_empty()))
        .map(|(name, p)| {
            let mut v = provider_head(&caller.workspace_id, name, p);
            let models: Vec<Value> = supported_types(p)
                .into_iter()
                .flat_map(|k| {
                    models_of(p, k).iter().map(move |m| {
                        json!({"model": m, "model_type": k, "credentials": null,
                            "current_credential_id": null, "current_credential_name": null,
                            "available_model_credentials": [], "unadded_to_model_list": false})
                    })
                })
                .collect();
            let more = json!({"description": i18n(&format!("{name}, configured by the operator")),
                "background": null, "help": null,
                "configurate_methods": ["customizable-model"],
                "provider_credential_schema": null, "model_credential_schema": null,
                "preferred_provider_type": "custom",
                // The one credential is the operator's config table: the selector shows it as
                // the provider's active key.
                "custom_configuration": {"status": "active",
                    "current_credential_id": credential_id(name),
                    "current_credential_name": CREDENTIAL_NAME,
                    "available_credentials": [{"credential_id": credential_id(name),
                        "credential_name": CREDENTIAL_NAME}],
                    "custom_models": models, "can_added_models": null},
                "system_configuration": {"enabled": false, "current_quota_type": null,
                    "quota_configurations": []}});
            if let (Value::Object(head), Value::Object(more)) = (&mut v, more) {
                head.extend(more);
            }
            v
        })
        .collect();
    Ok(ok(&json!({"data": data})))
}

async fn models_of_type(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let kind = path_param(&req, "model_type");
    if !MODEL_TYPES.contains(&kind.as_str()) {
        return Err(ServiceError::invalid(format!("'{kind}' is not a valid ModelType")).into());
    }
    let data: Vec<Value> = state
        .settings()
        .providers
        .iter()
        .filter(|(_, p)| !models_of(p, &kind).is_empty())
        .map(|(name, p)| {
            json!({"tenant_id": caller.workspace_id, "provider": provider_id(name),
                "label": i18n(name), "icon_small": null, "icon_small_dark": null, "status": "active",
                "models": models_of(p, &kind).iter().map(|m| model_json(m, &kind)).collect::<Vec<_>>()})
        })
        .collect();
    Ok(ok(&json!({"data": data})))
}

/// The workspace's default model of `kind`: the one set in the console, else the first
/// configured one. Returns (provider id, model).
pub async fn default_of(
    state: &AppState,
    workspace_id: &str,
    kind: &str,
) -> Result<Option<(String, String)>, BoxError> {
    if let Some((provider, model)) = state.store().default_model(workspace_id, kind).await? {
        let still_there =
            table(state, &provider).is_some_and(|(_, p)| models_of(p, kind).contains(&model));
        if still_there {
            return Ok(Some((provider, model)));
        }
    }
    Ok(state.settings().providers.iter().find_map(|(name, p)| {
        models_of(p, kind)
            .first()
            .map(|m| (provider_id(name), m.clone()))
    }))
}

/// The workspace's default LLM (for new easy-UI apps).
pub async fn default_llm(
    state: &AppState,
    workspace_id: &str,
) -> Result<Option<(String, String)>, BoxError> {
    default_of(state, workspace_id, "llm").await
}

async fn default_model(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let kind = query_param(&query_pairs(&req), "model_type").unwrap_or_default();
    if !MODEL_TYPES.contains(&kind.as_str()) {
        return Err(ServiceError::invalid(format!("'{kind}' is not a valid ModelType")).into());
    }
    let data = match default_of(&state, &caller.workspace_id, &kind).await? {
        None => Value::Null,
        Some((provider, model)) => {
            let (name, p) = table(&state, &provider).expect("default_of names a configured table");
            let mut head = provider_head(&caller.workspace_id, name, p);
            head["provider_name"] = json!("");
            head["models"] = json!([]);
            json!({"model": model, "model_type": kind, "provider": head})
        }
    };
    Ok(ok(&json!({"data": data})))
}

async fn set_default_model(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_admin()?;
    let body = object_or_empty(req).await?;
    let settings = body
        .get("model_settings")
        .and_then(Value::as_array)
        .ok_or_else(|| ServiceError::invalid("model_settings is required"))?;
    for s in settings {
        let field = |k: &str| s.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
        let (Some(kind), Some(provider), Some(model)) =
            (field("model_type"), field("provider"), field("model"))
        else {
            continue;
        };
        let known = table(&state, provider)
            .is_some_and(|(_, p)| models_of(p, kind).iter().any(|m| m == model));
        if !known {
            return Err(ServiceError::invalid(format!(
                "Model {model} of provider {provider} is not configured."
            ))
            .into());
        }
        state
            .store()
            .set_default_model(&caller.workspace_id, kind, provider, model)
            .await?;
    }
    Ok(success())
}

async fn provider_models(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let provider = provider_in_path(&req);
    let (name, p) = table(&state, &provider)
        .ok_or_else(|| ServiceError::invalid(format!("Provider {provider} does not exist.")))?;
    let head = provider_head(&caller.workspace_id, name, p);
    let data: Vec<Value> = supported_types(p)
        .into_iter()
        .flat_map(|k| models_of(p, k).iter().map(move |m| (k, m)))
        .map(|(k, m)| {
            let mut v = model_json(m, k);
            v["provider"] = head.clone();
            v
        })
        .collect();
    Ok(ok(&json!({"data": data})))
}

/// The parameter form of an OpenAI-compatible chat model.
pub fn llm_parameter_rules() -> Value {
    let rule = |name: &str,
                kind: &str,
                default: Value,
                min: Value,
                max: Value,
                precision: Value,
                help: &str| {
        json!({"name": name, "use_template": name, "label": i18n(name), "type": kind,
            "help": i18n(help), "required": false, "default": default, "min": min, "max": max,
            "precision": precision, "options": []})
    };
    json!([
        rule("temperature", "float", json!(1.0), json!(0.0), json!(2.0), json!(2),
            "Higher values make the output more random."),
        rule("top_p", "float", json!(1.0), json!(0.0), json!(1.0), json!(2),
            "Nucleus sampling: only tokens within this probability mass are considered."),
        rule("presence_penalty", "float", json!(0.0), json!(-2.0), json!(2.0), json!(2),
            "Penalises tokens that already appeared."),
        rule("frequency_penalty", "float", json!(0.0), json!(-2.0), json!(2.0), json!(2),
            "Penalises tokens by how often they appeared."),
        rule("max_tokens", "int", json!(512), json!(1), json!(16_384), Value::Null,
            "The longest answer, in tokens."),
        {
            "name": "response_format", "use_template": "response_format",
            "label": i18n("response_format"), "type": "string",
            "help": i18n("The format the model must answer in."), "required": false,
            "default": null, "min": null, "max": null, "precision": null,
            "options": ["text", "json_object"]
        },
    ])
}

async fn parameter_rules(state: AppState, req: Request<Body>) -> HandlerResult {
    let provider = provider_in_path(&req);
    let model = query_param(&query_pairs(&req), "model").unwrap_or_default();
    let (_, p) = table(&state, &provider)
        .ok_or_else(|| ServiceError::invalid(format!("Provider {provider} does not exist.")))?;
    let data = if p.llm_models.contains(&model) {
        llm_parameter_rules()
    } else {
        json!([])
    };
    Ok(ok(&json!({"data": data})))
}
