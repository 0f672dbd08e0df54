//! Runs of workflow and chatflow (advanced-chat) apps: prepares the variable pool
//! (`sys.*`, environment and conversation variables, start inputs), records the run,
//! drives the engine, streams its events in Dify's shapes, persists the run and node
//! executions (and for chatflows the message and conversation variables), and sends the
//! terminal events in Dify's order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};
use weir_core::{BoxError, BoxFuture};

use super::files::ResolvedFile;
use super::tasks::StopFlag;
use super::{naming, LoadedApp};
use crate::engine::run::{run_workflow, RunSetup, RunSummary};
use crate::engine::{pool::Pool, EngineEvent, EventSink, NodeRecord, RunCtx, SinkClosed, Workflow};
use crate::events::{names, FlowEnvelope};
use crate::store::{
    ConversationRow, EndUserRow, MessageOutcome, NewConversation, NewMessage, WorkflowRunRow,
};
use crate::util::now;
use crate::Runtime;
use weir_core::events::StreamOut;
use weir_core::model::Usage;

/// Memory turns a chatflow loads for its LLM nodes.
pub const MEMORY_TURNS: i64 = 50;

/// Sends engine events to the client's stream (and to re-attached readers); a client that
/// left does not stop the run.
pub struct StreamSink {
    tx: Arc<dyn StreamOut>,
    envelope: FlowEnvelope,
    closed: AtomicBool,
    log: Option<super::runlog::RunLog>,
    simple: bool,
}

impl StreamSink {
    /// A sink writing to `tx` with this envelope, and to the run's log when given; `simple`:
    /// the web app's format, where node events carry no inputs, outputs or process data.
    pub fn new(
        tx: Arc<dyn StreamOut>,
        envelope: FlowEnvelope,
        log: Option<super::runlog::RunLog>,
        simple: bool,
    ) -> Arc<Self> {
        Arc::new(StreamSink {
            tx,
            envelope,
            closed: AtomicBool::new(false),
            log,
            simple,
        })
    }

    /// Sends an event unless the client left.
    pub async fn send(&self, event: bytes::Bytes) {
        if let Some(log) = &self.log {
            log.append(&event).await;
        }
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        if self.tx.send(event).await.is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    /// Sends a keep-alive ping unless the client left.
    pub async fn ping(&self) {
        if !self.closed.load(Ordering::Relaxed) && self.tx.ping().await.is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Serialize)]
struct NodeStarted<'a> {
    id: &'a str,
    node_id: &'a str,
    node_type: &'a str,
    title: &'a str,
    index: u32,
    predecessor_node_id: Option<&'a str>,
    inputs: Option<&'a Value>,
    inputs_truncated: bool,
    created_at: i64,
    extras: Value,
    iteration_id: Option<&'a str>,
    loop_id: Option<&'a str>,
    agent_strategy: Option<Value>,
}

#[derive(Serialize)]
struct NodeFinished<'a> {
    id: &'a str,
    node_id: &'a str,
    node_type: &'a str,
    title: &'a str,
    index: u32,
    predecessor_node_id: Option<&'a str>,
    inputs: Option<&'a Value>,
    inputs_truncated: bool,
    process_data: Option<&'a Value>,
    process_data_truncated: bool,
    outputs: Option<&'a Value>,
    outputs_truncated: bool,
    status: &'a str,
    error: Option<&'a str>,
    elapsed_time: f64,
    execution_metadata: Option<&'a Value>,
    created_at: i64,
    finished_at: Option<i64>,
    files: Value,
    iteration_id: Option<&'a str>,
    loop_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_index: Option<u32>,
}

impl NodeFinished<'_> {
    /// The web app's view: no inputs, outputs, process data, metadata or error text.
    fn simple(mut self) -> Self {
        self.inputs = None;
        self.process_data = None;
        self.outputs = None;
        self.execution_metadata = None;
        self.error = None;
        self
    }
}

fn started(r: &NodeRecord) -> NodeStarted<'_> {
    NodeStarted {
        id: &r.id,
        node_id: &r.node_id,
        node_type: &r.node_type,
        title: &r.title,
        index: r.index,
        predecessor_node_id: r.predecessor_node_id.as_deref(),
        inputs: None,
        inputs_truncated: false,
        created_at: r.created_at,
        extras: json!({}),
        iteration_id: r.iteration_id.as_deref(),
        loop_id: r.loop_id.as_deref(),
        agent_strategy: None,
    }
}

