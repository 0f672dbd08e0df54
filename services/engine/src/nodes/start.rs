//! `start`: the run's validated inputs become its outputs; `iteration-start` and
//! `loop-start` just open their container's sub-graph.

use serde_json::Value;
use weir_core::BoxFuture;

use crate::{Node, NodeCx, NodeError, NodeOutput};

/// The start node.
pub struct Start;

impl Node for Start {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let inputs = cx.run.inputs.clone();
            Ok(NodeOutput {
                inputs: Value::Object(inputs.clone()),
                process_data: Value::Object(Default::default()),
                outputs: inputs,
                ..Default::default()
            })
        })
    }
}

/// The start node of a container.
pub struct ContainerStart;

impl Node for ContainerStart {
    fn run<'a>(&'a self, _cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async { Ok(NodeOutput::outputs(Default::default())) })
    }
}
