//! weir's workflow engine: runs the `workflow.graph` of workflow and advanced-chat
//! (chatflow) apps node by node, as Dify's engine does — branches by edge handle, a join
//! waits for its incoming branches, ready nodes run concurrently, error strategies and
//! retries, stop — and reports what happens as [`EngineEvent`]s to an [`EventSink`]. It
//! reaches models, code, tools, knowledge, files and the network only through the trait
//! objects of its [`RunEnv`]; it knows no HTTP and no SQL.
//!
//! - [`graph`]: parsing and validation; [`pool`]: the variable pool; [`template`]: the
//!   `{{#node.var#}}` templates; [`run`]: the scheduler; [`response`]: streaming of answer
//!   and end nodes; [`nodes`]: one module per node type.
#![warn(missing_docs)]

pub mod ctx;
pub mod graph;
pub mod nodes;
pub mod pool;
pub mod response;
pub mod run;
pub mod template;

pub use weir_core::rows::NodeRecord;
pub use weir_core::value;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use weir_core::inputs::{fields_from_start_variables, FormField};
use weir_core::BoxFuture;

pub use graph::Graph;
pub use run::{RunCtx, RunEnv, RunSummary};

/// A workflow graph that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A structural error in the graph.
    #[error("invalid workflow graph: {0}")]
    Graph(String),
    /// Parts weir cannot run yet.
    #[error("unsupported by weir: {}", .0.join(", "))]
    Unsupported(Vec<String>),
}

/// A node failed (before its error strategy).
#[derive(Clone, Debug)]
pub struct NodeError {
    /// The error text (`error` of `node_finished`, `error_message` of strategies).
    pub message: String,
    /// The error kind (`error_type`).
    pub kind: String,
    /// Inputs known when it failed.
    pub inputs: Option<Value>,
    /// Process data known when it failed.
    pub process_data: Option<Value>,
}

impl NodeError {
    /// A failure of this kind.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        NodeError {
            message: message.into(),
            kind: kind.to_owned(),
            inputs: None,
            process_data: None,
        }
    }

    /// Attaches the inputs the node had.
    pub fn with_inputs(mut self, inputs: Value) -> Self {
        self.inputs = Some(inputs);
        self
    }
}

/// What a node produced.
#[derive(Clone, Debug, Default)]
pub struct NodeOutput {
    /// `inputs` of `node_finished`.
    pub inputs: Value,
    /// `process_data`.
    pub process_data: Value,
    /// Outputs (written to the pool under the node id).
    pub outputs: Map<String, Value>,
    /// The branch taken (branch nodes).
    pub handle: Option<String>,
    /// `execution_metadata` (LLM usage…), `null` when none.
    pub metadata: Option<Value>,
    /// Tokens used.
    pub tokens: u64,
    /// Model usage, for the chatflow's `message_end`.
    pub usage: Option<weir_core::model::Usage>,
}

impl NodeOutput {
    /// With a model call's usage: its `execution_metadata`, token count and usage.
    pub fn with_usage(self, usage: weir_core::model::Usage) -> Self {
        NodeOutput {
            metadata: Some(
                serde_json::json!({"total_tokens": usage.total_tokens, "total_price": usage.total_price, "currency": usage.currency}),
            ),
            tokens: usage.total_tokens,
            usage: Some(usage),
            ..self
        }
    }

    /// Outputs only.
    pub fn outputs(outputs: Map<String, Value>) -> Self {
        NodeOutput {
            inputs: Value::Object(Map::new()),
            process_data: Value::Object(Map::new()),
            outputs,
            ..Default::default()
        }
    }
}

/// What a node runs with.
pub struct NodeCx<'a> {
    /// The run.
    pub run: &'a Arc<RunCtx>,
    /// The node.
    pub def: &'a graph::NodeDef,
    /// The graph it is in.
    pub graph: &'a Arc<Graph>,
    /// The variables it sees.
    pub pool: &'a Arc<pool::Pool>,
    /// Its execution id.
    pub exec_id: &'a str,
    /// The container it runs in.
    pub scope: &'a run::Scope,
}

