//! Running code of `code` nodes: Python 3 in an isolated child process (see [`python`]),
//! JavaScript in embedded QuickJS (memory, stack and time limits), or Dify's sandbox service
//! over HTTP when configured. Each takes `main`'s arguments as a JSON object and returns
//! what `main` returned.

mod javascript;
pub mod python;
mod remote;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::settings::CodeSettings;

/// A code language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// `python3`.
    Python3,
    /// `javascript`.
    JavaScript,
}

impl Language {
    /// Parses `code_language`.
    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "python3" | "python" => Some(Language::Python3),
            "javascript" | "nodejs" => Some(Language::JavaScript),
            _ => None,
        }
    }
}

/// Why code did not produce a result.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodeError {
    /// It ran past its time limit.
    #[error("code execution timed out after {0} seconds")]
    Timeout(u64),
    /// It ran out of memory.
    #[error("code execution ran out of memory (limit {0} MiB)")]
    Memory(u64),
    /// It raised an error (the text of the error).
    #[error("{0}")]
    Failed(String),
    /// It wrote more than the cap (bytes) to its output.
    #[error("code execution printed too much output (limit {0} bytes)")]
    OutputTooLarge(usize),
    /// The sandbox itself failed, or refuses to run.
    #[error("sandbox error: {0}")]
    Sandbox(String),
}

/// Runs code of `code` nodes as configured (`[code]`): decided once at startup.
#[derive(Clone, Debug)]
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

/// Text between result markers in a sandbox's stdout.
pub(crate) const RESULT_MARK: &str = "<<WEIR_RESULT>>";

/// The JSON result between markers.
pub(crate) fn extract_result(stdout: &str) -> Option<Value> {
    let start = stdout.find(RESULT_MARK)? + RESULT_MARK.len();
    let end = stdout[start..].find(RESULT_MARK)? + start;
    serde_json::from_str(&stdout[start..end]).ok()
}
