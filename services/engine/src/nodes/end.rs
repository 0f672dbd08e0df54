//! `end`: the run's outputs, one per declared `{variable, value_selector}` (null when the
//! selector resolves to nothing).

use serde_json::{Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::pool::selector;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// The end node.
pub struct End {
    outputs: Vec<(String, Vec<String>)>,
}

impl End {
    /// Compiles `outputs`.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let outputs = def
            .data
            .get("outputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| {
                let name = o.get("variable")?.as_str()?.to_owned();
                let sel = o
                    .get("value_selector")
                    .and_then(selector)
                    .unwrap_or_default();
                Some((name, sel))
            })
            .collect();
        Ok(End { outputs })
    }
}

impl Node for End {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut outputs = Map::new();
            for (name, sel) in &self.outputs {
                let v = if sel.is_empty() {
                    None
                } else {
                    cx.pool.get(sel)
                };
                outputs.insert(name.clone(), v.unwrap_or(Value::Null));
            }
            Ok(NodeOutput {
                inputs: Value::Object(outputs.clone()),
                process_data: Value::Object(Map::new()),
                outputs,
                ..Default::default()
            })
        })
    }
}