impl NodeCx<'_> {
    /// The client of the node's model, or the provider's error text.
    pub fn model(
        &self,
        spec: &weir_core::model::ModelSpec,
    ) -> Result<Arc<dyn weir_core::model::ModelClient>, String> {
        self.run
            .env
            .models
            .get(&spec.provider, &spec.name)
            .map_err(|e| e.to_string())
    }

    /// Streams a chunk of this node's `text` (LLM) to the response nodes that reference it.
    pub async fn stream(&self, var: &str, chunk: &str) {
        if self.scope.is_top() {
            self.run.stream_chunk(&self.def.id, var, chunk).await;
        }
    }
}

/// A runnable node.
pub trait Node: Send + Sync {
    /// Runs the node once.
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>>;

    /// Whether its `text` streams (answer and end nodes follow it chunk by chunk).
    fn streams(&self) -> bool {
        false
    }
}

/// What the engine reports while it runs.
#[derive(Debug)]
pub enum EngineEvent<'a> {
    /// A node started.
    NodeStarted(&'a NodeRecord),
    /// A node finished (any status).
    NodeFinished(&'a NodeRecord),
    /// A node failed and will run again.
    NodeRetry(&'a NodeRecord, u32),
    /// Streamed response text.
    Text {
        /// The chunk.
        text: &'a str,
        /// Where it comes from.
        selector: &'a [String],
    },
    /// A container event (`iteration_started`, `loop_next`, …) with its data.
    Container {
        /// Event name.
        name: &'static str,
        /// The `data` object.
        data: Value,
    },
}

/// The client went away (streams may go on detached).
#[derive(Debug)]
pub struct SinkClosed;

/// Where engine events go.
pub trait EventSink: Send + Sync {
    /// Whether anyone listens (a blocking call does not: no event is built).
    fn enabled(&self) -> bool;
    /// Delivers one event.
    fn emit<'a>(&'a self, event: EngineEvent<'a>) -> BoxFuture<'a, Result<(), SinkClosed>>;
}

/// A sink for blocking runs: no events.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn enabled(&self) -> bool {
        false
    }

    fn emit<'a>(&'a self, _event: EngineEvent<'a>) -> BoxFuture<'a, Result<(), SinkClosed>> {
        Box::pin(async { Ok(()) })
    }
}

/// A declared environment or conversation variable.
#[derive(Clone, Debug)]
pub struct VariableDecl {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type.
    pub value_type: String,
    /// Initial value.
    pub value: Value,
    /// Description.
    pub description: String,
}

fn decls(v: &Value) -> Vec<VariableDecl> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some(VariableDecl {
                id: d.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
                name: d.get("name")?.as_str()?.to_owned(),
                value_type: d
                    .get("value_type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_owned(),
                value: d.get("value").cloned().unwrap_or(Value::Null),
                description: d
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            })
        })
        .collect()
}

/// A compiled workflow version.
pub struct Workflow {
    /// Version id (`sys.workflow_id`).
    pub id: String,
    /// The graph.
    pub graph: Arc<Graph>,
    /// Compiled nodes by id (containers' insides included).
    pub nodes: HashMap<String, Arc<dyn Node>>,
    /// Environment variables.
    pub env: Vec<VariableDecl>,
    /// Conversation variables (chatflows).
    pub conversation: Vec<VariableDecl>,
    /// The start node's form.
    pub form: Vec<FormField>,
    /// The start node id.
    pub start_id: String,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Workflow {
    /// Compiles a workflow version from its parts (JSON).
    pub fn compile(
        id: &str,
        graph: &Value,
        env: &Value,
        conversation: &Value,
    ) -> Result<Workflow, CompileError> {
        let g = Graph::parse(graph).map_err(CompileError::Graph)?;
        let missing = g.unsupported();
        if !missing.is_empty() {
            return Err(CompileError::Unsupported(
                missing
                    .into_iter()
                    .map(|m| format!("node type {m}"))
                    .collect(),
            ));
        }
        let mut compiled = HashMap::new();
        let mut errors = Vec::new();
        g.visit(&mut |def| match nodes::compile(def) {
            Ok(node) => {
                compiled.insert(def.id.clone(), node);
            }
            Err(e) => errors.push(format!("node {:?} ({}): {e}", def.id, def.kind)),
        });
        if !errors.is_empty() {
            return Err(CompileError::Graph(errors.join("; ")));
        }
        let start = &g.nodes[g.root];
        Ok(Workflow {
            id: id.to_owned(),
            form: fields_from_start_variables(start.data.get("variables")),
            start_id: start.id.clone(),
            graph: Arc::new(g),
            nodes: compiled,
            env: decls(env),
            conversation: decls(conversation),
        })
    }
}
