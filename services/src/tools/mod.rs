//! Tools agents and workflow tool nodes call, behind one [`ToolRegistry`]: weir's native
//! built-in providers (Dify's `time`) and custom API tools described by OpenAPI schemas.

mod api;
mod time;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use weir_layers::BoxFuture;

use crate::settings::Settings;

/// One parameter of a tool.
#[derive(Clone, Debug)]
pub struct ToolParam {
    /// Name.
    pub name: String,
    /// JSON schema type (`string`, `number`, …).
    pub kind: &'static str,
    /// What it means.
    pub description: String,
    /// Must be given.
    pub required: bool,
    /// Chosen by the model (otherwise fixed by the app's configuration).
    pub llm: bool,
}

/// What a tool is.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    /// Provider key (`time`, or the API provider's name).
    pub provider: String,
    /// Tool name.
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// Parameters.
    pub params: Vec<ToolParam>,
}

impl ToolSpec {
    /// The JSON schema of the parameters the model chooses.
    pub fn llm_schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in self.params.iter().filter(|p| p.llm) {
            props.insert(
                p.name.clone(),
                serde_json::json!({"type": p.kind, "description": p.description}),
            );
            if p.required {
                required.push(Value::String(p.name.clone()));
            }
        }
        serde_json::json!({"type": "object", "properties": props, "required": required})
    }
}

/// A tool failure (reported to the model as the observation, or failing a tool node).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

/// A callable tool.
pub trait Tool: Send + Sync {
    /// What it is.
    fn spec(&self) -> &ToolSpec;
    /// Calls it with these arguments (fixed and model-chosen merged).
    fn invoke<'a>(
        &'a self,
        args: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// The last path segment of a provider id (`langgenius/time/time` → `time`).
pub fn provider_key(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Every tool weir can call.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    builtin: HashMap<(String, String), Arc<dyn Tool>>,
    api: HashMap<(String, String), Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// The built-in tools plus the API tools configured in `settings`.
    pub fn new(settings: &Settings) -> Self {
        let mut reg = ToolRegistry::default();
        for tool in time::tools() {
            let key = (tool.spec().provider.clone(), tool.spec().name.clone());
            reg.builtin.insert(key, tool);
        }
        if settings.api_tools.is_empty() {
            return reg;
        }
        let outbound = match crate::net::Outbound::new(&settings.network) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "API tools not loaded");
                return reg;
            }
        };
        for (name, cfg) in &settings.api_tools {
            match api::tools(name, cfg, &outbound) {
                Ok(tools) => {
                    for tool in tools {
                        reg.api
                            .insert((name.clone(), tool.spec().name.clone()), tool);
                    }
                }
                Err(e) => {
                    tracing::warn!(provider = %name, error = %e, "API tool provider not loaded")
                }
            }
        }
        reg
    }

    /// The tool of this provider type, provider id and name.
    pub fn get(&self, provider_type: &str, provider_id: &str, tool: &str) -> Option<Arc<dyn Tool>> {
        let key = (provider_key(provider_id).to_owned(), tool.to_owned());
        match provider_type {
            "builtin" | "plugin" | "" => self.builtin.get(&key).cloned(),
            "api" => self.api.get(&key).cloned(),
            _ => None,
        }
    }
}

/// Turns an argument value into text (tools take text parameters).
pub fn arg_text(args: &Map<String, Value>, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