fn finished(r: &NodeRecord, retry_index: Option<u32>) -> NodeFinished<'_> {
    NodeFinished {
        id: &r.id,
        node_id: &r.node_id,
        node_type: &r.node_type,
        title: &r.title,
        index: r.index,
        predecessor_node_id: r.predecessor_node_id.as_deref(),
        inputs: r.inputs.as_ref(),
        inputs_truncated: false,
        process_data: r.process_data.as_ref(),
        process_data_truncated: false,
        outputs: r.outputs.as_ref(),
        outputs_truncated: false,
        status: r.status,
        error: r.error.as_deref(),
        elapsed_time: r.elapsed_time,
        execution_metadata: r.execution_metadata.as_ref(),
        created_at: r.created_at,
        finished_at: r.finished_at,
        files: json!([]),
        iteration_id: r.iteration_id.as_deref(),
        loop_id: r.loop_id.as_deref(),
        retry_index,
    }
}

impl EventSink for StreamSink {
    fn enabled(&self) -> bool {
        true
    }

    fn emit<'a>(&'a self, event: EngineEvent<'a>) -> BoxFuture<'a, Result<(), SinkClosed>> {
        Box::pin(async move {
            let env = &self.envelope;
            let frame = match event {
                EngineEvent::NodeStarted(r) => env.frame(names::NODE_STARTED, &started(r)),
                EngineEvent::NodeFinished(r) if self.simple => {
                    env.frame(names::NODE_FINISHED, &finished(r, None).simple())
                }
                EngineEvent::NodeFinished(r) => env.frame(names::NODE_FINISHED, &finished(r, None)),
                EngineEvent::NodeRetry(r, i) => env.frame(names::NODE_RETRY, &finished(r, Some(i))),
                EngineEvent::Text { text, selector } => env.text(text, selector),
                EngineEvent::Container { name, data } => env.frame(name, &data),
            };
            self.send(frame).await;
            Ok(())
        })
    }
}

/// The chatflow part of a turn.
pub struct ChatPart {
    /// The query.
    pub query: String,
    /// The conversation continued, if any.
    pub conversation: Option<ConversationRow>,
    /// The conversation id (new or continued).
    pub conversation_id: String,
    /// Generate a name for a new conversation.
    pub auto_generate_name: bool,
}

/// Everything a run needs, validated by the handler.
pub struct FlowTurn {
    /// The app.
    pub app: Arc<LoadedApp>,
    /// The workflow version.
    pub workflow: Arc<Workflow>,
    /// The caller.
    pub end_user: EndUserRow,
    /// Validated start inputs.
    pub inputs: Map<String, Value>,
    /// `sys.files`.
    pub files: Vec<ResolvedFile>,
    /// Every file of the run (file inputs were registered while validating them).
    pub file_table: Arc<weir_core::files::FileTable>,
    /// Chatflow part.
    pub chat: Option<ChatPart>,
    /// Envelope (ids) of its events.
    pub envelope: FlowEnvelope,
    /// Run id.
    pub run_id: String,
    /// Who asks, and how they see the events.
    pub origin: crate::chat::Origin,
}

/// How a run went, for blocking replies.
pub struct FlowResult {
    /// The engine's summary.
    pub summary: RunSummary,
    /// Chatflow message metadata.
    pub metadata: Value,
}

fn metadata(usage: &Option<Usage>) -> Value {
    json!({"annotation_reply": null, "retriever_resources": [], "usage": usage.clone().unwrap_or_default()})
}

/// The `workflow_finished` data of a run.
pub fn finished_data(turn: &FlowTurn, s: &RunSummary) -> Value {
    json!({
        "id": turn.run_id, "workflow_id": turn.workflow.id, "status": s.status, "outputs": s.outputs,
        "error": s.error, "elapsed_time": s.elapsed_time, "total_tokens": s.total_tokens,
        "total_steps": s.total_steps,
        "created_by": {"id": turn.end_user.id, "user": turn.end_user.session_id},
        "created_at": s.created_at, "finished_at": s.finished_at, "exceptions_count": s.exceptions_count,
        "files": [],
    })
}

