//! `variable-aggregator` (and its legacy name `variable-assigner`): the first listed
//! variable that has a value — typically the output of whichever branch ran. With groups,
//! one output object per group.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::pool::selector;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// The aggregator node.
pub struct Aggregator {
    variables: Vec<Vec<String>>,
    groups: Vec<(String, Vec<Vec<String>>)>,
}

fn selectors(v: Option<&Value>) -> Vec<Vec<String>> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(selector)
        .collect()
}

impl Aggregator {
    /// Compiles `variables` and `advanced_settings.groups`.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let adv = def.data.get("advanced_settings");
        let grouped = adv
            .and_then(|a| a.get("group_enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let groups = if grouped {
            adv.and_then(|a| a.get("groups"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|g| {
                    Some((
                        g.get("group_name")?.as_str()?.to_owned(),
                        selectors(g.get("variables")),
                    ))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Aggregator {
            variables: selectors(def.data.get("variables")),
            groups,
        })
    }
}

fn first(cx: &NodeCx<'_>, list: &[Vec<String>]) -> Value {
    list.iter()
        .find_map(|s| cx.pool.get(s))
        .unwrap_or(Value::Null)
}

impl Node for Aggregator {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut outputs = Map::new();
            if self.groups.is_empty() {
                outputs.insert("output".into(), first(cx, &self.variables));
            } else {
                for (name, vars) in &self.groups {
                    outputs.insert(name.clone(), json!({"output": first(cx, vars)}));
                }
            }
            Ok(NodeOutput {
                inputs: Value::Object(Map::new()),
                process_data: Value::Object(Map::new()),
                outputs,
                ..Default::default()
            })
        })
    }
}
