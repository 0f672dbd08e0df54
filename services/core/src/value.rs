//! Values in the variable pool: JSON values, with Dify's text form and type names.

use serde_json::{Map, Value};

/// The marker key of file objects.
pub const FILE_MARKER: &str = "dify_model_identity";
/// The marker value of file objects.
pub const FILE_IDENTITY: &str = "__dify__file__";

/// Whether a value is a file object.
pub fn is_file(v: &Value) -> bool {
    v.get(FILE_MARKER).and_then(Value::as_str) == Some(FILE_IDENTITY)
}

/// The text form of a value in templates: strings as-is, numbers naturally, booleans as
/// `true`/`false`, objects and arrays as compact JSON, null as empty.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Value::Number(n) => number_text(n),
        Value::Object(_) if is_file(v) => v
            .get("url")
            .or_else(|| v.get("remote_url"))
            .and_then(Value::as_str)
            .or_else(|| v.get("filename").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned(),
        other => other.to_string(),
    }
}

/// A number as Dify prints it (integers without a fraction).
pub fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() < 1e15 {
            return format!("{f:.1}");
        }
    }
    n.to_string()
}

/// A number from a value (numbers, numeric strings).
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A JSON number from an f64, kept integral when it is.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// The value type name of a value (`string`, `number`, `array[string]`, …).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "none",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Object(_) if is_file(v) => "file",
        Value::Object(_) => "object",
        Value::Array(items) => {
            if items.is_empty() {
                "array[any]"
            } else if items.iter().all(Value::is_string) {
                "array[string]"
            } else if items.iter().all(Value::is_number) {
                "array[number]"
            } else if items.iter().all(Value::is_boolean) {
                "array[boolean]"
            } else if items.iter().all(is_file) {
                "array[file]"
            } else if items.iter().all(Value::is_object) {
                "array[object]"
            } else {
                "array[any]"
            }
        }
    }
}

/// Navigates into a value: object keys, file attributes.
pub fn navigate<'a>(mut v: &'a Value, path: &[String]) -> Option<&'a Value> {
    for part in path {
        v = match v {
            Value::Object(m) if is_file(v) => match part.as_str() {
                "name" => m.get("filename"),
                "extension" | "mime_type" | "size" | "type" | "transfer_method" | "url"
                | "related_id" => m.get(part),
                other => m.get(other),
            }?,
            Value::Object(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The zero value of a declared type (`clear`, defaults).
pub fn zero_of(value_type: &str) -> Value {
    match value_type.to_ascii_lowercase().as_str() {
        "string" | "secret" | "paragraph" | "text-input" | "select" => Value::String(String::new()),
        "number" | "integer" | "float" => Value::from(0),
        "boolean" => Value::Bool(false),
        "object" => Value::Object(Map::new()),
        t if t.starts_with("array") => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// Parses a declared default (`default_value` items) into its type.
pub fn coerce(value_type: &str, v: &Value) -> Value {
    let t = value_type.to_ascii_lowercase();
    match (&*t, v) {
        ("string", Value::String(_)) => v.clone(),
        ("string", other) => Value::String(text(other)),
        ("number", Value::String(s)) => s.trim().parse::<f64>().map(number).unwrap_or(Value::Null),
        ("boolean", Value::String(s)) => Value::Bool(matches!(s.as_str(), "true" | "1" | "True")),
        (t, Value::String(s)) if t == "object" || t.starts_with("array") => {
            serde_json::from_str(s).unwrap_or_else(|_| zero_of(t))
        }
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_forms() {
        assert_eq!(text(&json!("a")), "a");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!(2.5)), "2.5");
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(text(&json!(null)), "");
        assert_eq!(text(&json!(["a", "b"])), "[\"a\",\"b\"]");
    }

    #[test]
    fn types_and_navigation() {
        assert_eq!(type_name(&json!(["a"])), "array[string]");
        assert_eq!(type_name(&json!([{"a": 1}])), "array[object]");
        let v = json!({"a": {"b": 1}});
        assert_eq!(navigate(&v, &["a".into(), "b".into()]), Some(&json!(1)));
        assert_eq!(navigate(&v, &["x".into()]), None);
        let file = json!({"dify_model_identity": "__dify__file__", "filename": "a.png", "size": 3});
        assert_eq!(navigate(&file, &["name".into()]), Some(&json!("a.png")));
        assert_eq!(coerce("number", &json!("4")), json!(4));
        assert_eq!(coerce("array[number]", &json!("[1,2]")), json!([1, 2]));
    }
}
