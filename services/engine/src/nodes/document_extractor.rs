//! `document-extractor`: the text of a file (or of each file of a list): txt, markdown,
//! csv, json, html, pdf, docx. Output `text`: a string, or a list for a file list.

use serde_json::{json, Value};
use weir_core::BoxFuture;

use super::{selector_field, single};
use crate::graph::NodeDef;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// Error kind of extraction failures.
pub const EXTRACT_ERROR: &str = "DocumentExtractorError";

/// The document-extractor node.
pub struct DocumentExtractor {
    variable: Vec<String>,
}

impl DocumentExtractor {
    /// Compiles the file selector.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        Ok(DocumentExtractor {
            variable: selector_field(&def.data, "variable_selector")
                .ok_or("variable_selector is required")?,
        })
    }
}

async fn text_of(cx: &NodeCx<'_>, value: &Value) -> Result<String, String> {
    let file = cx.run.files.require(value).map_err(|e| e.to_string())?;
    cx.run
        .env
        .files
        .text(&file)
        .await
        .map_err(|e| e.to_string())
}

impl Node for DocumentExtractor {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let value = cx.pool.get(&self.variable).unwrap_or(Value::Null);
            let inputs = json!({"variable_selector": self.variable});
            let fail = |m: String| NodeError::new(EXTRACT_ERROR, m).with_inputs(inputs.clone());
            let text = match &value {
                Value::Array(files) => {
                    let mut texts = Vec::new();
                    for f in files {
                        texts.push(Value::String(text_of(cx, f).await.map_err(fail)?));
                    }
                    Value::Array(texts)
                }
                Value::Null => return Err(fail("no file to extract".into())),
                f => Value::String(text_of(cx, f).await.map_err(fail)?),
            };
            Ok(NodeOutput {
                inputs,
                outputs: single("text", text),
                process_data: json!({}),
                ..Default::default()
            })
        })
    }
}
