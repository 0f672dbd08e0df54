//! `knowledge-retrieval`: searches the app's knowledge bases. Knowledge bases are not built
//! yet, so an app using this node is refused at import with that reason.

use weir_layers::BoxFuture;

use crate::engine::graph::NodeDef;
use crate::engine::{Node, NodeCx, NodeError, NodeOutput};

/// Why apps with this node cannot be imported yet.
pub const NOT_AVAILABLE: &str =
    "knowledge-retrieval nodes need knowledge bases, which this weir does not provide yet";

/// The knowledge-retrieval node.
pub struct KnowledgeRetrieval;

impl KnowledgeRetrieval {
    /// Refuses until knowledge bases exist.
    pub fn compile(_def: &NodeDef) -> Result<Self, String> {
        Err(NOT_AVAILABLE.into())
    }
}

impl Node for KnowledgeRetrieval {
    fn run<'a>(&'a self, _cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async { Err(NodeError::new("KnowledgeRetrievalNodeError", NOT_AVAILABLE)) })
    }
}
