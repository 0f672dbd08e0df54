//! `tool`: calls a tool of weir's registry (built-in providers, API tools) with its fixed
//! configuration and parameters (`mixed` templates, `variable` selectors, `constant`s).
//! Outputs `text`, `files`, `json`. An unknown tool fails the node.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::pool::selector;
use crate::template;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// Error kind of tool failures.
pub const TOOL_ERROR: &str = "ToolNodeError";

enum Param {
    Mixed(String),
    Variable(Vec<String>),
    Constant(Value),
}

/// The tool node.
pub struct ToolNode {
    provider_type: String,
    provider_id: String,
    tool: String,
    config: Map<String, Value>,
    params: Vec<(String, Param)>,
}

impl ToolNode {
    /// Compiles the tool reference and its parameters.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let params = d
            .get("tool_parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let p = match v.get("type").and_then(Value::as_str) {
                    Some("variable") => {
                        Param::Variable(v.get("value").and_then(selector).unwrap_or_default())
                    }
                    Some("constant") => {
                        Param::Constant(v.get("value").cloned().unwrap_or(Value::Null))
                    }
                    _ => Param::Mixed(
                        v.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    ),
                };
                (k.clone(), p)
            })
            .collect();
        Ok(ToolNode {
            provider_type: def.str("provider_type").to_owned(),
            provider_id: def.str("provider_id").to_owned(),
            tool: def.str("tool_name").to_owned(),
            config: d
                .get("tool_configurations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            params,
        })
    }
}

impl Node for ToolNode {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut args = self.config.clone();
            for (k, p) in &self.params {
                let v = match p {
                    Param::Mixed(t) => Value::String(template::render(t, cx.pool)),
                    Param::Variable(sel) if sel.is_empty() => Value::Null,
                    Param::Variable(sel) => cx.pool.get(sel).unwrap_or(Value::Null),
                    Param::Constant(v) => v.clone(),
                };
                args.insert(k.clone(), v);
            }
            let inputs = Value::Object(args.clone());
            let tool = cx
                .run
                .env
                .tools
                .get(&self.provider_type, &self.provider_id, &self.tool)
                .ok_or_else(|| {
                    NodeError::new(
                        TOOL_ERROR,
                        format!("tool {}/{} is not available", self.provider_id, self.tool),
                    )
                    .with_inputs(inputs.clone())
                })?;
            let text = tool.invoke(&args).await.map_err(|e| {
                NodeError::new(TOOL_ERROR, e.to_string()).with_inputs(inputs.clone())
            })?;
            let json_out: Vec<Value> = serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|v| v.is_object() || v.is_array())
                .into_iter()
                .collect();
            let mut outputs = Map::new();
            outputs.insert("text".into(), Value::String(text));
            outputs.insert("files".into(), json!([]));
            outputs.insert("json".into(), Value::Array(json_out));
            Ok(NodeOutput {
                inputs,
                outputs,
                process_data: json!({}),
                ..Default::default()
            })
        })
    }
}
