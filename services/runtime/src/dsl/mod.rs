//! Dify DSL: parsing and validation on import, and export back to YAML.
//!
//! Import follows Dify's importer: the document must be a YAML mapping of at most 10 MB;
//! `version` must be a string (absent = `0.1.0`); `kind` is forced to `app`; `app.mode` must be
//! one of the five runnable modes; workflow modes need a `workflow` mapping and model-config
//! modes a `model_config` mapping with `pre_prompt`. The version decides the import status.
//! What a runtime cannot run (unknown node types, missing tools) is checked by the runtime's
//! own validator on top of this.

mod version;

pub use version::{import_status, ImportStatus, CURRENT_VERSION};

use serde_json::{Map, Value};

/// Dify's cap on imported DSL content.
pub const MAX_DSL_BYTES: usize = 10 * 1024 * 1024;

/// The five app modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppMode {
    /// Chatbot (easy UI).
    Chat,
    /// Text generator.
    Completion,
    /// Agent.
    AgentChat,
    /// Chatflow.
    AdvancedChat,
    /// Workflow.
    Workflow,
}

impl AppMode {
    /// Every mode.
    pub const ALL: [AppMode; 5] = [
        AppMode::Chat,
        AppMode::Completion,
        AppMode::AgentChat,
        AppMode::AdvancedChat,
        AppMode::Workflow,
    ];

    /// The mode as Dify spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AppMode::Chat => "chat",
            AppMode::Completion => "completion",
            AppMode::AgentChat => "agent-chat",
            AppMode::AdvancedChat => "advanced-chat",
            AppMode::Workflow => "workflow",
        }
    }

    /// The mode named `s`.
    pub fn parse(s: &str) -> Option<AppMode> {
        AppMode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the app is driven by a workflow graph.
    pub fn is_workflow_based(self) -> bool {
        matches!(self, AppMode::AdvancedChat | AppMode::Workflow)
    }

    /// Whether the app is chat-like (conversations).
    pub fn is_chat_like(self) -> bool {
        matches!(
            self,
            AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat
        )
    }
}

/// Why a DSL file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DslError {
    /// Over 10 MB.
    #[error("DSL content exceeds the {} MB limit", MAX_DSL_BYTES / (1024 * 1024))]
    TooLarge,
    /// Not YAML.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// YAML, but not a mapping.
    #[error("invalid DSL: content must be a mapping")]
    NotMapping,
    /// `version` is not a string.
    #[error("invalid DSL: version must be a string (quote it, e.g. version: \"0.6.0\")")]
    VersionNotString,
    /// `version` does not parse.
    #[error("invalid DSL version {0:?}")]
    VersionInvalid(String),
    /// `version` is newer than weir understands (Dify parks such imports as `pending`).
    #[error("DSL version {0} is newer than the supported {CURRENT_VERSION}; confirm the import to proceed")]
    VersionNewer(String),
    /// No `app` mapping.
    #[error("invalid DSL: missing app data")]
    MissingApp,
    /// No `app.mode`.
    #[error("invalid DSL: app.mode is required")]
    MissingMode,
    /// An `app.mode` that cannot be imported.
    #[error("invalid DSL: unknown app mode {0:?} (expected chat, completion, agent-chat, advanced-chat or workflow)")]
    UnknownMode(String),
    /// A workflow-based app without `workflow`.
    #[error("invalid DSL: missing workflow data for {0} app")]
    MissingWorkflow(&'static str),
    /// A model-config app without `model_config`.
    #[error("invalid DSL: missing model_config for {0} app")]
    MissingModelConfig(&'static str),
    /// A model-config app without `pre_prompt`.
    #[error("invalid DSL: model_config.pre_prompt is required")]
    MissingPrePrompt,
    /// A structural error in the workflow graph.
    #[error("invalid workflow graph: {0}")]
    Graph(String),
    /// Parts weir cannot run yet.
    #[error("unsupported by weir: {}", .0.join(", "))]
    Unsupported(Vec<String>),
}

impl From<crate::engine::CompileError> for DslError {
    fn from(e: crate::engine::CompileError) -> Self {
        match e {
            crate::engine::CompileError::Graph(g) => DslError::Graph(g),
            crate::engine::CompileError::Unsupported(parts) => DslError::Unsupported(parts),
        }
    }
}

/// A parsed, validated DSL document.
#[derive(Clone, Debug)]
pub struct Dsl {
    /// The file's version.
    pub version: String,
    /// The import status the version gives.
    pub status: ImportStatus,
    /// The app mode.
    pub mode: AppMode,
    /// The whole document, normalised (`kind: app`, defaults filled in), as JSON.
    pub doc: Value,
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

impl Dsl {
    /// Parses and validates DSL text; a file newer than weir understands is refused.
    pub fn parse(text: &str) -> Result<Dsl, DslError> {
        Self::parse_with(text, false)
    }

    /// The `version` a DSL text declares, if it is YAML with a string `version`.
    pub fn declared_version(text: &str) -> Option<String> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
        yaml.get("version")?.as_str().map(|v| v.trim().to_owned())
    }

    /// Parses and validates DSL text; `allow_newer` accepts a newer (confirmed) file.
    pub fn parse_with(text: &str, allow_newer: bool) -> Result<Dsl, DslError> {
        if text.len() > MAX_DSL_BYTES {
            return Err(DslError::TooLarge);
        }
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| DslError::Yaml(e.to_string()))?;
        let doc: Value = serde_json::to_value(&yaml).map_err(|e| DslError::Yaml(e.to_string()))?;
        let Value::Object(mut doc) = doc else {
            return Err(DslError::NotMapping);
        };
        let version = match doc.get("version") {
            None | Some(Value::Null) => "0.1.0".to_owned(),
            Some(Value::String(s)) if s.trim().is_empty() => "0.1.0".to_owned(),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(_) => return Err(DslError::VersionNotString),
        };
        let status = import_status(&version);
        match status {
            ImportStatus::Failed => return Err(DslError::VersionInvalid(version)),
            ImportStatus::Pending if !allow_newer => return Err(DslError::VersionNewer(version)),
            _ => {}
        }
        doc.insert("version".into(), Value::String(version.clone()));
        doc.insert("kind".into(), Value::String("app".into()));

        let app = match doc.get_mut("app") {
            Some(Value::Object(app)) if !app.is_empty() => app,
            _ => return Err(DslError::MissingApp),
        };
        let mode = match app.get("mode") {
            None | Some(Value::Null) => return Err(DslError::MissingMode),
            Some(Value::String(m)) => {
                AppMode::parse(m).ok_or_else(|| DslError::UnknownMode(m.clone()))?
            }
            Some(other) => return Err(DslError::UnknownMode(other.to_string())),
        };
        normalise_app(app);

        if mode.is_workflow_based() {
            let Some(Value::Object(workflow)) = doc.get_mut("workflow") else {
                return Err(DslError::MissingWorkflow(mode.as_str()));
            };
            for (key, default) in [
                ("graph", serde_json::json!({"nodes": [], "edges": []})),
                ("features", serde_json::json!({})),
                ("environment_variables", serde_json::json!([])),
                ("conversation_variables", serde_json::json!([])),
            ] {
                if workflow.get(key).is_none_or(Value::is_null) {
                    workflow.insert(key.into(), default);
                }
            }
            check_graph_shape(&workflow["graph"])?;
        } else {
            let Some(Value::Object(config)) = doc.get("model_config") else {
                return Err(DslError::MissingModelConfig(mode.as_str()));
            };
            if !config.contains_key("pre_prompt") {
                return Err(DslError::MissingPrePrompt);
            }
        }
        Ok(Dsl {
            version,
            status,
            mode,
            doc: Value::Object(doc),
        })
    }

    /// The `app` mapping.
    pub fn app(&self) -> &Map<String, Value> {
        self.doc["app"].as_object().expect("validated")
    }

    /// `app.name` (may be empty).
    pub fn name(&self) -> &str {
        str_field(self.app(), "name").unwrap_or("")
    }

    /// A `workflow` part as JSON text (`graph`, `features`, …), `null` when absent.
    pub fn workflow_part(&self, key: &str) -> String {
        self.doc
            .get("workflow")
            .and_then(|w| w.get(key))
            .map(Value::to_string)
            .unwrap_or_else(|| "null".into())
    }
}

