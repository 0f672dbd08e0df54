//! Custom API tools: each operation of an OpenAPI document is a tool, called over HTTP
//! through the guarded client (no private addresses unless allowed).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use weir_core::BoxFuture;

use super::{arg_text, Tool, ToolError, ToolParam, ToolSpec};
use crate::settings::ApiToolSettings;

/// Longest a tool call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer of a tool call.
pub const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;

struct Operation {
    spec: ToolSpec,
    method: reqwest::Method,
    url: String,
    /// (name, location: `path` | `query` | `header` | `body`)
    locations: Vec<(String, String)>,
    auth: Option<(String, String)>,
    outbound: crate::net::Outbound,
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(doc, |v, k| &v[k]))
            .unwrap_or(schema),
        None => schema,
    }
}

fn json_type(schema: &Value) -> &'static str {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") | Some("number") => "number",
        Some("boolean") => "boolean",
        Some("array") => "array",
        Some("object") => "object",
        _ => "string",
    }
}

/// The tools of one OpenAPI document.
pub(super) fn tools(
    provider: &str,
    cfg: &ApiToolSettings,
    outbound: &crate::net::Outbound,
) -> Result<Vec<Arc<dyn Tool>>, String> {
    let text = if !cfg.schema.is_empty() {
        cfg.schema.clone()
    } else {
        std::fs::read_to_string(&cfg.schema_file)
            .map_err(|e| format!("{}: {e}", cfg.schema_file))?
    };
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let doc = serde_json::to_value(yaml).map_err(|e| e.to_string())?;
    let base = doc["servers"][0]["url"]
        .as_str()
        .ok_or("the schema has no servers[0].url")?
        .trim_end_matches('/')
        .to_owned();
    let paths = doc["paths"].as_object().ok_or("the schema has no paths")?;
    let auth = (!cfg.auth_value.is_empty()).then(|| {
        let header = if cfg.auth_header.is_empty() {
            "Authorization".to_owned()
        } else {
            cfg.auth_header.clone()
        };
        (header, cfg.auth_value.clone())
    });
    let mut out: Vec<Arc<dyn Tool>> = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let name = op["operationId"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "{method}_{}",
                        path.trim_matches('/').replace(['/', '{', '}'], "_")
                    )
                });
            let mut params = Vec::new();
            let mut locations = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = resolve(&doc, p);
                let Some(pname) = p["name"].as_str() else {
                    continue;
                };
                params.push(ToolParam {
                    name: pname.to_owned(),
                    kind: json_type(&p["schema"]),
                    description: p["description"].as_str().unwrap_or("").to_owned(),
                    required: p["required"].as_bool().unwrap_or(false),
                    llm: true,
                });
                locations.push((
                    pname.to_owned(),
                    p["in"].as_str().unwrap_or("query").to_owned(),
                ));
            }
            let body = resolve(
                &doc,
                &op["requestBody"]["content"]["application/json"]["schema"],
            );
            let required: Vec<&str> = body["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (pname, schema) in body["properties"].as_object().into_iter().flatten() {
                let schema = resolve(&doc, schema);
                params.push(ToolParam {
                    name: pname.clone(),
                    kind: json_type(schema),
                    description: schema["description"].as_str().unwrap_or("").to_owned(),
                    required: required.contains(&pname.as_str()),
                    llm: true,
                });
                locations.push((pname.clone(), "body".to_owned()));
            }
            out.push(Arc::new(Operation {
                spec: ToolSpec {
                    provider: provider.to_owned(),
                    name,
                    description: op["description"]
                        .as_str()
                        .or(op["summary"].as_str())
                        .unwrap_or("")
                        .to_owned(),
                    params,
                },
                method: method
                    .to_uppercase()
                    .parse()
                    .unwrap_or(reqwest::Method::GET),
                url: format!("{base}{path}"),
                locations,
                auth: auth.clone(),
                outbound: outbound.clone(),
            }));
        }
    }
    Ok(out)
}

impl Tool for Operation {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn invoke<'a>(
        &'a self,
        args: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let mut url = self.url.clone();
            let mut query = Vec::new();
            let mut body = Map::new();
            let mut headers = Vec::new();
            for (name, location) in &self.locations {
                let Some(value) = args.get(name).filter(|v| !v.is_null()) else {
                    continue;
                };
                let text = arg_text(args, name).unwrap_or_default();
                match location.as_str() {
                    "path" => {
                        url = url.replace(
                            &format!("{{{name}}}"),
                            &form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>(),
                        )
                    }
                    "query" => query.push((name.clone(), text)),
                    "header" => headers.push((name.clone(), text)),
                    _ => {
                        body.insert(name.clone(), value.clone());
                    }
                }
            }
            let mut req = self
                .outbound
                .request(self.method.clone(), &url)
                .map_err(|e| ToolError(e.to_string()))?
                .timeout(TOOL_TIMEOUT)
                .query(&query);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some((k, v)) = &self.auth {
                req = req.header(k.as_str(), v.as_str());
            }
            if !body.is_empty() {
                req = req.json(&body);
            }
            let res = req
                .send()
                .await
                .map_err(|e| ToolError(format!("request failed: {}", crate::net::transfer(e))))?;
            let status = res.status();
            let bytes = crate::net::read_capped(res, MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| ToolError(e.to_string()))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if !status.is_success() {
                return Err(ToolError(format!(
                    "Request failed with status code {}: {text}",
                    status.as_u16()
                )));
            }
            Ok(text)
        })
    }
}
