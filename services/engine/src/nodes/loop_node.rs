//! `loop`: runs its sub-graph round after round (at most `loop_count`) on one layer of the
//! pool that holds the loop variables (`[loop, label]`); inner outputs are cleared between
//! rounds. The break conditions are checked before the first round and after each; a
//! `loop-end` node ends the loop too. Outputs: the loop variables and `loop_round`.

use std::time::Instant;

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::conditions::{evaluate_group, parse_conditions, Group};
use crate::graph::NodeDef;
use crate::pool::{selector, Pool};
use crate::run::{run_graph, GraphOutcome, Scope};
use crate::value::coerce;
use crate::{EngineEvent, Node, NodeCx, NodeError, NodeOutput};
use weir_core::events::names;
use weir_core::util::now;

/// Error kind of loop failures.
pub const LOOP_ERROR: &str = "LoopNodeError";
/// Most rounds a loop may run, whatever it declares.
pub const MAX_ROUNDS: u64 = 1000;
const END_FLAG: &str = "__loop_end";

enum Init {
    Constant(Value),
    Variable(Vec<String>),
}

/// The loop node.
pub struct Loop {
    count: u64,
    breaks: Group,
    variables: Vec<(String, String, Init)>,
}

impl Loop {
    /// Compiles the loop settings.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let variables = d
            .get("loop_variables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let label = v.get("label")?.as_str()?.to_owned();
                let var_type = v
                    .get("var_type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_owned();
                let init = match v.get("value_type").and_then(Value::as_str) {
                    Some("variable") => Init::Variable(v.get("value").and_then(selector)?),
                    _ => Init::Constant(v.get("value").cloned().unwrap_or(Value::Null)),
                };
                Some((label, var_type, init))
            })
            .collect();
        Ok(Loop {
            count: d
                .get("loop_count")
                .and_then(Value::as_u64)
                .unwrap_or(10)
                .min(MAX_ROUNDS),
            breaks: Group {
                all: d.get("logical_operator").and_then(Value::as_str) != Some("or"),
                conditions: parse_conditions(d.get("break_conditions"))?,
            },
            variables,
        })
    }

    fn should_break(&self, pool: &Pool) -> Result<bool, String> {
        if self.breaks.conditions.is_empty() {
            return Ok(false);
        }
        Ok(evaluate_group(&self.breaks, pool)?.0)
    }
}

/// `loop-end`: ends its loop after the current round.
pub struct LoopEnd;

impl Node for LoopEnd {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            if let Some(parent) = &cx.def.parent {
                cx.pool.set(parent, END_FLAG, Value::Bool(true));
            }
            Ok(NodeOutput::outputs(Map::new()))
        })
    }
}

impl Node for Loop {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let started = Instant::now();
            let id = cx.def.id.clone();
            let graph = cx
                .graph
                .children
                .get(&id)
                .cloned()
                .ok_or_else(|| NodeError::new(LOOP_ERROR, "the loop has no inner graph"))?;
            let pool = Pool::child(cx.pool);
            let mut vars = Map::new();
            for (label, var_type, init) in &self.variables {
                let v = match init {
                    Init::Constant(v) => coerce(var_type, v),
                    Init::Variable(sel) => cx.pool.get(sel).unwrap_or(Value::Null),
                };
                pool.set(&id, label, v.clone());
                vars.insert(label.clone(), v);
            }
            let inputs = Value::Object(vars.clone());
            let base = |extra: &[(&str, Value)]| {
                let mut m = Map::new();
                m.insert("id".into(), cx.exec_id.into());
                m.insert("node_id".into(), id.clone().into());
                m.insert("node_type".into(), "loop".into());
                m.insert("title".into(), cx.def.title.clone().into());
                m.insert("created_at".into(), now().into());
                m.insert("extras".into(), json!({}));
                for (k, v) in extra {
                    m.insert((*k).to_owned(), v.clone());
                }
                Value::Object(m)
            };
            cx.run
                .emit(EngineEvent::Container {
                    name: names::LOOP_STARTED,
                    data: base(&[
                        ("metadata", json!({"loop_length": self.count})),
                        ("inputs", inputs.clone()),
                    ]),
                })
                .await;
            let fail = |e: String| NodeError::new(LOOP_ERROR, e).with_inputs(inputs.clone());
            let inner_ids: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
            let mut rounds = 0u64;
            let mut error = None;
            if !self.should_break(&pool).map_err(fail)? {
                while rounds < self.count {
                    let current: Map<String, Value> = self
                        .variables
                        .iter()
                        .map(|(l, _, _)| {
                            (
                                l.clone(),
                                pool.get(&[id.clone(), l.clone()]).unwrap_or(Value::Null),
                            )
                        })
                        .collect();
                    cx.run
                        .emit(EngineEvent::Container {
                            name: names::LOOP_NEXT,
                            data: base(&[
                                ("index", json!(rounds)),
                                ("pre_loop_output", Value::Object(current)),
                            ]),
                        })
                        .await;
                    for n in &inner_ids {
                        pool.clear(n);
                    }
                    let scope = Scope {
                        iteration: None,
                        loop_: Some((id.clone(), rounds as usize)),
                    };
                    let outcome = run_graph(cx.run, &graph, &pool, &scope).await;
                    rounds += 1;
                    match outcome {
                        GraphOutcome::Completed => {}
                        GraphOutcome::Failed(e) => {
                            error = Some(e);
                            break;
                        }
                        GraphOutcome::Stopped => {
                            error = Some("stopped".into());
                            break;
                        }
                    }
                    if pool.get(&[id.clone(), END_FLAG.to_owned()]).is_some()
                        || self.should_break(&pool).map_err(fail)?
                    {
                        break;
                    }
                }
            }
            let mut outputs = Map::new();
            for (label, _, _) in &self.variables {
                outputs.insert(
                    label.clone(),
                    pool.get(&[id.clone(), label.clone()])
                        .unwrap_or(Value::Null),
                );
            }
            outputs.insert("loop_round".into(), json!(rounds));
            cx.run
                .emit(EngineEvent::Container {
                    name: names::LOOP_COMPLETED,
                    data: base(&[
                        ("outputs", Value::Object(outputs.clone())),
                        ("inputs", inputs.clone()),
                        (
                            "status",
                            if error.is_some() {
                                "failed"
                            } else {
                                "succeeded"
                            }
                            .into(),
                        ),
                        ("error", error.clone().map_or(Value::Null, Value::String)),
                        ("elapsed_time", started.elapsed().as_secs_f64().into()),
                        ("finished_at", now().into()),
                        ("steps", rounds.into()),
                    ]),
                })
                .await;
            if let Some(e) = error {
                return Err(fail(e));
            }
            Ok(NodeOutput {
                inputs,
                outputs,
                process_data: json!({}),
                ..Default::default()
            })
        })
    }
}
