//! App management shared by the CLI and `/openapi/v1`: import from DSL, export, delete.

use serde_json::Value;
use weir_core::coordination::CoordError;

use crate::config::enabled_agent_tools;
use crate::dsl::{self, Dsl, DslError, ImportStatus};
use crate::secrets::Secrets;
use crate::store::{AppRow, NewApp, NewWorkflow, Store, StoreError};
use crate::tools::ToolRegistry;

/// An import that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The DSL is refused.
    #[error(transparent)]
    Dsl(#[from] DslError),
    /// The app to overwrite cannot be.
    #[error(transparent)]
    Overwrite(#[from] OverwriteError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a pending import waits for its confirmation.
pub const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// A DSL import parked until confirmed (its version is newer than weir's).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingImport {
    /// Workspace.
    pub workspace_id: String,
    /// The DSL text.
    pub text: String,
    /// Its overrides.
    pub options: ImportOptions,
    /// The file's version.
    pub version: String,
}

/// Imports waiting for confirmation, by import id, parked where every instance finds them.
pub struct PendingImports {
    coord: std::sync::Arc<dyn weir_core::coordination::Coordination>,
}

impl PendingImports {
    /// Pending imports kept by `coord`.
    pub fn new(coord: std::sync::Arc<dyn weir_core::coordination::Coordination>) -> Self {
        PendingImports { coord }
    }

    /// Parks an import for [`PENDING_TTL`]; returns its id.
    pub async fn park(&self, p: &PendingImport) -> Result<String, CoordError> {
        let id = uuid::Uuid::new_v4().to_string();
        let value = serde_json::to_string(p).map_err(|e| CoordError(e.to_string()))?;
        self.coord
            .park(&format!("import:{id}"), value, PENDING_TTL)
            .await?;
        Ok(id)
    }

    /// Takes a parked import that has not expired.
    pub async fn take(&self, id: &str) -> Result<Option<PendingImport>, CoordError> {
        let found = self.coord.take(&format!("import:{id}")).await?;
        Ok(found.and_then(|v| serde_json::from_str(&v).ok()))
    }
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
    /// The app's mode.
    pub mode: crate::dsl::AppMode,
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
    validate_with(text, tools, false)
}

/// [`validate`], accepting a newer DSL version when `allow_newer` (a confirmed import).
pub fn validate_with(text: &str, tools: &ToolRegistry, allow_newer: bool) -> Result<Dsl, DslError> {
    let dsl = Dsl::parse_with(text, allow_newer)?;
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

/// Overrides of an import (`/openapi/v1` import requests).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ImportOptions {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Icon type.
    pub icon_type: Option<String>,
    /// Icon.
    pub icon: Option<String>,
    /// Icon background.
    pub icon_background: Option<String>,
    /// Overwrite this (workflow or advanced-chat) app instead of creating one.
    pub app_id: Option<String>,
    /// Accept a DSL newer than weir's (a confirmed pending import).
    pub allow_newer: bool,
    /// The console account importing it.
    pub created_by: Option<String>,
}

/// An app to overwrite that cannot be.
#[derive(Debug, thiserror::Error)]
pub enum OverwriteError {
    /// It does not exist.
    #[error("app {0} not found")]
    NotFound(String),
    /// Only workflow and advanced-chat apps can be overwritten, by the same mode.
    #[error("only workflow and advanced-chat apps can be overwritten, by a DSL of the same mode")]
    WrongMode,
}

/// Imports DSL text as a new app of `workspace_id`; `name` overrides the file's name.
/// Nothing is stored unless the whole import succeeds.
pub async fn import(
    store: &Store,
    tools: &ToolRegistry,
    secrets: &Secrets,
    workspace_id: &str,
    dsl_text: &str,
    name: Option<&str>,
) -> Result<Imported, ImportError> {
    let opts = ImportOptions {
        name: name.map(str::to_owned),
        ..Default::default()
    };
    import_with(store, tools, secrets, workspace_id, dsl_text, &opts).await
}

/// Imports DSL text with overrides (or overwrites an app).
pub async fn import_with(
    store: &Store,
    tools: &ToolRegistry,
    secrets: &Secrets,
    workspace_id: &str,
    dsl_text: &str,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut dsl = validate_with(dsl_text, tools, opts.allow_newer)?;
    for (key, value) in [
        ("name", &opts.name),
        ("description", &opts.description),
        ("icon_type", &opts.icon_type),
        ("icon", &opts.icon),
        ("icon_background", &opts.icon_background),
    ] {
        if let Some(v) = value {
            dsl.doc["app"][key] = Value::String(v.clone());
        }
    }
    secrets.seal_document(&mut dsl.doc);
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
        created_by: opts.created_by.clone(),
    };
    let app_id = match &opts.app_id {
        Some(id) => {
            let existing = store
                .app(id)
                .await?
                .filter(|a| a.workspace_id == workspace_id)
                .ok_or_else(|| ImportError::Overwrite(OverwriteError::NotFound(id.clone())))?;
            if existing.mode != new.mode || !dsl.mode.is_workflow_based() {
                return Err(ImportError::Overwrite(OverwriteError::WrongMode));
            }
            store.replace_app(id, &new).await?;
            id.clone()
        }
        None => store.insert_app(&new).await?,
    };
    Ok(Imported {
        app_id,
        status: dsl.status,
        version: dsl.version,
        mode: dsl.mode,
    })
}

