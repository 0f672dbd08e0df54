//! `http-request`: method, URL, params and headers (multi-line `key:value`), body types
//! (none, form-data, x-www-form-urlencoded, raw-text, json, binary), authorization (bearer,
//! basic, custom header), timeouts — through the guarded client, which refuses private and
//! loopback targets unless the operator allows them. A non-2xx answer fails the node only
//! when it has retries or an error strategy (so they can act on it).

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use weir_core::fetch::{FetchBody, FetchPart, FetchRequest};
use weir_core::BoxFuture;

use crate::graph::{ErrorStrategy, NodeDef};
use crate::pool::{selector, Pool};
use crate::template;
use crate::value::text;
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// Error kind of request failures.
pub const HTTP_ERROR: &str = "HttpRequestNodeError";
/// Error kind of non-2xx answers that fail the node.
pub const STATUS_ERROR: &str = "HTTPResponseCodeError";
/// Longest text body kept.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Largest response body (and file sent) of one request (Dify's binary limit).
pub const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
/// Longest timeout a node may ask for, seconds.
pub const MAX_TIMEOUT_S: u64 = 600;

#[derive(Clone, Debug)]
struct BodyItem {
    key: String,
    kind: String,
    value: String,
    file: Option<Vec<String>>,
}

/// The http-request node.
pub struct HttpRequest {
    method: String,
    url: String,
    headers: String,
    params: String,
    body_type: String,
    body: Vec<BodyItem>,
    auth: Option<(String, String, String)>,
    connect: u64,
    read: u64,
    strict_status: bool,
}

fn secs(v: Option<&Value>, default: u64) -> u64 {
    v.and_then(|x| x.as_u64().or_else(|| x.as_f64().map(|f| f as u64)))
        .filter(|s| *s > 0)
        .unwrap_or(default)
        .min(MAX_TIMEOUT_S)
}

impl HttpRequest {
    /// Compiles the request description.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let method = def.str("method").to_ascii_uppercase();
        if !matches!(
            method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
        ) {
            return Err(format!("unsupported method {method:?}"));
        }
        let body = d.get("body");
        let body_type = body
            .and_then(|b| b.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned();
        let items = match body.and_then(|b| b.get("data")) {
            Some(Value::String(s)) => vec![BodyItem {
                key: String::new(),
                kind: "text".into(),
                value: s.clone(),
                file: None,
            }],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| BodyItem {
                    key: i
                        .get("key")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    kind: i
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("text")
                        .to_owned(),
                    value: i.get("value").map(text).unwrap_or_default(),
                    file: i.get("file").and_then(selector),
                })
                .collect(),
            _ => Vec::new(),
        };
        let auth = d
            .get("authorization")
            .filter(|a| a.get("type").and_then(Value::as_str) == Some("api-key"))
            .map(|a| {
                let c = a.get("config").cloned().unwrap_or(Value::Null);
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                (s("type"), s("api_key"), s("header"))
            });
        let strict_status = def.retry.is_some() || def.error_strategy != ErrorStrategy::None;
        Ok(HttpRequest {
            method,
            url: def.str("url").to_owned(),
            headers: def.str("headers").to_owned(),
            params: def.str("params").to_owned(),
            body_type,
            body: items,
            auth,
            connect: secs(d.pointer("/timeout/connect"), 10),
            read: secs(d.pointer("/timeout/read"), 60),
            strict_status,
        })
    }
}

/// Parses `key:value` lines (templates on both sides).
fn pairs(src: &str, pool: &Pool) -> Vec<(String, String)> {
    src.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let k = template::render(k.trim(), pool);
            (!k.is_empty()).then(|| (k, template::render(v.trim(), pool)))
        })
        .collect()
}

