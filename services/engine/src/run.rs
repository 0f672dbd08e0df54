//! The scheduler. Each node and edge has a state; a node is ready when none of its incoming
//! edges is undecided and at least one was taken; a node whose incoming edges were all
//! skipped is skipped, and so are its outgoing edges. Ready nodes run concurrently. A node
//! that fails without an error strategy fails the run; retries and strategies are applied
//! around each node. Stop (or the run's deadline) ends the run between events.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use super::graph::{ErrorStrategy, Graph};
use super::pool::Pool;
use super::response::{Coordinator, Emit};
use super::{EngineEvent, EventSink, NodeCx, NodeRecord, Workflow};
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

impl Scope {
    /// Whether this is the top level.
    pub fn is_top(&self) -> bool {
        self.iteration.is_none() && self.loop_.is_none()
    }
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
    setup: RunSetup,
    /// When the run is stopped anyway.
    pub deadline: tokio::time::Instant,
    counter: AtomicU32,
    records: Mutex<Vec<NodeRecord>>,
    tokens: AtomicU64,
    usage: Mutex<Option<Usage>>,
    exceptions: AtomicU32,
    answers: Mutex<Vec<String>>,
    outputs: Mutex<Map<String, Value>>,
    coordinator: tokio::sync::Mutex<Option<Coordinator>>,
    started: Instant,
    created_at: i64,
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

