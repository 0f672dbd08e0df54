//! `code`: runs `main` of the node's Python 3 or JavaScript in a sandbox and checks what it
//! returns against the declared outputs (type, size and depth limits as Dify's defaults).

use serde_json::{Map, Value};
use weir_core::BoxFuture;

use super::variable_list;
use crate::graph::NodeDef;
use crate::value::type_name;
use crate::{Node, NodeCx, NodeError, NodeOutput};
use weir_core::code::Language;

/// Error kind of code failures.
pub const CODE_ERROR: &str = "CodeNodeError";
/// Longest string output.
pub const MAX_STRING: usize = 80_000;
/// Most items of a string or object array.
pub const MAX_ARRAY: usize = 30;
/// Most items of a number array.
pub const MAX_NUMBER_ARRAY: usize = 1000;
/// Deepest nesting of an object output.
pub const MAX_DEPTH: usize = 5;

/// The code node.
pub struct Code {
    language: Language,
    code: String,
    variables: Vec<(String, Vec<String>)>,
    outputs: Vec<(String, String)>,
}

impl Code {
    /// Compiles language, code, variables and declared outputs.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let lang = def.str("code_language");
        let language =
            Language::parse(lang).ok_or_else(|| format!("unsupported code language {lang:?}"))?;
        let outputs = def
            .data
            .get("outputs")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("string")
                                .to_ascii_lowercase(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Code {
            language,
            code: def.str("code").to_owned(),
            variables: variable_list(def.data.get("variables")),
            outputs,
        })
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks one output value against its declared type.
pub fn check_output(name: &str, declared: &str, v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    let bad = || format!("Output {name} must be a {declared}, got {}", type_name(v));
    let ok = match declared {
        "string" => v
            .as_str()
            .map(|s| s.chars().count() <= MAX_STRING)
            .ok_or_else(bad)?,
        "number" => v
            .as_f64()
            .map(|f| f.abs() <= 9.223_372_036_854_776e18)
            .ok_or_else(bad)?,
        "boolean" => {
            if !v.is_boolean() {
                return Err(bad());
            }
            true
        }
        "object" => {
            if !v.is_object() || depth(v) > MAX_DEPTH {
                return Err(bad());
            }
            true
        }
        t if t.starts_with("array") => {
            let Value::Array(items) = v else {
                return Err(bad());
            };
            let inner = &t[5..].trim_matches(|c| c == '[' || c == ']');
            let fits = items.iter().all(|i| {
                i.is_null()
                    || match *inner {
                        "string" => i.is_string(),
                        "number" => i.is_number(),
                        "boolean" => i.is_boolean(),
                        "object" => i.is_object(),
                        _ => true,
                    }
            });
            if !fits {
                return Err(bad());
            }
            let limit = if *inner == "number" {
                MAX_NUMBER_ARRAY
            } else {
                MAX_ARRAY
            };
            if items.len() > limit {
                return Err(format!(
                    "Output {name} has {} items, more than {limit}",
                    items.len()
                ));
            }
            true
        }
        _ => true,
    };
    if !ok {
        return Err(format!("Output {name} is too large"));
    }
    Ok(())
}

impl Node for Code {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut inputs = Map::new();
            for (name, sel) in &self.variables {
                inputs.insert(name.clone(), cx.pool.get(sel).unwrap_or(Value::Null));
            }
            let fail = |m: String| {
                NodeError::new(CODE_ERROR, m).with_inputs(Value::Object(inputs.clone()))
            };
            let result = cx
                .run
                .env
                .code
                .run(self.language, &self.code, &inputs)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let Value::Object(result) = result else {
                return Err(fail("main must return an object".into()));
            };
            let mut outputs = Map::new();
            for (name, declared) in &self.outputs {
                let v = result
                    .get(name)
                    .cloned()
                    .ok_or_else(|| fail(format!("Output {name} is missing")))?;
                check_output(name, declared, &v).map_err(fail)?;
                outputs.insert(name.clone(), v);
            }
            Ok(NodeOutput {
                inputs: Value::Object(inputs),
                process_data: Value::Object(Map::new()),
                outputs,
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_checks() {
        assert!(check_output("a", "string", &json!("x")).is_ok());
        assert!(check_output("a", "string", &json!(1)).is_err());
        assert!(check_output("a", "number", &json!(1.5)).is_ok());
        assert!(check_output("a", "boolean", &json!(true)).is_ok());
        assert!(check_output("a", "array[number]", &json!([1, 2])).is_ok());
        assert!(check_output("a", "array[number]", &json!(["x"])).is_err());
        assert!(check_output("a", "array[string]", &json!(vec!["x"; 31])).is_err());
        assert!(check_output(
            "a",
            "object",
            &json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}})
        )
        .is_err());
        assert!(check_output("a", "object", &json!({"a": 1})).is_ok());
        assert!(check_output("a", "string", &Value::Null).is_ok());
        assert!(check_output("a", "string", &json!("x".repeat(MAX_STRING + 1))).is_err());
    }
}
