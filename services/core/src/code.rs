//! Code of `code` nodes: the languages, why a run failed, and the [`CodeSandbox`] the engine
//! runs code through (the sandbox crate implements it).

use serde_json::{Map, Value};

use crate::BoxFuture;

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

/// Runs `main` of a code node's code.
pub trait CodeSandbox: Send + Sync {
    /// Runs `main(**inputs)` (Python) or `main(inputs)` (JavaScript); what `main` returned.
    fn run<'a>(
        &'a self,
        language: Language,
        code: &'a str,
        inputs: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<Value, CodeError>>;
}
