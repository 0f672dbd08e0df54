//! weir's app runtime: the app modes on the engine and knowledge — easy-UI apps (chat,
//! completion, agent-chat: configuration, prompt assembly, the generation pipeline, agents
//! and their tools) and workflow-based apps (workflow, chatflow runs and their persistence) —
//! plus what they need around them: DSL import and export ([`dsl`], [`apps`]), file
//! resolution ([`files`]), tools ([`tools`]), secrets at rest ([`secrets`]), stop flags
//! ([`tasks`]) and re-attachable run streams ([`runlog`]). [`Runtime`] holds it together; the
//! api crate builds one and calls into it. It knows no HTTP.
#![warn(missing_docs)]

pub mod accounts;
pub mod agent;
pub mod apps;
pub mod chat;
pub mod config;
pub mod dsl;
pub mod events;
pub mod files;
pub mod loaded;
pub mod moderation;
pub mod naming;
pub mod prompt;
pub mod retention;
pub mod runlog;
pub mod secrets;
pub mod service;
pub mod tasks;
pub mod template;
pub mod tools;
pub mod workflow;

#[cfg(test)]
mod engine_tests;

pub use loaded::{AppCache, LoadedApp};
pub use service::Runtime;

// The lower crates, under the names their modules had when they were one crate.
pub(crate) use weir_core::{settings, util};
pub(crate) use weir_engine as engine;
pub(crate) use weir_knowledge as knowledge;
pub(crate) use weir_net as net;
pub(crate) use weir_store as store;