    async fn emit_texts(&self, texts: Vec<Emit>) {
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

    async fn coordinate(&self, f: impl FnOnce(&mut Coordinator) -> Vec<Emit>) {
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

    fn record(&self, r: NodeRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
    }

    fn add_usage(&self, tokens: u64, usage: Option<Usage>) {
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

/// The outcome of one node execution.
struct Executed {
    idx: usize,
    record: NodeRecord,
    outputs: Map<String, Value>,
    handle: Option<String>,
    fatal: Option<String>,
    tokens: u64,
    usage: Option<Usage>,
}

fn error_outputs(message: &str, kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("error_message".into(), Value::String(message.to_owned()));
    m.insert("error_type".into(), Value::String(kind.to_owned()));
    m
}

async fn execute(
    ctx: Arc<RunCtx>,
    graph: Arc<Graph>,
    idx: usize,
    pool: Arc<Pool>,
    scope: Scope,
) -> Executed {
    let def = &graph.nodes[idx];
    let node = ctx.workflow.nodes.get(&def.id).cloned();
    let mut record = NodeRecord {
        id: uuid::Uuid::new_v4().to_string(),
        node_id: def.id.clone(),
        node_type: def.kind.clone(),
        title: def.title.clone(),
        index: ctx.next_index(),
        predecessor_node_id: None,
        inputs: None,
        process_data: None,
        outputs: None,
        status: "running",
        error: None,
        elapsed_time: 0.0,
        execution_metadata: None,
        created_at: now(),
        finished_at: None,
        iteration_id: scope.iteration.as_ref().map(|(id, _)| id.clone()),
        loop_id: scope.loop_.as_ref().map(|(id, _)| id.clone()),
        round: scope
            .iteration
            .as_ref()
            .or(scope.loop_.as_ref())
            .map(|(_, i)| *i),
    };
    let started = Instant::now();
    ctx.emit(EngineEvent::NodeStarted(&record)).await;
    if scope.is_top() && !def.is_branch() {
        let certain = graph.certain_responses(idx);
        ctx.coordinate(|c| c.certain(&certain)).await;
    }
    let Some(node) = node else {
        record.status = "failed";
        let msg = format!("node type {} is not supported", def.kind);
        record.error = Some(msg.clone());
        return Executed {
            idx,
            record,
            outputs: Map::new(),
            handle: None,
            fatal: Some(msg),
            tokens: 0,
            usage: None,
        };
    };
    let cx = NodeCx {
        run: &ctx,
        def,
        graph: &graph,
        pool: &pool,
        exec_id: &record.id.clone(),
        scope: &scope,
    };
    let mut attempt = 0u32;
    let result = loop {
        match node.run(&cx).await {
            Ok(out) => break Ok(out),
            Err(e) => match def.retry {
                Some(r) if attempt < r.max_retries && !ctx.should_stop() => {
                    attempt += 1;
                    if ctx.sink.enabled() {
                        let mut retry = record.clone();
                        retry.status = "retry";
                        retry.error = Some(e.message.clone());
                        retry.inputs = e.inputs.clone();
                        retry.elapsed_time = started.elapsed().as_secs_f64();
                        retry.finished_at = Some(now());
                        ctx.emit(EngineEvent::NodeRetry(&retry, attempt - 1)).await;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(r.interval_ms)).await;
                }
                _ => break Err(e),
            },
        }
    };
    record.elapsed_time = started.elapsed().as_secs_f64();
    record.finished_at = Some(now());
    let mut executed = Executed {
        idx,
        record,
        outputs: Map::new(),
        handle: None,
        fatal: None,
        tokens: 0,
        usage: None,
    };
    match result {
        Ok(out) => {
            executed.record.status = "succeeded";
            executed.record.inputs = Some(out.inputs);
            executed.record.process_data = Some(out.process_data);
            executed.record.outputs = Some(Value::Object(out.outputs.clone()));
            executed.record.execution_metadata = out.metadata;
            executed.handle = out.handle.or_else(|| {
                (def.error_strategy == ErrorStrategy::FailBranch).then(|| "source".to_owned())
            });
            executed.outputs = out.outputs;
            executed.tokens = out.tokens;
            executed.usage = out.usage;
        }
        Err(e) => {
            executed.record.error = Some(e.message.clone());
            executed.record.inputs = Some(e.inputs.clone().unwrap_or_else(|| json!({})));
            executed.record.process_data =
                Some(e.process_data.clone().unwrap_or_else(|| json!({})));
            match &def.error_strategy {
                ErrorStrategy::None => {
                    executed.record.status = "failed";
                    executed.record.outputs = Some(json!({}));
                    executed.fatal = Some(e.message);
                }
                ErrorStrategy::DefaultValue(defaults) => {
                    let mut outputs = defaults.clone();
                    outputs.extend(error_outputs(&e.message, &e.kind));
                    executed.record.status = "exception";
                    executed.record.outputs = Some(Value::Object(outputs.clone()));
                    executed.outputs = outputs;
                }
                ErrorStrategy::FailBranch => {
                    let outputs = error_outputs(&e.message, &e.kind);
                    executed.record.status = "exception";
                    executed.record.outputs = Some(Value::Object(outputs.clone()));
                    executed.outputs = outputs;
                    executed.handle = Some("fail-branch".into());
                }
            }
        }
    }
    executed
}

#[derive(Clone, Copy, PartialEq)]
enum NodeState {
    Pending,
    Running,
    Done,
    Skipped,
}

#[derive(Clone, Copy, PartialEq)]
enum EdgeState {
    Unknown,
    Taken,
    Skipped,
}

struct Sched<'g> {
    graph: &'g Graph,
    nodes: Vec<NodeState>,
    edges: Vec<EdgeState>,
}

impl Sched<'_> {
    /// Decides a finished node's outgoing edges; returns newly ready and newly skipped nodes.
    fn settle(
        &mut self,
        n: usize,
        handle: Option<&str>,
        ready: &mut Vec<usize>,
        skipped: &mut Vec<usize>,
    ) {
        let mut stack = Vec::new();
        for &e in &self.graph.out[n] {
            let taken = match handle {
                Some(h) => self.graph.edges[e].handle == h,
                None => self.graph.edges[e].handle != "fail-branch",
            };
            self.edges[e] = if taken {
                EdgeState::Taken
            } else {
                EdgeState::Skipped
            };
            stack.push(self.graph.edges[e].target);
        }
        while let Some(t) = stack.pop() {
            if self.nodes[t] != NodeState::Pending {
                continue;
            }
            let inc = &self.graph.inc[t];
            if inc.iter().any(|&e| self.edges[e] == EdgeState::Unknown) {
                continue;
            }
            if inc.iter().any(|&e| self.edges[e] == EdgeState::Taken) {
                self.nodes[t] = NodeState::Running;
                ready.push(t);
            } else {
                self.nodes[t] = NodeState::Skipped;
                skipped.push(t);
                for &e in &self.graph.out[t] {
                    self.edges[e] = EdgeState::Skipped;
                    stack.push(self.graph.edges[e].target);
                }
            }
        }
    }
}

/// Runs a graph on a pool until every reachable node ran, a node failed, or the run stops.
pub fn run_graph<'a>(
    ctx: &'a Arc<RunCtx>,
    graph: &'a Arc<Graph>,
    pool: &'a Arc<Pool>,
    scope: &'a Scope,
) -> weir_core::BoxFuture<'a, GraphOutcome> {
    Box::pin(async move {
        let mut s = Sched {
            graph,
            nodes: vec![NodeState::Pending; graph.nodes.len()],
            edges: vec![EdgeState::Unknown; graph.edges.len()],
        };
        let mut running = FuturesUnordered::new();
        s.nodes[graph.root] = NodeState::Running;
        let mut ready = vec![graph.root];
        loop {
            for n in ready.drain(..) {
                running.push(execute(
                    ctx.clone(),
                    graph.clone(),
                    n,
                    pool.clone(),
                    scope.clone(),
                ));
            }
            if running.is_empty() {
                return GraphOutcome::Completed;
            }
            let done = tokio::select! {
                biased;
                () = ctx.stop.stopped() => return GraphOutcome::Stopped,
                () = tokio::time::sleep_until(ctx.deadline) => return GraphOutcome::Stopped,
                done = running.next() => done,
            };
            let Some(ex) = done else { continue };
            let Executed {
                idx,
                record,
                outputs,
                handle,
                fatal,
                tokens,
                usage,
            } = ex;
            let def = &graph.nodes[idx];
            s.nodes[idx] = NodeState::Done;
            ctx.add_usage(tokens, usage);
            if let Some(err) = fatal {
                ctx.exceptions.fetch_add(1, Ordering::Relaxed);
                ctx.emit(EngineEvent::NodeFinished(&record)).await;
                ctx.record(record);
                return GraphOutcome::Failed(err);
            }
            if record.status == "exception" {
                ctx.exceptions.fetch_add(1, Ordering::Relaxed);
            }
            if scope.is_top() {
                match def.kind.as_str() {
                    "end" => ctx
                        .outputs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(outputs.clone()),
                    "answer" => {
                        let text = outputs
                            .get("answer")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        ctx.answers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(text);
                    }
                    _ => {}
                }
            }
            pool.set_outputs(&def.id, outputs);
            if scope.is_top() {
                ctx.coordinate(|c| c.finished(&def.id)).await;
            }
            ctx.emit(EngineEvent::NodeFinished(&record)).await;
            ctx.record(record);
            let mut skipped = Vec::new();
            s.settle(
                idx,
                handle.as_deref().filter(|_| def.is_branch()),
                &mut ready,
                &mut skipped,
            );
            if scope.is_top() {
                if def.is_branch() {
                    let mut certain = Vec::new();
                    for &t in &ready {
                        certain.extend(graph.certain_responses(t));
                    }
                    ctx.coordinate(|c| c.certain(&certain)).await;
                }
                for k in skipped {
                    let id = graph.nodes[k].id.clone();
                    ctx.coordinate(|c| c.skipped(&id)).await;
                }
            }
        }
    })
}

