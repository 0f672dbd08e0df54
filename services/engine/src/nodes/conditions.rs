//! Conditions (if-else cases, loop break conditions, list-operator filters): Dify's
//! comparison operators over pool values.

use serde_json::{json, Value};

use crate::pool::{selector, Pool};
use crate::template;
use crate::value::{as_f64, is_file, navigate, text};

/// Conditions over file attributes: `and` (true) or `or`, and (key, operator, value).
pub type SubConditions = (bool, Vec<(String, String, Value)>);

/// One condition.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The variable compared.
    pub selector: Vec<String>,
    /// The operator (exact Dify spelling).
    pub operator: String,
    /// The expected value (templates rendered at run time).
    pub value: Value,
    /// Conditions over file attributes, for file arrays.
    pub sub: Option<SubConditions>,
    /// As declared (for process data).
    pub raw: Value,
}

/// `and`/`or` over conditions.
#[derive(Clone, Debug)]
pub struct Group {
    /// `true` for `and`.
    pub all: bool,
    /// The conditions.
    pub conditions: Vec<Condition>,
}

fn parse_sub(v: Option<&Value>) -> Option<SubConditions> {
    let v = v?.as_object()?;
    let all = v.get("logical_operator").and_then(Value::as_str) != Some("or");
    let conds = v
        .get("conditions")?
        .as_array()?
        .iter()
        .filter_map(|c| {
            Some((
                c.get("key")?.as_str()?.to_owned(),
                c.get("comparison_operator")?.as_str()?.to_owned(),
                c.get("value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect();
    Some((all, conds))
}

/// Parses a list of conditions.
pub fn parse_conditions(v: Option<&Value>) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for c in v.and_then(Value::as_array).into_iter().flatten() {
        let sel = c
            .get("variable_selector")
            .and_then(selector)
            .ok_or("a condition has no variable_selector")?;
        let operator = c
            .get("comparison_operator")
            .and_then(Value::as_str)
            .ok_or("a condition has no comparison_operator")?
            .to_owned();
        // Legacy: value_type `value_selector` compares with another variable.
        let value = if c.get("value_type").and_then(Value::as_str) == Some("value_selector") {
            c.get("value_selector")
                .map(|s| json!({"__selector": s}))
                .unwrap_or(Value::Null)
        } else {
            c.get("value").cloned().unwrap_or(Value::Null)
        };
        out.push(Condition {
            selector: sel,
            operator,
            value,
            sub: parse_sub(c.get("sub_variable_condition")),
            raw: json!({"variable_selector": c.get("variable_selector"), "comparison_operator": c.get("comparison_operator"),
                "value": c.get("value"), "sub_variable_condition": c.get("sub_variable_condition")}),
        });
    }
    Ok(out)
}

/// The expected value with templates rendered.
fn expected(v: &Value, pool: &Pool) -> Value {
    match v {
        Value::String(s) => Value::String(template::render(s, pool)),
        Value::Array(items) => Value::Array(items.iter().map(|i| expected(i, pool)).collect()),
        Value::Object(m) if m.contains_key("__selector") => m
            .get("__selector")
            .and_then(selector)
            .and_then(|s| pool.get(&s))
            .unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Bool(b)) => !b,
    }
}

fn list_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => s
                .split(',')
                .map(|x| Value::String(x.trim().to_owned()))
                .collect(),
        },
        other => vec![other.clone()],
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(&x.to_string())
        }
        (Value::Number(_), _) | (_, Value::Number(_)) => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x == y,
            _ => text(a) == text(b),
        },
        _ => text(a) == text(b),
    }
}

