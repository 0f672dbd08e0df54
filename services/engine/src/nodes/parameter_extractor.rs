//! `parameter-extractor`: asks the model for structured parameters (as a function call, or
//! as JSON in the prompt mode). Outputs one key per parameter (type default when missing),
//! `__is_success`, `__reason`, `__usage`.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::selector_field;
use crate::graph::NodeDef;
use crate::template::Template;
use crate::value::{text, zero_of};
use crate::{Node, NodeCx, NodeError, NodeOutput};
use weir_core::model::{ChatMessage, ChatRequest, ModelSpec, ToolDef};

/// Error kind of extractor failures.
pub const EXTRACTOR_ERROR: &str = "ParameterExtractorNodeError";
const FUNCTION: &str = "extract_parameters";

struct Param {
    name: String,
    kind: String,
    description: String,
    required: bool,
    options: Vec<String>,
}

/// The extractor node.
pub struct Extractor {
    query: Vec<String>,
    model: ModelSpec,
    params: Vec<Param>,
    instruction: Template,
    function_call: bool,
}

fn json_type(kind: &str) -> Value {
    match kind {
        "number" => json!({"type": "number"}),
        "boolean" => json!({"type": "boolean"}),
        "array[string]" => json!({"type": "array", "items": {"type": "string"}}),
        "array[number]" => json!({"type": "array", "items": {"type": "number"}}),
        "array[boolean]" => json!({"type": "array", "items": {"type": "boolean"}}),
        "array[object]" => json!({"type": "array", "items": {"type": "object"}}),
        _ => json!({"type": "string"}),
    }
}

impl Extractor {
    /// Compiles query, model, parameters and mode.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let params = d
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?.to_owned();
                let kind = match p.get("type").and_then(Value::as_str).unwrap_or("string") {
                    "bool" => "boolean".to_owned(),
                    "select" => "string".to_owned(),
                    other => other.to_owned(),
                };
                Some(Param {
                    name,
                    kind,
                    description: p.get("description").map(text).unwrap_or_default(),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    options: p
                        .get("options")
                        .and_then(Value::as_array)
                        .map(|o| o.iter().map(text).collect())
                        .unwrap_or_default(),
                })
            })
            .collect::<Vec<_>>();
        if params
            .iter()
            .any(|p| p.name == "__reason" || p.name == "__is_success")
        {
            return Err("__reason and __is_success are reserved parameter names".into());
        }
        Ok(Extractor {
            query: selector_field(d, "query").ok_or("query is required")?,
            model: d
                .get("model")
                .and_then(ModelSpec::from_value)
                .ok_or("model is required")?,
            params,
            instruction: Template::parse(def.str("instruction")),
            function_call: def.str("reasoning_mode") != "prompt",
        })
    }

    /// The parameters in a model's answer (a JSON object somewhere in `raw`): each one's
    /// value, or its type's zero; and why extraction failed, if it did.
    fn read(&self, raw: &str) -> (Map<String, Value>, Option<String>) {
        let parsed = raw
            .find('{')
            .zip(raw.rfind('}'))
            .and_then(|(s, e)| serde_json::from_str::<Value>(&raw[s..=e]).ok())
            .and_then(|v| v.as_object().cloned());
        let mut outputs = Map::new();
        let mut reason = None;
        for p in &self.params {
            match parsed.as_ref().and_then(|m| m.get(&p.name)).cloned() {
                Some(v) if !v.is_null() => {
                    outputs.insert(p.name.clone(), v);
                }
                _ => {
                    if p.required {
                        reason.get_or_insert_with(|| {
                            format!("missing required parameter {}", p.name)
                        });
                    }
                    outputs.insert(p.name.clone(), zero_of(&p.kind));
                }
            }
        }
        if parsed.is_none() {
            reason = Some("the model did not answer with parameters".into());
        }
        (outputs, reason)
    }

    fn schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in &self.params {
            let mut t = json_type(&p.kind);
            t["description"] = Value::String(p.description.clone());
            if !p.options.is_empty() {
                t["enum"] = json!(p.options);
            }
            props.insert(p.name.clone(), t);
            if p.required {
                required.push(Value::String(p.name.clone()));
            }
        }
        json!({"type": "object", "properties": props, "required": required})
    }
}