/// A file of the run for a request body: (name, MIME type, bytes).
async fn file_bytes(cx: &NodeCx<'_>, value: &Value) -> Result<(String, String, Bytes), String> {
    let file = cx.run.files.require(value).map_err(|e| e.to_string())?;
    let bytes = cx
        .run
        .env
        .files
        .bytes(&file, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    Ok((file.name.clone(), file.mime_type.clone(), bytes))
}

impl HttpRequest {
    /// The request this node sends with the pool's values, and how it is shown in
    /// `process_data`.
    async fn request(&self, cx: &NodeCx<'_>) -> Result<(FetchRequest, String), String> {
        let pool = cx.pool;
        let url = template::render(&self.url, pool);
        let mut headers = pairs(&self.headers, pool);
        let has_content_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if let Some((kind, key, header)) = &self.auth {
            let key = template::render(key, pool);
            if key.is_empty() {
                return Err("API key is required".into());
            }
            let header = if header.is_empty() {
                "Authorization".to_owned()
            } else {
                header.clone()
            };
            let value = match kind.as_str() {
                "bearer" => format!("Bearer {key}"),
                "basic" if key.contains(':') => format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(&key)
                ),
                _ => key,
            };
            headers.push((header, value));
        }
        let mut shown_body = String::new();
        let content_type = |ct: &str, headers: &mut Vec<(String, String)>| {
            if !has_content_type {
                headers.push(("content-type".into(), ct.to_owned()));
            }
        };
        let body = match self.body_type.as_str() {
            "json" | "raw-text" => {
                let raw = self
                    .body
                    .first()
                    .map(|i| template::render(&i.value, pool))
                    .unwrap_or_default();
                if self.body_type == "json" {
                    let v: Value = serde_json::from_str(&raw).unwrap_or(Value::String(raw.clone()));
                    content_type("application/json", &mut headers);
                    shown_body = v.to_string();
                } else {
                    content_type("text/plain", &mut headers);
                    shown_body = raw;
                }
                FetchBody::Bytes(Bytes::from(shown_body.clone()))
            }
            "x-www-form-urlencoded" => FetchBody::Form(
                self.body
                    .iter()
                    .filter(|i| !i.key.is_empty())
                    .map(|i| {
                        (
                            template::render(&i.key, pool),
                            template::render(&i.value, pool),
                        )
                    })
                    .collect(),
            ),
            "form-data" => {
                let mut parts = Vec::new();
                for i in self.body.iter().filter(|i| !i.key.is_empty()) {
                    let name = template::render(&i.key, pool);
                    if i.kind == "file" {
                        let Some(f) = i.file.as_ref().and_then(|s| pool.get(s)) else {
                            continue;
                        };
                        let (file_name, mime, bytes) = file_bytes(cx, &f).await?;
                        parts.push(FetchPart::File {
                            name,
                            file_name,
                            mime,
                            bytes,
                        });
                    } else {
                        parts.push(FetchPart::Text {
                            name,
                            value: template::render(&i.value, pool),
                        });
                    }
                }
                FetchBody::Multipart(parts)
            }
            "binary" => match self
                .body
                .first()
                .and_then(|i| i.file.as_ref())
                .and_then(|s| pool.get(s))
            {
                Some(f) => {
                    let (_, mime, bytes) = file_bytes(cx, &f).await?;
                    content_type(&mime, &mut headers);
                    FetchBody::Bytes(bytes)
                }
                None => FetchBody::Empty,
            },
            _ => FetchBody::Empty,
        };
        let shown = format!(
            "{} {}\n{}\n\n{}",
            self.method,
            url,
            headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            shown_body
        );
        let req = FetchRequest {
            method: self.method.clone(),
            url,
            query: pairs(&self.params, pool),
            headers,
            body,
            timeout: Duration::from_secs(self.connect + self.read),
            max_body: MAX_RESPONSE_BYTES,
        };
        Ok((req, shown))
    }
}

impl Node for HttpRequest {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let fail = |m: String| NodeError::new(HTTP_ERROR, m).with_inputs(json!({}));
            let (req, shown) = self.request(cx).await.map_err(fail)?;
            let inputs = json!({});
            let process = json!({"request": shown});
            let res = cx.run.env.fetch.fetch(req).await.map_err(|e| NodeError {
                process_data: Some(process.clone()),
                ..fail(e)
            })?;
            let status = res.status;
            let mut out_headers = Map::new();
            for (k, v) in &res.headers {
                out_headers.insert(k.clone(), Value::String(v.clone()));
            }
            let content_type = out_headers
                .get("content-type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            let bytes = res.body;
            let textual = content_type.is_empty()
                || content_type.starts_with("text/")
                || content_type.contains("json")
                || content_type.contains("xml")
                || content_type.contains("javascript")
                || content_type.contains("x-www-form-urlencoded");
            let body_text = if textual {
                let end = bytes.len().min(MAX_TEXT_BYTES);
                String::from_utf8_lossy(&bytes[..end]).into_owned()
            } else {
                String::new()
            };
            if self.strict_status && !(200..300).contains(&status) {
                return Err(NodeError {
                    message: format!("HTTP request failed with status code {status}: {body_text}"),
                    kind: STATUS_ERROR.into(),
                    inputs: Some(inputs),
                    process_data: Some(process),
                });
            }
            let mut outputs = Map::new();
            outputs.insert("status_code".into(), json!(status));
            outputs.insert("body".into(), Value::String(body_text));
            outputs.insert("headers".into(), Value::Object(out_headers));
            outputs.insert("files".into(), json!([]));
            Ok(NodeOutput {
                inputs,
                process_data: process,
                outputs,
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let pool = Pool::new();
        pool.set("sys", "workflow_run_id", json!("r1"));
        let got = pairs(
            "Accept:application/json\nX-Run-Id:{{#sys.workflow_run_id#}}\n\nX-Url: http://a:1",
            &pool,
        );
        assert_eq!(
            got,
            vec![
                ("Accept".to_owned(), "application/json".to_owned()),
                ("X-Run-Id".to_owned(), "r1".to_owned()),
                ("X-Url".to_owned(), "http://a:1".to_owned()),
            ]
        );
    }
}