/// Compares an actual value with an expected one. `Err` when the operator does not apply.
pub fn compare(operator: &str, actual: Option<&Value>, expected: &Value) -> Result<bool, String> {
    let need = || actual.ok_or_else(|| "Variable not found".to_owned());
    let num =
        |v: &Value| as_f64(v).ok_or_else(|| format!("cannot compare {} as a number", text(v)));
    Ok(match operator {
        "empty" => is_empty(actual),
        "not empty" => !is_empty(actual),
        "null" => matches!(actual, None | Some(Value::Null)),
        "not null" => !matches!(actual, None | Some(Value::Null)),
        "exists" => !matches!(actual, None | Some(Value::Null)),
        "not exists" => matches!(actual, None | Some(Value::Null)),
        "contains" | "not contains" => {
            let a = need()?;
            let hit = match a {
                Value::Array(items) => items.iter().any(|i| same(i, expected)),
                Value::Null => false,
                other => text(other).contains(&text(expected)),
            };
            if operator == "contains" {
                hit
            } else {
                !hit
            }
        }
        "start with" => text(need()?).starts_with(&text(expected)),
        "end with" => text(need()?).ends_with(&text(expected)),
        "is" => same(need()?, expected),
        "is not" => !same(need()?, expected),
        "in" => list_of(expected)
            .iter()
            .any(|e| same(e, need().unwrap_or(&Value::Null))),
        "not in" => !list_of(expected)
            .iter()
            .any(|e| same(e, need().unwrap_or(&Value::Null))),
        "all of" => {
            let a = need()?;
            let have = list_of(a);
            list_of(expected)
                .iter()
                .all(|e| have.iter().any(|h| same(h, e)))
        }
        "=" => num(need()?)? == num(expected)?,
        "≠" | "!=" => num(need()?)? != num(expected)?,
        ">" => num(need()?)? > num(expected)?,
        "<" => num(need()?)? < num(expected)?,
        "≥" | ">=" => num(need()?)? >= num(expected)?,
        "≤" | "<=" => num(need()?)? <= num(expected)?,
        other => return Err(format!("unknown comparison operator {other:?}")),
    })
}

/// The outcome of one condition, for `inputs.conditions`.
pub struct Evaluated {
    /// Whether it held.
    pub result: bool,
    /// `{actual_value, expected_value, comparison_operator}`.
    pub record: Value,
}

/// Evaluates one condition against a pool.
pub fn evaluate(c: &Condition, pool: &Pool) -> Result<Evaluated, String> {
    let actual = pool.get(&c.selector);
    let exp = expected(&c.value, pool);
    let result = match (&c.sub, &actual) {
        (Some((all, subs)), Some(Value::Array(files)))
            if c.operator == "contains"
                || c.operator == "not contains"
                || c.operator == "all of" =>
        {
            let matches = |f: &Value| -> Result<bool, String> {
                let mut rs = Vec::new();
                for (key, op, v) in subs {
                    let attr = if is_file(f) {
                        navigate(f, std::slice::from_ref(key)).cloned()
                    } else {
                        f.get(key).cloned()
                    };
                    rs.push(compare(op, attr.as_ref(), &expected(v, pool))?);
                }
                Ok(if *all {
                    rs.iter().all(|x| *x)
                } else {
                    rs.iter().any(|x| *x)
                })
            };
            let mut any = false;
            let mut every = true;
            for f in files {
                let m = matches(f)?;
                any |= m;
                every &= m;
            }
            match c.operator.as_str() {
                "contains" => any,
                "not contains" => !any,
                _ => every,
            }
        }
        _ => compare(&c.operator, actual.as_ref(), &exp)?,
    };
    Ok(Evaluated {
        result,
        record: json!({"actual_value": actual, "expected_value": exp, "comparison_operator": c.operator}),
    })
}

