//! `document-extractor`: the text of a file (or of each file of a list): txt, markdown,
//! csv, json, html, pdf, docx. Output `text`: a string, or a list for a file list.

use serde_json::{json, Value};
use weir_layers::BoxFuture;

use super::{selector_field, single};
use crate::engine::graph::NodeDef;
use crate::engine::value::is_file;
use crate::engine::{Node, NodeCx, NodeError, NodeOutput};

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

async fn text_of(cx: &NodeCx<'_>, file: &Value) -> Result<String, String> {
    let ext = file.get("extension").and_then(Value::as_str).unwrap_or("");
    let mime = file.get("mime_type").and_then(Value::as_str).unwrap_or("");
    let state = &cx.run.state;
    let bytes = match file.get("related_id").and_then(Value::as_str) {
        Some(id) => {
            let upload = state
                .store()
                .upload_file(id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the file no longer exists")?;
            tokio::fs::read(state.settings().data_dir.join(&upload.storage_key))
                .await
                .map_err(|e| e.to_string())?
        }
        None => {
            let url = file
                .get("url")
                .or_else(|| file.get("remote_url"))
                .and_then(Value::as_str)
                .ok_or("the file has no content")?;
            let client = crate::net::client(
                state.settings().network.allow_private,
                std::time::Duration::from_secs(60),
            );
            client
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?
                .to_vec()
        }
    };
    let (ext, mime) = (ext.to_owned(), mime.to_owned());
    tokio::task::spawn_blocking(move || crate::extract::extract(&bytes, &ext, &mime))
        .await
        .map_err(|e| e.to_string())?
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
                f if is_file(f) => Value::String(text_of(cx, f).await.map_err(fail)?),
                Value::Null => return Err(fail("no file to extract".into())),
                other => return Err(fail(format!("not a file: {other}"))),
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
