//! weir's code sandboxes, for `code` nodes: Python 3 in an isolated child process (see [`python`]),
//! JavaScript in embedded QuickJS (memory, stack and time limits), or Dify's sandbox service
//! over HTTP when configured. Each takes `main`'s arguments as a JSON object and returns
//! what `main` returned.
#![warn(missing_docs)]

mod javascript;
pub mod python;
mod remote;

use std::time::Duration;

use serde_json::{Map, Value};

use weir_core::code::CodeSandbox;
pub use weir_core::code::{CodeError, Language};
use weir_core::settings::CodeSettings;
use weir_core::BoxFuture;

/// Runs code of `code` nodes as configured (`[code]`): decided once at startup.
#[derive(Debug)]
pub struct CodeRunner {
    settings: CodeSettings,
    python: python::PythonSandbox,
}

impl CodeRunner {
    /// Probes the local Python interpreter and the kernel's isolation (skipped when a
    /// sandbox service is configured).
    pub fn new(settings: &CodeSettings) -> Self {
        let python = if settings.sandbox_endpoint.is_empty() {
            python::PythonSandbox::new(settings)
        } else {
            python::PythonSandbox::remote_only()
        };
        CodeRunner {
            settings: settings.clone(),
            python,
        }
    }

    /// Runs `main(**inputs)` (Python) or `main(inputs)` (JavaScript).
    pub async fn run(
        &self,
        language: Language,
        code: &str,
        inputs: &Map<String, Value>,
    ) -> Result<Value, CodeError> {
        let settings = &self.settings;
        let timeout = Duration::from_secs(settings.timeout_s.max(1));
        if !settings.sandbox_endpoint.is_empty() {
            return remote::run(settings, language, code, inputs, timeout).await;
        }
        match language {
            Language::Python3 => self.python.run(settings, code, inputs, timeout).await,
            Language::JavaScript => {
                let (code, inputs) = (code.to_owned(), inputs.clone());
                let memory = settings.memory_mb;
                tokio::task::spawn_blocking(move || {
                    javascript::run(&code, &inputs, timeout, memory)
                })
                .await
                .map_err(|e| CodeError::Sandbox(e.to_string()))?
            }
        }
    }
}

impl CodeSandbox for CodeRunner {
    fn run<'a>(
        &'a self,
        language: Language,
        code: &'a str,
        inputs: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, CodeError>> {
        Box::pin(CodeRunner::run(self, language, code, inputs))
    }
}

/// Text between result markers in a sandbox's stdout.
pub(crate) const RESULT_MARK: &str = "<<WEIR_RESULT>>";

/// The JSON result between markers.
pub(crate) fn extract_result(stdout: &str) -> Option<Value> {
    let start = stdout.find(RESULT_MARK)? + RESULT_MARK.len();
    let end = stdout[start..].find(RESULT_MARK)? + start;
    serde_json::from_str(&stdout[start..end]).ok()
}
