//! Apps as the handlers use them: parsed once from the stored row (secrets opened, workflow
//! compiled), and cached briefly ([`AppCache`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_core::model::ModelSpec;

use crate::config::AppConfig;
use crate::dsl::AppMode;
use crate::secrets::Secrets;
use crate::store::{AppRow, Store, StoreError};

/// An app with its parsed configuration, as the handlers use it.
#[derive(Debug)]
pub struct LoadedApp {
    /// The stored row.
    pub row: AppRow,
    /// Its mode.
    pub mode: AppMode,
    /// The DSL document.
    pub dsl: Value,
    /// Easy-UI configuration (chat, completion, agent-chat), if valid.
    pub config: Option<AppConfig>,
    /// The published workflow (workflow, advanced-chat), compiled.
    pub workflow: Option<Arc<crate::engine::Workflow>>,
}

impl LoadedApp {
    /// Parses a stored app, opening its sealed secrets.
    pub fn from_row(row: AppRow, secrets: &Secrets) -> LoadedApp {
        let mut dsl: Value = serde_json::from_str(&row.dsl).unwrap_or(Value::Null);
        if secrets.open_document(&mut dsl).is_err() {
            tracing::error!(app = %row.id, "secret variables cannot be decrypted (was secret_key changed?): they are empty");
            dsl = crate::dsl::blank_secrets(std::mem::take(&mut dsl));
        }
        let mode = AppMode::parse(&row.mode).unwrap_or(AppMode::Chat);
        let config = dsl
            .get("model_config")
            .and_then(Value::as_object)
            .filter(|_| !mode.is_workflow_based())
            .and_then(|mc| AppConfig::from_model_config(mode, mc));
        let workflow = match (&row.workflow_id, mode.is_workflow_based()) {
            (Some(id), true) => {
                let part = |k: &str| {
                    dsl.pointer(&format!("/workflow/{k}"))
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                match crate::engine::Workflow::compile(
                    id,
                    &part("graph"),
                    &part("environment_variables"),
                    &part("conversation_variables"),
                ) {
                    Ok(w) => Some(Arc::new(w)),
                    Err(e) => {
                        tracing::warn!(app = %row.id, error = %e, "the app's workflow does not compile");
                        None
                    }
                }
            }
            _ => None,
        };
        LoadedApp {
            row,
            mode,
            dsl,
            config,
            workflow,
        }
    }

    /// The model an app's extra LLM calls (names, suggestions) use: the configured one for
    /// easy-UI apps, the first LLM node's for workflow-based apps.
    pub fn model(&self) -> Option<ModelSpec> {
        if let Some(c) = &self.config {
            return Some(c.model.clone());
        }
        self.dsl
            .pointer("/workflow/graph/nodes")
            .and_then(Value::as_array)?
            .iter()
            .find(|n| n.pointer("/data/type").and_then(Value::as_str) == Some("llm"))
            .and_then(|n| n.pointer("/data/model"))
            .and_then(ModelSpec::from_value)
    }

    /// The `features` of a workflow-based app, or the model config of an easy-UI app.
    pub fn features(&self) -> Option<&serde_json::Map<String, Value>> {
        if self.mode.is_workflow_based() {
            self.dsl
                .pointer("/workflow/features")
                .and_then(Value::as_object)
        } else {
            self.dsl.get("model_config").and_then(Value::as_object)
        }
    }
}

/// How long a loaded app is trusted before it is read again.
pub const APP_CACHE_TTL: Duration = Duration::from_secs(10);

/// Loaded apps by id, read again after [`APP_CACHE_TTL`].
#[derive(Default)]
pub struct AppCache {
    apps: RwLock<HashMap<String, (Arc<LoadedApp>, Instant)>>,
}

impl AppCache {
    /// Forgets an app (it changed).
    pub fn forget(&self, id: &str) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The app with this id, from the cache or the store.
    pub async fn get(
        &self,
        store: &Store,
        secrets: &Secrets,
        id: &str,
    ) -> Result<Option<Arc<LoadedApp>>, StoreError> {
        if let Some((app, at)) = self.apps.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            if at.elapsed() < APP_CACHE_TTL {
                return Ok(Some(app.clone()));
            }
        }
        let Some(row) = store.app(id).await? else {
            self.apps
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            return Ok(None);
        };
        let app = Arc::new(LoadedApp::from_row(row, secrets));
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        if apps.len() > 10_000 {
            apps.clear();
        }
        apps.insert(id.to_owned(), (app.clone(), Instant::now()));
        Ok(Some(app))
    }
}
