//! `if-else`: cases tested in order; the first true case's id is the branch taken, else
//! `"false"`. The legacy shape (top-level conditions) is one case with id `"true"`.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::conditions::{evaluate_group, parse_conditions, Group};
use crate::graph::NodeDef;
use crate::{Node, NodeCx, NodeError, NodeOutput};

struct Case {
    id: String,
    group: Group,
    raw: Value,
}

/// The if-else node.
pub struct IfElse {
    cases: Vec<Case>,
}

fn case(id: &str, logical: Option<&Value>, conditions: Option<&Value>) -> Result<Case, String> {
    let all = logical.and_then(Value::as_str) != Some("or");
    let conds = parse_conditions(conditions)?;
    let raw = json!({"case_id": id, "logical_operator": if all { "and" } else { "or" },
        "conditions": conds.iter().map(|c| c.raw.clone()).collect::<Vec<_>>()});
    Ok(Case {
        id: id.to_owned(),
        group: Group {
            all,
            conditions: conds,
        },
        raw,
    })
}

impl IfElse {
    /// Compiles `cases` (or the legacy `conditions`).
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let cases = match def.data.get("cases").and_then(Value::as_array) {
            Some(cases) => cases
                .iter()
                .map(|c| {
                    let id = c.get("case_id").and_then(Value::as_str).unwrap_or("true");
                    case(id, c.get("logical_operator"), c.get("conditions"))
                })
                .collect::<Result<_, _>>()?,
            None => vec![case(
                "true",
                def.data.get("logical_operator"),
                def.data.get("conditions"),
            )?],
        };
        Ok(IfElse { cases })
    }
}

impl Node for IfElse {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut records = Vec::new();
            let mut results = Vec::new();
            let mut selected = None;
            for c in &self.cases {
                let (ok, rs, recs) = evaluate_group(&c.group, cx.pool).map_err(|e| {
                    NodeError::new("IfElseNodeError", e)
                        .with_inputs(json!({"conditions": records.clone()}))
                })?;
                records.extend(recs);
                results.push(json!({"group": c.raw, "results": rs, "final_result": ok}));
                if ok {
                    selected = Some(c.id.clone());
                    break;
                }
            }
            let handle = selected.clone().unwrap_or_else(|| "false".to_owned());
            let mut outputs = Map::new();
            outputs.insert("result".into(), Value::Bool(selected.is_some()));
            outputs.insert("selected_case_id".into(), Value::String(handle.clone()));
            Ok(NodeOutput {
                inputs: json!({"conditions": records}),
                process_data: json!({"condition_results": results}),
                outputs,
                handle: Some(handle),
                ..Default::default()
            })
        })
    }
}