/// Runs a turn. `stream` receives the events when the caller streams.
pub async fn run(
    state: Arc<Runtime>,
    turn: FlowTurn,
    stream: Option<Arc<StreamSink>>,
    stop: Arc<StopFlag>,
) -> Result<FlowResult, BoxError> {
    let store = state.store();
    let app = &turn.app;
    let wf = &turn.workflow;
    let pool = Pool::new();
    let files: Vec<Value> = turn
        .files
        .iter()
        .map(|f| turn.file_table.register(f))
        .collect();
    let mut sys = Map::new();
    if let Some(chat) = &turn.chat {
        sys.insert("query".into(), Value::String(chat.query.clone()));
    }
    sys.insert("files".into(), Value::Array(files));
    sys.insert(
        "user_id".into(),
        Value::String(turn.end_user.session_id.clone()),
    );
    let mut history = Vec::new();
    if let (Some(chat), FlowEnvelope::Chat { chat: env, .. }) = (&turn.chat, &turn.envelope) {
        let count = chat.conversation.as_ref().map_or(0, |c| c.dialogue_count) + 1;
        sys.insert("dialogue_count".into(), json!(count));
        if chat.conversation.is_none() {
            store
                .insert_conversation(&NewConversation {
                    id: chat.conversation_id.clone(),
                    app_id: app.row.id.clone(),
                    end_user_id: turn.end_user.id.clone(),
                    mode: app.row.mode.clone(),
                    name: naming::initial_name(&chat.query),
                    inputs: Value::Object(turn.inputs.clone()).to_string(),
                    introduction: app
                        .features()
                        .and_then(|f| f.get("opening_statement"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    workflow_id: Some(wf.id.clone()),
                    from_source: turn.origin.from_source(),
                    from_account_id: turn.origin.account_id.clone(),
                })
                .await?;
            let decls: Vec<(String, String, String, String, String)> = wf
                .conversation
                .iter()
                .map(|d| {
                    (
                        d.id.clone(),
                        d.name.clone(),
                        d.value_type.clone(),
                        d.value.to_string(),
                        d.description.clone(),
                    )
                })
                .collect();
            store
                .init_conversation_variables(&app.row.id, &chat.conversation_id, &decls)
                .await?;
        } else {
            let rows = store
                .history(&chat.conversation_id, &env.message_id, MEMORY_TURNS)
                .await?;
            history = rows.into_iter().map(|m| (m.query, m.answer)).collect();
        }
        for v in store.conversation_variables(&chat.conversation_id).await? {
            pool.set(
                "conversation",
                &v.name,
                serde_json::from_str(&v.value).unwrap_or(Value::Null),
            );
        }
        store
            .insert_message(&NewMessage {
                id: env.message_id.clone(),
                app_id: app.row.id.clone(),
                conversation_id: chat.conversation_id.clone(),
                end_user_id: turn.end_user.id.clone(),
                mode: app.row.mode.clone(),
                task_id: env.task_id.clone(),
                query: chat.query.clone(),
                inputs: Value::Object(turn.inputs.clone()).to_string(),
                workflow_run_id: Some(turn.run_id.clone()),
                from_account_id: turn.origin.account_id.clone(),
                parent_message_id: turn.origin.parent_message_id.clone(),
                created_at: env.created_at,
            })
            .await?;
        sys.insert(
            "conversation_id".into(),
            Value::String(chat.conversation_id.clone()),
        );
    }
    sys.insert("app_id".into(), Value::String(app.row.id.clone()));
    sys.insert("workflow_id".into(), Value::String(wf.id.clone()));
    sys.insert("workflow_run_id".into(), Value::String(turn.run_id.clone()));
    for (k, v) in &sys {
        pool.set("sys", k, v.clone());
    }
    for e in &wf.env {
        pool.set("env", &e.name, e.value.clone());
    }
    let mut shown = turn.inputs.clone();
    for (k, v) in &sys {
        if k != "conversation_id" {
            shown.insert(format!("sys.{k}"), v.clone());
        }
    }
    let created_at = now();
    let mut row = WorkflowRunRow {
        id: turn.run_id.clone(),
        app_id: app.row.id.clone(),
        workflow_id: wf.id.clone(),
        kind: if turn.chat.is_some() {
            "chat"
        } else {
            "workflow"
        }
        .into(),
        conversation_id: turn.chat.as_ref().map(|c| c.conversation_id.clone()),
        message_id: match &turn.envelope {
            FlowEnvelope::Chat { chat, .. } => Some(chat.message_id.clone()),
            FlowEnvelope::Workflow { .. } => None,
        },
        status: "running".into(),
        inputs: Value::Object(shown.clone()).to_string(),
        outputs: None,
        error: None,
        elapsed_time: 0.0,
        total_tokens: 0,
        total_steps: 0,
        exceptions_count: 0,
        created_by_end_user_id: Some(turn.end_user.id.clone()),
        created_at,
        finished_at: None,
    };
    // A streaming run is visible while it runs (event replay, run detail); a blocking
    // run's id reaches its caller only with its result, so it is stored once, finished.
    let stored_while_running = stream.is_some();
    if stored_while_running {
        store.insert_run(&row).await?;
    }
    if let Some(sink) = &stream {
        sink.ping().await;
        let data = json!({"id": turn.run_id, "workflow_id": wf.id, "inputs": shown, "created_at": created_at, "reason": "initial"});
        sink.send(turn.envelope.frame(names::WORKFLOW_STARTED, &data))
            .await;
    }
    let ctx = RunCtx::new(RunSetup {
        env: state.run_env().clone(),
        workspace_id: app.row.workspace_id.clone(),
        workflow: wf.clone(),
        chatflow: turn.chat.is_some(),
        app_id: app.row.id.clone(),
        run_id: turn.run_id.clone(),
        end_user_id: turn.end_user.id.clone(),
        conversation_id: turn.chat.as_ref().map(|c| c.conversation_id.clone()),
        history,
        inputs: turn.inputs.clone(),
        files: turn.file_table.clone(),
        sink: match &stream {
            Some(s) => s.clone(),
            None => Arc::new(crate::engine::NoEvents),
        },
        stop,
    });
    let summary = run_workflow(&ctx, pool.clone()).await;

    row.status = summary.status.into();
    row.outputs = Some(summary.outputs.to_string());
    row.error = summary.error.clone();
    row.elapsed_time = summary.elapsed_time;
    row.total_tokens = summary.total_tokens as i64;
    row.total_steps = summary.total_steps as i64;
    row.exceptions_count = summary.exceptions_count as i64;
    row.finished_at = Some(summary.finished_at);
    if stored_while_running {
        store.finish_run(&row, &summary.records).await?;
    } else {
        store.insert_finished_run(&row, &summary.records).await?;
    }

    let meta = metadata(&summary.usage);
    let finished = finished_data(&turn, &summary);
    if let (Some(chat), FlowEnvelope::Chat { chat: env, .. }) = (&turn.chat, &turn.envelope) {
        for v in store.conversation_variables(&chat.conversation_id).await? {
            if let Some(current) = pool.get(&["conversation".to_owned(), v.name.clone()]) {
                let text = current.to_string();
                if text != v.value {
                    store
                        .set_conversation_variable(&chat.conversation_id, &v.id, &text)
                        .await?;
                }
            }
        }
        let failed = summary.status == "failed";
        let usage = summary.usage.clone().unwrap_or_default();
        store
            .finish_message(
                &env.message_id,
                &MessageOutcome {
                    answer: summary.answer.clone(),
                    status: if failed { "error" } else { "normal" },
                    error: failed.then(|| {
                        format!("Run failed: {}", summary.error.clone().unwrap_or_default())
                    }),
                    message_tokens: usage.prompt_tokens as i64,
                    answer_tokens: usage.completion_tokens as i64,
                    total_price: usage.total_price.clone(),
                    currency: usage.currency.clone(),
                    latency: summary.elapsed_time,
                    metadata: meta.to_string(),
                    agent_thoughts: "[]".into(),
                    prompt: None,
                },
            )
            .await?;
        store.touch_conversation(&chat.conversation_id).await?;
        if let Some(sink) = &stream {
            let end = env.message_end(&turn.origin.shown_metadata(&meta), Some(&json!([])));
            let done = turn.envelope.frame(names::WORKFLOW_FINISHED, &finished);
            match summary.status {
                "failed" => sink.send(done).await,
                "stopped" => {
                    sink.send(done).await;
                    sink.send(end).await;
                }
                _ => {
                    sink.send(end).await;
                    sink.send(done).await;
                }
            }
        }
        if chat.conversation.is_none() && chat.auto_generate_name && !failed {
            if let Some(spec) = app.model() {
                if let Ok(client) = state.providers().client(&spec.provider, &spec.name) {
                    naming::name_in_background(
                        store.clone(),
                        client,
                        spec.name.clone(),
                        chat.conversation_id.clone(),
                        chat.query.clone(),
                    );
                }
            }
        }
    } else if let Some(sink) = &stream {
        sink.send(turn.envelope.frame(names::WORKFLOW_FINISHED, &finished))
            .await;
    }
    Ok(FlowResult {
        summary,
        metadata: meta,
    })
}