/// Runs a whole workflow from its prepared pool.
pub async fn run_workflow(ctx: &Arc<RunCtx>, pool: Arc<Pool>) -> RunSummary {
    let graph = ctx.workflow.graph.clone();
    if ctx.sink.enabled() {
        let streaming: HashSet<String> = ctx
            .workflow
            .nodes
            .iter()
            .filter(|(_, n)| n.streams())
            .map(|(id, _)| id.clone())
            .collect();
        *ctx.coordinator.lock().await = Some(Coordinator::new(&graph, pool.clone(), streaming));
    }
    let outcome = run_graph(ctx, &graph, &pool, &Scope::default()).await;
    let exceptions = ctx.exceptions.load(Ordering::Relaxed);
    let (status, error) = match &outcome {
        GraphOutcome::Completed if exceptions > 0 => ("partial-succeeded", None),
        GraphOutcome::Completed => ("succeeded", None),
        GraphOutcome::Failed(e) => ("failed", Some(e.clone())),
        GraphOutcome::Stopped => ("stopped", Some("Stopped by user.".to_owned())),
    };
    let answer = ctx
        .answers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .concat();
    let outputs = if ctx.chatflow {
        if status == "failed" {
            json!({})
        } else {
            json!({"answer": answer, "files": []})
        }
    } else if status == "failed" {
        json!({})
    } else {
        Value::Object(
            ctx.outputs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    };
    let records = std::mem::take(&mut *ctx.records.lock().unwrap_or_else(|p| p.into_inner()));
    RunSummary {
        status,
        outputs,
        error,
        elapsed_time: ctx.elapsed(),
        total_tokens: ctx.tokens.load(Ordering::Relaxed),
        total_steps: records.len() as u32,
        exceptions_count: exceptions,
        answer,
        usage: ctx.usage.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        records,
        created_at: ctx.created_at,
        finished_at: now(),
    }
}
