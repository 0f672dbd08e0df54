//! `list-operator`: filters (conditions on items, or on file attributes for file lists),
//! orders, limits and extracts from an array. Outputs `result`, `first_record`,
//! `last_record`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};
use weir_core::BoxFuture;

use super::conditions::compare;
use super::selector_field;
use crate::graph::NodeDef;
use crate::template;
use crate::value::{as_f64, is_file, navigate, text};
use crate::{Node, NodeCx, NodeError, NodeOutput};

/// Error kind of list-operator failures.
pub const LIST_ERROR: &str = "ListOperatorError";

/// The list-operator node.
pub struct ListOperator {
    variable: Vec<String>,
    filters: Vec<(String, String, Value)>,
    order: Option<(String, bool)>,
    limit: Option<usize>,
    extract: Option<String>,
}

fn enabled(v: Option<&Value>) -> Option<&Value> {
    v.filter(|x| x.get("enabled").and_then(Value::as_bool).unwrap_or(false))
}

impl ListOperator {
    /// Compiles the operations.
    pub fn compile(def: &NodeDef) -> Result<Self, String> {
        let d = &def.data;
        let filters = enabled(d.get("filter_by"))
            .and_then(|f| f.get("conditions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c.get("key")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    c.get("comparison_operator")?.as_str()?.to_owned(),
                    c.get("value").cloned().unwrap_or(Value::Null),
                ))
            })
            .collect();
        let order = enabled(d.get("order_by")).map(|o| {
            (
                o.get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                o.get("value").and_then(Value::as_str) == Some("desc"),
            )
        });
        let limit = enabled(d.get("limit"))
            .and_then(|l| l.get("size"))
            .and_then(Value::as_u64)
            .map(|s| s as usize);
        let extract =
            enabled(d.get("extract_by")).map(|e| e.get("serial").map(text).unwrap_or_default());
        Ok(ListOperator {
            variable: selector_field(d, "variable").ok_or("variable is required")?,
            filters,
            order,
            limit,
            extract,
        })
    }
}

fn attr<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    if key.is_empty() || !(item.is_object()) {
        return Some(item);
    }
    if is_file(item) {
        navigate(item, &[key.to_owned()])
    } else {
        item.get(key)
    }
}

fn cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a.and_then(as_f64), b.and_then(as_f64)) {
        (Some(x), Some(y)) if a.is_some_and(|v| !v.is_string()) => x.total_cmp(&y),
        _ => text(a.unwrap_or(&Value::Null)).cmp(&text(b.unwrap_or(&Value::Null))),
    }
}

impl Node for ListOperator {
    fn run<'a>(&'a self, cx: &'a NodeCx<'a>) -> BoxFuture<'a, Result<NodeOutput, NodeError>> {
        Box::pin(async move {
            let fail = |m: String| NodeError::new(LIST_ERROR, m);
            let mut items = match cx.pool.get(&self.variable) {
                Some(Value::Array(a)) => a,
                None | Some(Value::Null) => Vec::new(),
                Some(other) => return Err(fail(format!("the variable is not an array: {other}"))),
            };
            let inputs = json!({"variable": items});
            for (key, op, value) in &self.filters {
                let expected = match value {
                    Value::String(s) => Value::String(template::render(s, cx.pool)),
                    other => other.clone(),
                };
                let mut kept = Vec::new();
                for item in items {
                    if compare(op, attr(&item, key), &expected).map_err(fail)? {
                        kept.push(item);
                    }
                }
                items = kept;
            }
            if let Some((key, desc)) = &self.order {
                items.sort_by(|a, b| {
                    let o = cmp(attr(a, key), attr(b, key));
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            if let Some(n) = self.limit {
                items.truncate(n);
            }
            if let Some(serial) = &self.extract {
                let n: usize = template::render(serial, cx.pool)
                    .trim()
                    .parse()
                    .map_err(|_| fail(format!("invalid extract serial {serial:?}")))?;
                if n == 0 || n > items.len() {
                    return Err(fail(format!(
                        "extract serial {n} is out of range (1..{})",
                        items.len()
                    )));
                }
                items = vec![items[n - 1].clone()];
            }
            let mut outputs = Map::new();
            outputs.insert(
                "first_record".into(),
                items.first().cloned().unwrap_or(Value::Null),
            );
            outputs.insert(
                "last_record".into(),
                items.last().cloned().unwrap_or(Value::Null),
            );
            outputs.insert("result".into(), Value::Array(items));
            Ok(NodeOutput {
                inputs,
                outputs,
                process_data: json!({}),
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_ordering() {
        let f = json!({"dify_model_identity": "__dify__file__", "filename": "a.pdf", "size": 3});
        assert_eq!(attr(&f, "name"), Some(&json!("a.pdf")));
        assert_eq!(attr(&json!(5), "ignored"), Some(&json!(5)));
        assert_eq!(cmp(Some(&json!(2)), Some(&json!(10))), Ordering::Less);
        assert_eq!(cmp(Some(&json!("b")), Some(&json!("a"))), Ordering::Greater);
    }
}