/// The DSL YAML of a stored app (secrets blanked unless `include_secrets`).
pub fn export(app: &AppRow, secrets: &Secrets, include_secrets: bool) -> String {
    export_version(app, None, secrets, include_secrets)
}

/// [`export`] with the graph, features and variables of another of the app's workflow
/// versions.
pub fn export_version(
    app: &AppRow,
    version: Option<&crate::store::WorkflowRow>,
    secrets: &Secrets,
    include_secrets: bool,
) -> String {
    let mut doc: Value = serde_json::from_str(&app.dsl).unwrap_or(Value::Null);
    if let (Some(w), Some(flow)) = (
        version,
        doc.get_mut("workflow").and_then(Value::as_object_mut),
    ) {
        for (key, text) in [
            ("graph", &w.graph),
            ("features", &w.features),
            ("environment_variables", &w.environment_variables),
            ("conversation_variables", &w.conversation_variables),
        ] {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                flow.insert(key.into(), v);
            }
        }
    }
    if let Some(meta) = doc.get_mut("app").and_then(Value::as_object_mut) {
        meta.insert("name".into(), Value::String(app.name.clone()));
        meta.insert("mode".into(), Value::String(app.mode.clone()));
        meta.insert("description".into(), Value::String(app.description.clone()));
    }
    if include_secrets && secrets.open_document(&mut doc).is_err() {
        tracing::error!(app = %app.id, "secret variables cannot be decrypted: exported blank");
        return dsl::export(&doc, false);
    }
    dsl::export(&doc, include_secrets)
}

/// Seals the secret variables that earlier versions of weir stored in clear (apps and
/// workflow versions); run at startup, idempotent.
pub async fn seal_stored_secrets(store: &Store, secrets: &Secrets) -> Result<usize, StoreError> {
    let mut sealed = 0;
    for (id, text) in store.app_documents().await? {
        let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let before = doc.clone();
        secrets.seal_document(&mut doc);
        if doc != before {
            store.set_app_document(&id, &doc.to_string()).await?;
            sealed += 1;
        }
    }
    for (id, text) in store.workflow_environments().await? {
        let Ok(mut vars) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let before = vars.clone();
        secrets.seal_variables(&mut vars);
        if vars != before {
            store
                .set_workflow_environment(&id, &vars.to_string())
                .await?;
            sealed += 1;
        }
    }
    Ok(sealed)
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
