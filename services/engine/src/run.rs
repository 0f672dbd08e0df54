//! The scheduler. Each node and edge has a state; a node is ready when none of its incoming
//! edges is undecided and at least one was taken; a node whose incoming edges were all
//! skipped is skipped, and so are its outgoing edges. Ready nodes run concurrently. A node
//! that fails without an error strategy fails the run; retries and strategies are applied
//! around each node. Stop (or the run's deadline) ends the run between events.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};

pub use super::ctx::{GraphOutcome, RunCtx, RunEnv, RunSetup, RunSummary, Scope};
use super::graph::{ErrorStrategy, Graph};
use super::pool::Pool;
use super::response::Coordinator;
use super::{EngineEvent, NodeCx, NodeRecord};
use weir_core::model::Usage;
use weir_core::util::now;

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