/// Evaluates a group with short-circuit; returns (result, per-condition results, records).
pub fn evaluate_group(g: &Group, pool: &Pool) -> Result<(bool, Vec<bool>, Vec<Value>), String> {
    let mut results = Vec::new();
    let mut records = Vec::new();
    for c in &g.conditions {
        let e = evaluate(c, pool)?;
        results.push(e.result);
        records.push(e.record);
        if g.all && !e.result {
            return Ok((false, results, records));
        }
        if !g.all && e.result {
            return Ok((true, results, records));
        }
    }
    Ok((g.all, results, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_table() {
        let cases: Vec<(&str, Option<Value>, Value, bool)> = vec![
            (
                "contains",
                Some(json!("I want a refund")),
                json!("refund"),
                true,
            ),
            ("contains", Some(json!(["a", "b"])), json!("b"), true),
            ("not contains", Some(json!("hello")), json!("x"), true),
            ("start with", Some(json!("hello")), json!("he"), true),
            ("end with", Some(json!("hello")), json!("lo"), true),
            ("is", Some(json!("a")), json!("a"), true),
            ("is", Some(json!(true)), json!("true"), true),
            ("is not", Some(json!("a")), json!("b"), true),
            ("empty", Some(json!("")), json!(null), true),
            ("empty", Some(json!([])), json!(null), true),
            ("empty", None, json!(null), true),
            ("not empty", Some(json!("x")), json!(null), true),
            ("in", Some(json!("b")), json!(["a", "b"]), true),
            ("not in", Some(json!("c")), json!(["a", "b"]), true),
            (
                "all of",
                Some(json!(["a", "b", "c"])),
                json!(["a", "c"]),
                true,
            ),
            ("all of", Some(json!(["a"])), json!(["a", "c"]), false),
            ("=", Some(json!(3)), json!("3"), true),
            ("≠", Some(json!(3)), json!("4"), true),
            (">", Some(json!(5)), json!("4"), true),
            ("<", Some(json!(2.5)), json!(3), true),
            ("≥", Some(json!(8)), json!("8"), true),
            ("≤", Some(json!(7)), json!("8"), true),
            ("≥", Some(json!(1)), json!("8"), false),
            ("null", None, json!(null), true),
            ("not null", Some(json!(0)), json!(null), true),
            ("exists", Some(json!({"a": 1})), json!(null), true),
            ("not exists", None, json!(null), true),
        ];
        for (op, actual, expected, want) in cases {
            assert_eq!(
                compare(op, actual.as_ref(), &expected),
                Ok(want),
                "{op} {actual:?} {expected}"
            );
        }
        assert!(
            compare("contains", None, &json!("x")).is_err(),
            "missing variable"
        );
        assert!(compare(">", Some(&json!("abc")), &json!(1)).is_err());
        assert!(compare("~=", Some(&json!(1)), &json!(1)).is_err());
    }

    #[test]
    fn templates_in_expected_values_and_groups() {
        let pool = Pool::new();
        pool.set("sys", "query", json!("refund please"));
        pool.set("n", "word", json!("refund"));
        let conds = parse_conditions(Some(&json!([
            {"variable_selector": ["sys", "query"], "comparison_operator": "contains", "value": "nothing"},
            {"variable_selector": ["sys", "query"], "comparison_operator": "contains", "value": "{{#n.word#}}"}
        ])))
        .unwrap();
        let (r, results, _) = evaluate_group(
            &Group {
                all: false,
                conditions: conds.clone(),
            },
            &pool,
        )
        .unwrap();
        assert!(r);
        assert_eq!(results, vec![false, true]);
        let (r, results, _) = evaluate_group(
            &Group {
                all: true,
                conditions: conds,
            },
            &pool,
        )
        .unwrap();
        assert!(!r);
        assert_eq!(results, vec![false], "and short-circuits");
    }

    #[test]
    fn file_arrays_use_sub_conditions() {
        let pool = Pool::new();
        pool.set("sys", "files", json!([{"dify_model_identity": "__dify__file__", "type": "image", "extension": ".png"}]));
        let c = parse_conditions(Some(&json!([{"variable_selector": ["sys", "files"], "comparison_operator": "contains",
            "sub_variable_condition": {"logical_operator": "and", "conditions": [{"key": "type", "comparison_operator": "is", "value": "image"}]}}]))).unwrap();
        assert!(evaluate(&c[0], &pool).unwrap().result);
    }
}
