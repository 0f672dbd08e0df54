//! `assigner` (variable assigner): writes conversation variables (or loop variables).
//! Version 2: `items` with operations over-write, clear, append, extend, set, +=, -=, *=,
//! /=, remove-first, remove-last. Version 1: one `write_mode` (over-write, append, clear).
//! Writes land in the pool at once; the run persists conversation variables when it ends.

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use crate::graph::NodeDef;
use crate::pool::selector;
use crate::value::{as_f64, number, type_name, zero_of};
use crate::{Node, NodeCx, NodeError, NodeOutput};

#[derive(Clone, Debug)]
enum Input {
    Variable(Vec<String>),
    Constant(Value),
    None,
}

#[derive(Clone, Debug)]
struct Item {
    target: Vec<String>,
    operation: String,
    input: Input,
}

/// The assigner node.
pub struct Assigner {
    items: Vec<Item>,
    raw: Value,
}

impl Assigner {
    /// Compiles either version.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let version2 =
            d.get("version").and_then(Value::as_str) == Some("2") || d.get("items").is_some();
        let items = if version2 {
            d.get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    let target = i
                        .get("variable_selector")
                        .and_then(selector)
                        .ok_or("an item has no variable_selector")?;
                    let operation = i
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("over-write")
                        .to_owned();
                    let input = match i.get("input_type").and_then(Value::as_str) {
                        Some("variable") => i
                            .get("value")
                            .and_then(selector)
                            .map(Input::Variable)
                            .unwrap_or(Input::None),
                        _ => i
                            .get("value")
                            .cloned()
                            .map(Input::Constant)
                            .unwrap_or(Input::None),
                    };
                    Ok(Item {
                        target,
                        operation,
                        input,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?
        } else {
            let target = d
                .get("assigned_variable_selector")
                .and_then(selector)
                .ok_or("no assigned_variable_selector")?;
            let operation = d
                .get("write_mode")
                .and_then(Value::as_str)
                .unwrap_or("over-write")
                .to_owned();
            let input = d
                .get("input_variable_selector")
                .and_then(selector)
                .map(Input::Variable)
                .unwrap_or(Input::None);
            vec![Item {
                target,
                operation,
                input,
            }]
        };
        for i in &items {
            if !KNOWN_OPERATIONS.contains(&i.operation.as_str()) {
                return Err(format!("unknown operation {:?}", i.operation));
            }
        }
        Ok(Assigner {
            items,
            raw: def.data.clone(),
        })
    }
}

/// Every write mode.
pub const KNOWN_OPERATIONS: [&str; 11] = [
    "over-write",
    "clear",
    "append",
    "extend",
    "set",
    "+=",
    "-=",
    "*=",
    "/=",
    "remove-first",
    "remove-last",
];

/// Applies one operation to a current value.
pub fn apply(
    operation: &str,
    current: &Value,
    declared: &str,
    input: Option<&Value>,
) -> Result<Value, String> {
    let need = || {
        input
            .cloned()
            .ok_or_else(|| format!("{operation} needs a value"))
    };
    match operation {
        "over-write" | "set" => need(),
        "clear" => Ok(zero_of(if declared.is_empty() {
            type_name(current)
        } else {
            declared
        })),
        "append" => match current {
            Value::Array(a) => {
                let mut a = a.clone();
                a.push(need()?);
                Ok(Value::Array(a))
            }
            _ => Err("append needs an array variable".into()),
        },
        "extend" => match (current, need()?) {
            (Value::Array(a), Value::Array(more)) => {
                let mut a = a.clone();
                a.extend(more);
                Ok(Value::Array(a))
            }
            _ => Err("extend needs an array variable and an array value".into()),
        },
        "+=" | "-=" | "*=" | "/=" => {
            let a = as_f64(current)
                .filter(|_| current.is_number())
                .ok_or("arithmetic needs a number variable")?;
            let v = need()?;
            let b = as_f64(&v).ok_or("arithmetic needs a number value")?;
            let r = match operation {
                "+=" => a + b,
                "-=" => a - b,
                "*=" => a * b,
                _ => {
                    if b == 0.0 {
                        return Err("division by zero".into());
                    }
                    a / b
                }
            };
            Ok(number(r))
        }
        "remove-first" | "remove-last" => match current {
            Value::Array(a) => {
                let mut a = a.clone();
                if !a.is_empty() {
                    if operation == "remove-first" {
                        a.remove(0);
                    } else {
                        a.pop();
                    }
                }
                Ok(Value::Array(a))
            }
            _ => Err(format!("{operation} needs an array variable")),
        },
        other => Err(format!("unknown operation {other:?}")),
    }
}

impl Node for Assigner {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let mut process = Map::new();
            let mut updated = Vec::new();
            for item in &self.items {
                let current = cx.pool.get(&item.target).unwrap_or(Value::Null);
                let declared = cx
                    .run
                    .workflow
                    .conversation
                    .iter()
                    .find(|d| item.target[0] == "conversation" && d.name == item.target[1])
                    .map(|d| d.value_type.clone())
                    .unwrap_or_default();
                let input = match &item.input {
                    Input::Variable(sel) => cx.pool.get(sel),
                    Input::Constant(v) => Some(v.clone()),
                    Input::None => None,
                };
                let new =
                    apply(&item.operation, &current, &declared, input.as_ref()).map_err(|e| {
                        NodeError::new("VariableOperatorNodeError", e).with_inputs(self.raw.clone())
                    })?;
                cx.pool.set(&item.target[0], &item.target[1], new.clone());
                let name = item.target[1].clone();
                let value_type = if new.is_i64() {
                    "integer"
                } else {
                    type_name(&new)
                };
                updated.push(json!({"name": name, "selector": item.target, "value_type": value_type, "new_value": new}));
                process.insert(name, new);
            }
            process.insert("__updated_variables".into(), Value::Array(updated));
            Ok(NodeOutput {
                inputs: self.raw.clone(),
                process_data: Value::Object(process),
                outputs: Map::new(),
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operation, current value, type, operand, expected result.
    type Case = (
        &'static str,
        Value,
        &'static str,
        Option<Value>,
        Result<Value, ()>,
    );

    #[test]
    fn write_modes() {
        let cases: Vec<Case> = vec![
            (
                "over-write",
                json!("a"),
                "string",
                Some(json!("b")),
                Ok(json!("b")),
            ),
            ("set", json!(1), "number", Some(json!(5)), Ok(json!(5))),
            ("clear", json!("a"), "string", None, Ok(json!(""))),
            ("clear", json!([1]), "array[number]", None, Ok(json!([]))),
            ("clear", json!({"a": 1}), "object", None, Ok(json!({}))),
            ("clear", json!(true), "boolean", None, Ok(json!(false))),
            ("clear", json!(7), "", None, Ok(json!(0))),
            (
                "append",
                json!(["a"]),
                "array[string]",
                Some(json!("b")),
                Ok(json!(["a", "b"])),
            ),
            ("append", json!("a"), "string", Some(json!("b")), Err(())),
            (
                "extend",
                json!([1]),
                "array[number]",
                Some(json!([2, 3])),
                Ok(json!([1, 2, 3])),
            ),
            (
                "extend",
                json!([1]),
                "array[number]",
                Some(json!(2)),
                Err(()),
            ),
            ("+=", json!(1), "number", Some(json!(1)), Ok(json!(2))),
            ("-=", json!(5), "number", Some(json!(2)), Ok(json!(3))),
            ("*=", json!(1.5), "number", Some(json!(2)), Ok(json!(3))),
            ("/=", json!(5), "number", Some(json!(2)), Ok(json!(2.5))),
            ("/=", json!(5), "number", Some(json!(0)), Err(())),
            ("+=", json!("x"), "string", Some(json!(1)), Err(())),
            (
                "remove-first",
                json!([1, 2]),
                "array[number]",
                None,
                Ok(json!([2])),
            ),
            (
                "remove-last",
                json!([1, 2]),
                "array[number]",
                None,
                Ok(json!([1])),
            ),
            (
                "remove-last",
                json!([]),
                "array[number]",
                None,
                Ok(json!([])),
            ),
            ("over-write", json!(1), "number", None, Err(())),
        ];
        for (op, cur, t, input, want) in cases {
            let got = apply(op, &cur, t, input.as_ref()).map_err(|_| ());
            assert_eq!(got, want, "{op} {cur} {input:?}");
        }
    }
}
