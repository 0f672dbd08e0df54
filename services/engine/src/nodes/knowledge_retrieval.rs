//! `knowledge-retrieval`: searches the app's knowledge bases with the node's query and
//! outputs `result`, the retrieved chunks best first (Dify's shape: `metadata`, `title`,
//! `content`). An empty query fails the node.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::{Node, NodeCx, NodeError, NodeOutput};
use weir_core::knowledge::DatasetConfig;

/// The error type of this node.
pub const ERROR: &str = "KnowledgeRetrievalNodeError";

/// The knowledge-retrieval node.
pub struct KnowledgeRetrieval {
    query: Vec<String>,
    config: DatasetConfig,
}

impl KnowledgeRetrieval {
    /// Reads the query selector and the retrieval settings.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let query = def
            .data
            .get("query_variable_selector")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .ok_or("knowledge-retrieval needs a query_variable_selector")?;
        Ok(KnowledgeRetrieval {
            query,
            config: DatasetConfig::from_node(&def.data),
        })
    }
}

impl Node for KnowledgeRetrieval {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let query = match cx.pool.get(&self.query) {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let inputs = json!({"query": query});
            let fail = |m: String| NodeError::new(ERROR, m).with_inputs(inputs.clone());
            if query.trim().is_empty() {
                return Err(fail("Query is required.".into()));
            }
            let result = cx
                .run
                .env
                .retrieval
                .retrieve(&cx.run.workspace_id, &self.config, &query)
                .await
                .map_err(|e| fail(weir_core::util::error_chain(&*e)))?;
            let mut outputs = Map::new();
            outputs.insert("result".into(), Value::Array(result));
            Ok(NodeOutput {
                inputs,
                ..NodeOutput::outputs(outputs)
            })
        })
    }
}
