//! `answer` (chatflows): renders its template; the text joins the message's answer (and
//! was streamed by the response coordinator as it became available).

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::template::Template;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// The answer node.
pub struct Answer {
    template: Template,
}

impl Answer {
    /// Compiles `answer`.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        Ok(Answer {
            template: Template::parse(def.str("answer")),
        })
    }
}

impl Node for Answer {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let text = self.template.render(cx.pool);
            let mut outputs = Map::new();
            outputs.insert("answer".into(), Value::String(text));
            outputs.insert("files".into(), json!([]));
            Ok(NodeOutput::outputs(outputs))
        })
    }
}
