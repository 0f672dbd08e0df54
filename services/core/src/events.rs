//! Events of runs as the domain produces them: their names, and the [`StreamOut`] a run
//! writes them to. An event is its serialised JSON object; how it travels (SSE framing,
//! keep-alive pings, re-attached readers) is the api crate's business.

use bytes::Bytes;

use crate::BoxFuture;

/// The client is gone; the producer may stop sending (the run itself goes on).
#[derive(Debug, thiserror::Error)]
#[error("the event stream was closed by the client")]
pub struct StreamClosed;

/// Where a streamed run's events go.
pub trait StreamOut: Send + Sync {
    /// Sends one event (its JSON object, serialised).
    fn send(&self, event: Bytes) -> BoxFuture<'_, Result<(), StreamClosed>>;
    /// Sends a keep-alive ping.
    fn ping(&self) -> BoxFuture<'_, Result<(), StreamClosed>>;
}

/// `value` serialised as an event (our own types always serialise).
pub fn to_event<T: serde::Serialize + ?Sized>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
}

/// Event names, defined once.
pub mod names {
    /// An answer chunk.
    pub const MESSAGE: &str = "message";
    /// An agent's answer chunk.
    pub const AGENT_MESSAGE: &str = "agent_message";
    /// An agent step.
    pub const AGENT_THOUGHT: &str = "agent_thought";
    /// A file produced for the answer.
    pub const MESSAGE_FILE: &str = "message_file";
    /// The answer is complete.
    pub const MESSAGE_END: &str = "message_end";
    /// Output moderation replaced the answer.
    pub const MESSAGE_REPLACE: &str = "message_replace";
    /// A fatal error after the stream started.
    pub const ERROR: &str = "error";
    /// A workflow run started.
    pub const WORKFLOW_STARTED: &str = "workflow_started";
    /// A workflow run finished.
    pub const WORKFLOW_FINISHED: &str = "workflow_finished";
    /// A node started.
    pub const NODE_STARTED: &str = "node_started";
    /// A node finished.
    pub const NODE_FINISHED: &str = "node_finished";
    /// A node is retried.
    pub const NODE_RETRY: &str = "node_retry";
    /// A streamed chunk of a workflow's output.
    pub const TEXT_CHUNK: &str = "text_chunk";
    /// An iteration started.
    pub const ITERATION_STARTED: &str = "iteration_started";
    /// An iteration round starts.
    pub const ITERATION_NEXT: &str = "iteration_next";
    /// An iteration completed.
    pub const ITERATION_COMPLETED: &str = "iteration_completed";
    /// A loop started.
    pub const LOOP_STARTED: &str = "loop_started";
    /// A loop round starts.
    pub const LOOP_NEXT: &str = "loop_next";
    /// A loop completed.
    pub const LOOP_COMPLETED: &str = "loop_completed";
}
