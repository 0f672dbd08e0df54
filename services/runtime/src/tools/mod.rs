//! Tools agents and workflow tool nodes call, behind one [`ToolRegistry`]: weir's native
//! built-in providers (Dify's `time`) and custom API tools described by OpenAPI schemas.

mod api;
mod time;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use weir_core::tools::Tools;

use crate::settings::Settings;

pub use weir_core::tools::{provider_key, Tool, ToolError, ToolParam, ToolSpec};

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

impl Tools for ToolRegistry {
    fn get(&self, provider_type: &str, provider_id: &str, tool: &str) -> Option<Arc<dyn Tool>> {
        ToolRegistry::get(self, provider_type, provider_id, tool)
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
