//! What a run is and shares: the [`RunEnv`] of trait objects it reaches the domain
//! through, its [`RunSetup`], and the [`RunCtx`] every node of the run sees (the setup plus
//! what the run accumulates: records, tokens, usage, answers, outputs).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

use super::response::{Coordinator, Emit};
use super::{EngineEvent, EventSink, NodeRecord, Workflow};
use weir_core::code::CodeSandbox;
use weir_core::coordination::StopFlag;
use weir_core::fetch::Fetch;
use weir_core::files::{FileAccess, FileTable};
use weir_core::knowledge::Retrieval;
use weir_core::model::{Models, Usage};
use weir_core::tools::Tools;
use weir_core::util::now;

/// Where a node runs: the top level, or a round of a container.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Iteration container and round.
    pub iteration: Option<(String, usize)>,
    /// Loop container and round.
    pub loop_: Option<(String, usize)>,
}

/// How a graph run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphOutcome {
    /// Every reachable node ran.
    Completed,
    /// A node failed without an error strategy.
    Failed(String),
    /// Stopped by request or deadline.
    Stopped,
}

/// Everything a run shares across its nodes: its setup (read through `Deref`) and the
/// state the run accumulates.
pub struct RunCtx {
    pub(crate) setup: RunSetup,
    /// When the run is stopped anyway.
    pub deadline: tokio::time::Instant,
    pub(crate) counter: AtomicU32,
    pub(crate) records: Mutex<Vec<NodeRecord>>,
    pub(crate) tokens: AtomicU64,
    pub(crate) usage: Mutex<Option<Usage>>,
    pub(crate) exceptions: AtomicU32,
    pub(crate) answers: Mutex<Vec<String>>,
    pub(crate) outputs: Mutex<Map<String, Value>>,
    pub(crate) coordinator: tokio::sync::Mutex<Option<Coordinator>>,
    pub(crate) started: Instant,
    pub(crate) created_at: i64,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunSummary {
    /// `succeeded`, `partial-succeeded`, `failed`, `stopped`.
    pub status: &'static str,
    /// Outputs of the end nodes (workflows) or `{answer, files}` (chatflows).
    pub outputs: Value,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Seconds.
    pub elapsed_time: f64,
    /// Tokens used by every node.
    pub total_tokens: u64,
    /// Nodes run.
    pub total_steps: u32,
    /// Nodes that failed into an error strategy (or failed the run).
    pub exceptions_count: u32,
    /// The chatflow's answer (answer nodes in order).
    pub answer: String,
    /// Summed model usage (chatflow `message_end`).
    pub usage: Option<Usage>,
    /// Node executions.
    pub records: Vec<NodeRecord>,
    /// Started.
    pub created_at: i64,
    /// Finished.
    pub finished_at: i64,
}

/// The domain a run reaches, as trait objects: nothing else leaves the engine.
pub struct RunEnv {
    /// Model clients (LLM, classifier and extractor nodes).
    pub models: Arc<dyn Models>,
    /// Tools (tool nodes).
    pub tools: Arc<dyn Tools>,
    /// Code sandboxes (code nodes).
    pub code: Arc<dyn CodeSandbox>,
    /// Knowledge retrieval (knowledge-retrieval nodes).
    pub retrieval: Arc<dyn Retrieval>,
    /// File bytes, text and images (document extractor, vision, HTTP bodies).
    pub files: Arc<dyn FileAccess>,
    /// Outbound requests (http-request nodes), guarded.
    pub fetch: Arc<dyn Fetch>,
    /// Longest a run may take before it is stopped.
    pub max_execution: std::time::Duration,
    /// Largest document a document extractor reads.
    pub max_file_bytes: u64,
}

/// What a run is given: its app, workflow, caller and inputs.
pub struct RunSetup {
    /// The domain it may reach.
    pub env: Arc<RunEnv>,
    /// The app's workspace.
    pub workspace_id: String,
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// Chatflow (advanced-chat) or workflow.
    pub chatflow: bool,
    /// App.
    pub app_id: String,
    /// This run's id.
    pub run_id: String,
    /// The caller's end user.
    pub end_user_id: String,
    /// Conversation (chatflows).
    pub conversation_id: Option<String>,
    /// Earlier turns of the conversation, oldest first (LLM memory).
    pub history: Vec<(String, String)>,
    /// The validated start inputs.
    pub inputs: Map<String, Value>,
    /// The files the run may read (made by the file resolver).
    pub files: Arc<FileTable>,
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// Stop flag.
    pub stop: Arc<StopFlag>,
}

impl Scope {
    /// Whether this is the top level.
    pub fn is_top(&self) -> bool {
        self.iteration.is_none() && self.loop_.is_none()
    }
}

impl std::ops::Deref for RunCtx {
    type Target = RunSetup;

    fn deref(&self) -> &RunSetup {
        &self.setup
    }
}

impl RunCtx {
    /// A run context.
    pub fn new(s: RunSetup) -> Arc<RunCtx> {
        let deadline = tokio::time::Instant::now() + s.env.max_execution;
        Arc::new(RunCtx {
            setup: s,
            deadline,
            counter: AtomicU32::new(0),
            records: Mutex::new(Vec::new()),
            tokens: AtomicU64::new(0),
            usage: Mutex::new(None),
            exceptions: AtomicU32::new(0),
            answers: Mutex::new(Vec::new()),
            outputs: Mutex::new(Map::new()),
            coordinator: tokio::sync::Mutex::new(None),
            started: Instant::now(),
            created_at: now(),
        })
    }

    /// Creation time of the run.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The next execution index.
    pub fn next_index(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether the run should end now.
    pub fn should_stop(&self) -> bool {
        self.stop.is_stopped() || tokio::time::Instant::now() >= self.deadline
    }

    pub(crate) async fn emit_texts(&self, texts: Vec<Emit>) {
        for (text, selector) in texts {
            let _ = self
                .sink
                .emit(EngineEvent::Text {
                    text: &text,
                    selector: &selector,
                })
                .await;
        }
    }

    /// A chunk of a streaming node's output.
    pub async fn stream_chunk(&self, node: &str, var: &str, chunk: &str) {
        if !self.sink.enabled() {
            return;
        }
        let mut guard = self.coordinator.lock().await;
        if let Some(c) = guard.as_mut() {
            let texts = c.chunk(node, var, chunk);
            self.emit_texts(texts).await;
        }
    }

    pub(crate) async fn coordinate(&self, f: impl FnOnce(&mut Coordinator) -> Vec<Emit>) {
        if !self.sink.enabled() {
            return;
        }
        let mut guard = self.coordinator.lock().await;
        if let Some(c) = guard.as_mut() {
            let texts = f(c);
            self.emit_texts(texts).await;
        }
    }

    /// Emits an event if anyone listens.
    pub async fn emit(&self, event: EngineEvent<'_>) {
        if self.sink.enabled() {
            let _ = self.sink.emit(event).await;
        }
    }

    pub(crate) fn record(&self, r: NodeRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
    }

    pub(crate) fn add_usage(&self, tokens: u64, usage: Option<Usage>) {
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
        if let Some(u) = usage {
            let mut cur = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            *cur = Some(match cur.take() {
                Some(prev) => prev.add(&u),
                None => u,
            });
        }
    }
}