impl Node for Extractor {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let query = cx
                .pool
                .get(&self.query)
                .map(|v| text(&v))
                .unwrap_or_default();
            let inputs = json!({"query": query});
            let fail = |m: String| NodeError::new(EXTRACTOR_ERROR, m).with_inputs(inputs.clone());
            let client = cx.model(&self.model).map_err(fail)?;
            let instruction = self.instruction.render(cx.pool);
            let schema = self.schema();
            let system = if self.function_call {
                format!("Extract the parameters from the user's text by calling {FUNCTION}. {instruction}")
            } else {
                format!("Extract the parameters from the user's text. Reply only with a JSON object that follows this schema:\n{schema}\n{instruction}")
            };
            let mut req = ChatRequest::new(
                self.model.name.clone(),
                vec![
                    ChatMessage::system(system),
                    ChatMessage::user(query.clone()),
                ],
            );
            req.params = self.model.params.clone();
            req.stream = false;
            if self.function_call {
                req.tools = vec![ToolDef {
                    name: FUNCTION.into(),
                    description: "Extracted parameters".into(),
                    parameters: schema,
                }];
            }
            let out = client
                .chat_output(&req)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let raw = match out.tool_calls.first() {
                Some(call) => call.arguments.clone(),
                None => out.text.clone(),
            };
            let (mut outputs, reason) = self.read(&raw);
            let usage = serde_json::to_value(&out.usage).unwrap_or(Value::Null);
            outputs.insert(
                "__is_success".into(),
                json!(if reason.is_none() { 1 } else { 0 }),
            );
            outputs.insert("__reason".into(), reason.map_or(Value::Null, Value::String));
            outputs.insert("__usage".into(), usage.clone());
            Ok(NodeOutput {
                inputs,
                process_data: json!({"usage": usage, "llm_text": out.text, "function": out.tool_calls.first().map(|c| c.arguments.clone())}),
                outputs,
                ..Default::default()
            }
            .with_usage(out.usage))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(extra: Value) -> Result<Extractor, String> {
        let mut data = json!({"type": "parameter-extractor", "query": ["start", "q"],
            "model": {"provider": "openai", "name": "m", "mode": "chat"},
            "parameters": [
                {"name": "city", "type": "string", "description": "the city", "required": true},
                {"name": "days", "type": "number", "required": false},
                {"name": "tags", "type": "array[string]"},
                {"name": "size", "type": "select", "options": ["s", "m"]}]});
        if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        Extractor::compile(&NodeDef {
            id: "pe".into(),
            kind: "parameter-extractor".into(),
            title: String::new(),
            data,
            error_strategy: crate::graph::ErrorStrategy::None,
            retry: None,
            parent: None,
        })
    }

    #[test]
    fn answers_become_typed_parameters() {
        let x = node(json!({})).unwrap();
        assert!(x.function_call);
        let (out, reason) =
            x.read("Sure: {\"city\": \"Lisbon\", \"days\": 3, \"tags\": [\"sea\"]} done");
        assert_eq!(reason, None);
        assert_eq!(
            (
                out["city"].clone(),
                out["days"].clone(),
                out["tags"].clone()
            ),
            (json!("Lisbon"), json!(3), json!(["sea"]))
        );
        assert_eq!(
            out["size"],
            json!(""),
            "a missing optional parameter takes its type's zero"
        );
    }

    #[test]
    fn failures_say_why() {
        let x = node(json!({"reasoning_mode": "prompt"})).unwrap();
        assert!(!x.function_call);
        let (out, reason) = x.read("{\"days\": 2}");
        assert_eq!(reason.as_deref(), Some("missing required parameter city"));
        assert_eq!(
            (out["city"].clone(), out["tags"].clone()),
            (json!(""), json!([]))
        );
        let (_, reason) = x.read("no json here");
        assert_eq!(
            reason.as_deref(),
            Some("the model did not answer with parameters")
        );
        let err = node(json!({"parameters": [{"name": "__reason", "type": "string"}]}))
            .err()
            .unwrap();
        assert!(err.contains("reserved"), "{err}");
        let schema = x.schema();
        assert_eq!(schema["required"], json!(["city"]));
        assert_eq!(schema["properties"]["size"]["enum"], json!(["s", "m"]));
        assert_eq!(schema["properties"]["tags"]["items"]["type"], "string");
    }
}