fn normalise_app(app: &mut Map<String, Value>) {
    let icon_type = str_field(app, "icon_type").unwrap_or("emoji");
    if !matches!(icon_type, "emoji" | "image" | "link") || !app.contains_key("icon_type") {
        app.insert("icon_type".into(), "emoji".into());
    }
    if str_field(app, "icon_background").is_none_or(str::is_empty) {
        app.insert("icon_background".into(), "#FFFFFF".into());
    }
    if str_field(app, "name").is_none() {
        app.insert("name".into(), "".into());
    }
}

/// The graph must be a mapping with `nodes` and `edges` lists whose items are mappings.
fn check_graph_shape(graph: &Value) -> Result<(), DslError> {
    let Value::Object(graph) = graph else {
        return Err(DslError::Graph("graph must be a mapping".into()));
    };
    for key in ["nodes", "edges"] {
        match graph.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if items.iter().any(|i| !i.is_object()) {
                    return Err(DslError::Graph(format!(
                        "every item of {key} must be a mapping"
                    )));
                }
            }
            Some(_) => return Err(DslError::Graph(format!("{key} must be a list"))),
        }
    }
    Ok(())
}

/// Exports a stored DSL document as YAML at the current DSL version: secret environment
/// variables are blanked unless `include_secrets`, and `credential_id` fields are dropped.
pub fn export(doc: &Value, include_secrets: bool) -> String {
    let mut doc = doc.clone();
    if let Value::Object(map) = &mut doc {
        map.insert("version".into(), Value::String(CURRENT_VERSION.into()));
        map.insert("kind".into(), Value::String("app".into()));
    }
    if !include_secrets {
        doc = blank_secrets(doc);
    }
    strip_key(&mut doc, "credential_id");
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// A DSL document with the values of its secret environment variables emptied.
pub fn blank_secrets(mut doc: Value) -> Value {
    if let Some(Value::Array(vars)) = doc.pointer_mut("/workflow/environment_variables") {
        for var in vars {
            if var.get("value_type").and_then(Value::as_str) == Some("secret") {
                var["value"] = Value::String(String::new());
            }
        }
    }
    doc
}

fn strip_key(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|v| strip_key(v, key));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip_key(v, key)),
        _ => {}
    }
}

/// The secret environment variable values of a workflow document (never echoed).
pub fn secret_values(doc: &Value) -> Vec<String> {
    doc.pointer("/workflow/environment_variables")
        .and_then(Value::as_array)
        .map(|vars| {
            vars.iter()
                .filter(|v| v.get("value_type").and_then(Value::as_str) == Some("secret"))
                .filter_map(|v| v.get("value").and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
