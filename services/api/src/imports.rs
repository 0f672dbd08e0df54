//! DSL imports as the console and `/openapi/v1` both answer them: Dify's `Import` body
//! whatever happens — 200 `completed` / `completed-with-warnings`, 202 `pending` (a DSL
//! newer than weir's, parked for ten minutes until confirmed), 400 `failed` with the reason
//! in `error` — and the fetch of a `yaml_url`.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use weir_layers::{body, Body, BoxError};

use crate::apps::{self, ImportError, ImportOptions, PendingImport};
use crate::dsl::{DslError, CURRENT_VERSION, MAX_DSL_BYTES};
use crate::state::AppState;
use crate::util::canonical_uuid;

/// How long fetching a `yaml_url` may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// `error` of a confirmation whose pending import is gone.
pub const PENDING_EXPIRED: &str = "Import information expired or does not exist";

/// Dify's `Import` body.
pub struct ImportBody {
    /// The import's id.
    pub id: String,
    /// `completed`, `completed-with-warnings`, `pending` or `failed`.
    pub status: &'static str,
    /// The app made or overwritten.
    pub app_id: Option<String>,
    /// Its mode.
    pub app_mode: Option<&'static str>,
    /// The DSL's declared version.
    pub imported_dsl_version: String,
    /// Why it failed.
    pub error: String,
}

impl ImportBody {
    /// A failed import.
    pub fn failed(id: String, error: impl Into<String>, version: String) -> Self {
        ImportBody {
            id,
            status: "failed",
            app_id: None,
            app_mode: None,
            imported_dsl_version: version,
            error: error.into(),
        }
    }

    /// The HTTP answer: 200, 202 or 400 by status.
    pub fn response(self) -> http::Response<Body> {
        let status = match self.status {
            "failed" => StatusCode::BAD_REQUEST,
            "pending" => StatusCode::ACCEPTED,
            _ => StatusCode::OK,
        };
        body::json(
            status,
            &json!({"id": self.id, "status": self.status, "app_id": self.app_id, "app_mode": self.app_mode,
                "current_dsl_version": CURRENT_VERSION, "imported_dsl_version": self.imported_dsl_version,
                "error": self.error}),
        )
    }
}

/// Fetches a DSL file by URL (guarded like every outbound fetch of untrusted input).
pub async fn fetch(state: &AppState, url: &str) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("Error fetching YAML from URL: {e}");
    let bytes = match state
        .outbound()
        .fetch(url, MAX_DSL_BYTES as u64, FETCH_TIMEOUT)
        .await
    {
        Ok(b) => b,
        Err(crate::net::NetError::TooLarge(_)) => return Err(DslError::TooLarge.to_string()),
        Err(e @ crate::net::NetError::InvalidUrl(_)) => return Err(e.to_string()),
        Err(e) => return Err(fail(&e)),
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| fail(&"not UTF-8 text"))
}

/// Runs an import and says how it went (failures are answers, not errors, except a
/// failing store).
pub async fn import_text(
    state: &AppState,
    workspace_id: &str,
    text: String,
    options: ImportOptions,
) -> Result<ImportBody, BoxError> {
    let id = uuid::Uuid::new_v4().to_string();
    if let Some(app_id) = &options.app_id {
        if canonical_uuid(app_id).is_none() {
            return Ok(ImportBody::failed(id, "App not found", String::new()));
        }
    }
    match apps::import_with(
        state.store(),
        state.tools(),
        state.secrets(),
        workspace_id,
        &text,
        &options,
    )
    .await
    {
        Ok(done) => {
            state.forget_app(&done.app_id);
            Ok(ImportBody {
                id,
                status: done.status.as_str(),
                app_id: Some(done.app_id),
                app_mode: Some(done.mode.as_str()),
                imported_dsl_version: done.version,
                error: String::new(),
            })
        }
        Err(ImportError::Dsl(DslError::VersionNewer(version))) => {
            let app_id = options.app_id.clone();
            let pending = state
                .pending_imports()
                .park(&PendingImport {
                    workspace_id: workspace_id.to_owned(),
                    text,
                    options,
                    version: version.clone(),
                })
                .await?;
            Ok(ImportBody {
                id: pending,
                status: "pending",
                app_id,
                app_mode: None,
                imported_dsl_version: version,
                error: String::new(),
            })
        }
        Err(ImportError::Dsl(e)) => {
            let version = crate::dsl::Dsl::declared_version(&text).unwrap_or_default();
            Ok(ImportBody::failed(id, e.to_string(), version))
        }
        Err(ImportError::Overwrite(e)) => Ok(ImportBody::failed(id, e.to_string(), String::new())),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// Confirms a pending import of `workspace_id`: runs it, newer version and all.
pub async fn confirm(
    state: &AppState,
    workspace_id: &str,
    import_id: String,
) -> Result<ImportBody, BoxError> {
    let Some(pending) = state
        .pending_imports()
        .take(&import_id)
        .await?
        .filter(|p| p.workspace_id == workspace_id)
    else {
        return Ok(ImportBody::failed(
            import_id,
            PENDING_EXPIRED,
            String::new(),
        ));
    };
    let options = ImportOptions {
        allow_newer: true,
        ..pending.options
    };
    let mut answer = import_text(state, workspace_id, pending.text, options).await?;
    if answer.status != "failed" {
        // A confirmed import is complete, whatever its version said.
        answer.status = "completed";
        answer.id = import_id;
    }
    Ok(answer)
}
