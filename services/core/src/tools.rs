//! Tools that agents and workflow tool nodes call: what a tool is ([`ToolSpec`]), the
//! [`Tool`] itself, and the [`Tools`] that find one by provider and name (the runtime's
//! registry implements it).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::BoxFuture;

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

/// The tools weir can call.
pub trait Tools: Send + Sync {
    /// The tool of this provider type, provider id and name.
    fn get(&self, provider_type: &str, provider_id: &str, tool: &str) -> Option<Arc<dyn Tool>>;
}
