//! App management shared by the CLI and `/openapi/v1`: import from DSL, export, delete.

use serde_json::Value;

use crate::dsl::{self, Dsl, DslError, ImportStatus};
use crate::runtime::config::enabled_agent_tools;
use crate::store::{AppRow, NewApp, NewWorkflow, Store, StoreError};
use crate::tools::ToolRegistry;

/// An import that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The DSL is refused.
    #[error(transparent)]
    Dsl(#[from] DslError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A completed import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The new app's id.
    pub app_id: String,
    /// `completed` or `completed-with-warnings`.
    pub status: ImportStatus,
    /// The file's DSL version.
    pub version: String,
}

fn text(app: &serde_json::Map<String, Value>, key: &str) -> String {
    app.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Validates a DSL document for import: it parses, and weir can run what it names (tools
/// of agents).
pub fn validate(text: &str, tools: &ToolRegistry) -> Result<Dsl, DslError> {
    let dsl = Dsl::parse(text)?;
    let mut missing = Vec::new();
    if let Some(mc) = dsl.doc.get("model_config").and_then(Value::as_object) {
        if dsl.mode == crate::dsl::AppMode::AgentChat {
            for t in enabled_agent_tools(mc) {
                if tools
                    .get(&t.provider_type, &t.provider_id, &t.tool_name)
                    .is_none()
                {
                    missing.push(format!(
                        "tool {}/{} ({})",
                        t.provider_id, t.tool_name, t.provider_type
                    ));
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(DslError::Unsupported(missing));
    }
    if dsl.mode.is_workflow_based() {
        let part = |k: &str| {
            dsl.doc
                .pointer(&format!("/workflow/{k}"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let wf = crate::engine::Workflow::compile(
            "import",
            &part("graph"),
            &part("environment_variables"),
            &part("conversation_variables"),
        )?;
        let mut missing = Vec::new();
        wf.graph.visit(&mut |n| {
            if n.kind == "tool" {
                let (t, p, name) = (
                    n.str("provider_type"),
                    n.str("provider_id"),
                    n.str("tool_name"),
                );
                if tools.get(t, p, name).is_none() {
                    missing.push(format!("tool {p}/{name} ({t})"));
                }
            }
        });
        if !missing.is_empty() {
            return Err(DslError::Unsupported(missing));
        }
    }
    Ok(dsl)
}

/// Imports DSL text as a new app of `workspace_id`; `name` overrides the file's name.
/// Nothing is stored unless the whole import succeeds.
pub async fn import(
    store: &Store,
    tools: &ToolRegistry,
    workspace_id: &str,
    dsl_text: &str,
    name: Option<&str>,
) -> Result<Imported, ImportError> {
    let mut dsl = validate(dsl_text, tools)?;
    if let Some(name) = name {
        dsl.doc["app"]["name"] = Value::String(name.to_owned());
    }
    let app = dsl.app().clone();
    let workflow = dsl.mode.is_workflow_based().then(|| NewWorkflow {
        graph: dsl.workflow_part("graph"),
        features: dsl.workflow_part("features"),
        environment_variables: dsl.workflow_part("environment_variables"),
        conversation_variables: dsl.workflow_part("conversation_variables"),
    });
    let new = NewApp {
        workspace_id: workspace_id.to_owned(),
        name: text(&app, "name"),
        mode: dsl.mode.as_str().to_owned(),
        description: text(&app, "description"),
        icon: text(&app, "icon"),
        icon_type: text(&app, "icon_type"),
        icon_background: text(&app, "icon_background"),
        use_icon_as_answer_icon: app
            .get("use_icon_as_answer_icon")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        dsl_version: dsl.version.clone(),
        dsl: dsl.doc.to_string(),
        workflow,
    };
    let app_id = store.insert_app(&new).await?;
    Ok(Imported {
        app_id,
        status: dsl.status,
        version: dsl.version,
    })
}

/// The DSL YAML of a stored app (secrets blanked unless `include_secrets`).
pub fn export(app: &AppRow, include_secrets: bool) -> String {
    let mut doc: Value = serde_json::from_str(&app.dsl).unwrap_or(Value::Null);
    if let Some(meta) = doc.get_mut("app").and_then(Value::as_object_mut) {
        meta.insert("name".into(), Value::String(app.name.clone()));
        meta.insert("mode".into(), Value::String(app.mode.clone()));
        meta.insert("description".into(), Value::String(app.description.clone()));
    }
    dsl::export(&doc, include_secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_naming_unknown_tools_are_refused() {
        let tools = ToolRegistry::new(&crate::settings::Settings::default());
        let text = "version: '0.6.0'\napp: {mode: agent-chat, name: a}\nmodel_config:\n  pre_prompt: ''\n  agent_mode:\n    enabled: true\n    tools:\n    - {enabled: true, provider_type: builtin, provider_id: langgenius/google/google, tool_name: google_search, tool_parameters: {}}\n    - {enabled: false, provider_type: builtin, provider_id: x, tool_name: y, tool_parameters: {}}\n";
        let err = validate(text, &tools).unwrap_err().to_string();
        assert_eq!(
            err,
            "unsupported by weir: tool langgenius/google/google/google_search (builtin)"
        );
        let ok = text.replace(
            "langgenius/google/google, tool_name: google_search",
            "langgenius/time/time, tool_name: weekday",
        );
        assert!(validate(&ok, &tools).is_ok());
    }
}
