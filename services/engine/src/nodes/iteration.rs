//! `iteration`: runs its sub-graph once per item of an array, sequentially or in parallel
//! (at most `parallel_nums` rounds at once), each round on its own layer of the pool with
//! `[iteration, item]` and `[iteration, index]` set. The value at `output_selector` after
//! each round is collected in input order. Error modes: `terminated` (fail),
//! `continue-on-error` (null slot), `remove-abnormal-output` (drop the slot).

use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::{selector_field, single};
use crate::graph::NodeDef;
use crate::pool::Pool;
use crate::run::{run_graph, GraphOutcome, Scope};
use crate::{EngineEvent, Node, NodeCx, NodeError, NodeOutput};
use weir_core::events::names;
use weir_core::util::now;

/// Error kind of iteration failures.
pub const ITERATION_ERROR: &str = "IterationNodeError";

#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorMode {
    Terminated,
    ContinueOnError,
    RemoveAbnormal,
}

/// The iteration node.
pub struct Iteration {
    iterator: Vec<String>,
    output: Option<Vec<String>>,
    parallel: usize,
    mode: ErrorMode,
    flatten: bool,
}

impl Iteration {
    /// Compiles the container settings.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let parallel = d
            .get("is_parallel")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let nums = d
            .get("parallel_nums")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 100) as usize;
        Ok(Iteration {
            iterator: selector_field(d, "iterator_selector")
                .ok_or("iterator_selector is required")?,
            output: selector_field(d, "output_selector"),
            parallel: if parallel { nums } else { 1 },
            mode: match def.str("error_handle_mode") {
                "continue-on-error" => ErrorMode::ContinueOnError,
                "remove-abnormal-output" => ErrorMode::RemoveAbnormal,
                _ => ErrorMode::Terminated,
            },
            flatten: d
                .get("flatten_output")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

fn head(cx: &NodeCx<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), cx.exec_id.into());
    m.insert("node_id".into(), cx.def.id.clone().into());
    m.insert("node_type".into(), cx.def.kind.clone().into());
    m.insert("title".into(), cx.def.title.clone().into());
    m
}

impl Node for Iteration {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let started = Instant::now();
            let items = match cx.pool.get(&self.iterator) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a,
                Some(other) => {
                    return Err(NodeError::new(
                        ITERATION_ERROR,
                        format!("the iterator is not an array: {other}"),
                    ));
                }
            };
            let inputs = json!({"iterator_selector": items});
            if items.is_empty() {
                return Ok(NodeOutput {
                    inputs,
                    outputs: single("output", json!([])),
                    process_data: json!({}),
                    ..Default::default()
                });
            }
            let graph = cx.graph.children.get(&cx.def.id).cloned().ok_or_else(|| {
                NodeError::new(ITERATION_ERROR, "the iteration has no inner graph")
            })?;
            let created = now();
            let mut data = head(cx);
            data.insert("created_at".into(), created.into());
            data.insert("extras".into(), json!({}));
            data.insert("metadata".into(), json!({"iterator_length": items.len()}));
            data.insert("inputs".into(), inputs.clone());
            data.insert("inputs_truncated".into(), false.into());
            cx.run
                .emit(EngineEvent::Container {
                    name: names::ITERATION_STARTED,
                    data: Value::Object(data),
                })
                .await;

            let mut slots: Vec<Option<Result<Value, String>>> = vec![None; items.len()];
            let mut running = FuturesUnordered::new();
            let mut next = 0usize;
            let mut failure: Option<String> = None;
            let mut stopped = false;
            let run_round = |i: usize, item: Value| {
                let pool = Pool::child(cx.pool);
                pool.set(&cx.def.id, "item", item);
                pool.set(&cx.def.id, "index", json!(i));
                let scope = Scope {
                    iteration: Some((cx.def.id.clone(), i)),
                    loop_: None,
                };
                let graph = graph.clone();
                let run = cx.run.clone();
                let output = self.output.clone();
                let mut data = head(cx);
                async move {
                    data.insert("index".into(), json!(i));
                    data.insert("created_at".into(), now().into());
                    data.insert("extras".into(), json!({}));
                    run.emit(EngineEvent::Container {
                        name: names::ITERATION_NEXT,
                        data: Value::Object(data),
                    })
                    .await;
                    let outcome = run_graph(&run, &graph, &pool, &scope).await;
                    let value = output.and_then(|sel| pool.get(&sel)).unwrap_or(Value::Null);
                    (i, outcome, value)
                }
            };
            while next < items.len() || !running.is_empty() {
                while running.len() < self.parallel
                    && next < items.len()
                    && failure.is_none()
                    && !stopped
                {
                    running.push(run_round(next, items[next].clone()));
                    next += 1;
                }
                let Some((i, outcome, value)) = running.next().await else {
                    break;
                };
                match outcome {
                    GraphOutcome::Completed => slots[i] = Some(Ok(value)),
                    GraphOutcome::Stopped => stopped = true,
                    GraphOutcome::Failed(e) => {
                        if self.mode == ErrorMode::Terminated {
                            failure.get_or_insert(e);
                        } else {
                            slots[i] = Some(Err(e));
                        }
                    }
                }
                if (failure.is_some() || stopped) && next >= items.len() && running.is_empty() {
                    break;
                }
                if failure.is_some() || stopped {
                    next = items.len();
                }
            }
            let mut collected = Vec::new();
            for slot in slots.into_iter().flatten() {
                match slot {
                    Ok(v) => collected.push(v),
                    Err(_) if self.mode == ErrorMode::ContinueOnError => {
                        collected.push(Value::Null)
                    }
                    Err(_) => {}
                }
            }
            if self.flatten && !collected.is_empty() && collected.iter().all(Value::is_array) {
                collected = collected
                    .into_iter()
                    .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                    .collect();
            }
            let output = Value::Array(collected);
            let status = if failure.is_some() {
                "failed"
            } else {
                "succeeded"
            };
            let mut data = head(cx);
            data.insert("outputs".into(), json!({"output": output}));
            data.insert("outputs_truncated".into(), false.into());
            data.insert("created_at".into(), created.into());
            data.insert("extras".into(), json!({}));
            data.insert("inputs".into(), inputs.clone());
            data.insert("inputs_truncated".into(), false.into());
            data.insert("status".into(), status.into());
            data.insert(
                "error".into(),
                failure.clone().map_or(Value::Null, Value::String),
            );
            data.insert(
                "elapsed_time".into(),
                started.elapsed().as_secs_f64().into(),
            );
            data.insert("total_tokens".into(), 0.into());
            data.insert("execution_metadata".into(), json!({}));
            data.insert("finished_at".into(), now().into());
            data.insert("steps".into(), items.len().into());
            cx.run
                .emit(EngineEvent::Container {
                    name: names::ITERATION_COMPLETED,
                    data: Value::Object(data),
                })
                .await;
            if let Some(e) = failure {
                return Err(NodeError::new(ITERATION_ERROR, e).with_inputs(inputs));
            }
            if stopped {
                return Err(NodeError::new(ITERATION_ERROR, "stopped").with_inputs(inputs));
            }
            Ok(NodeOutput {
                inputs,
                outputs: single("output", output),
                process_data: json!({}),
                ..Default::default()
            })
        })
    }
}
