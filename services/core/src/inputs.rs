//! Input forms: the variables an app declares (`user_input_form` of a model config, or the
//! start node's `variables`), and the validation of request `inputs` against them, with
//! Dify's error texts.

use serde_json::{Map, Value};

use crate::error::ServiceError;

/// One declared input variable.
#[derive(Clone, Debug, PartialEq)]
pub struct FormField {
    /// Control type: `text-input`, `paragraph`, `select`, `number`, `checkbox`, `file`,
    /// `file-list`, `json_object`, `external_data_tool`.
    pub kind: String,
    /// Variable name.
    pub variable: String,
    /// Label.
    pub label: String,
    /// Required.
    pub required: bool,
    /// Longest text, or most files for `file-list`.
    pub max_length: Option<u64>,
    /// Options of a `select`.
    pub options: Vec<String>,
    /// Default value.
    pub default: Option<Value>,
}

impl FormField {
    fn from_parts(kind: &str, body: &Value) -> Option<FormField> {
        let variable = body.get("variable")?.as_str()?.to_owned();
        Some(FormField {
            kind: kind.to_owned(),
            variable,
            label: body
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            required: body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_length: body.get("max_length").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }),
            options: body
                .get("options")
                .and_then(Value::as_array)
                .map(|o| {
                    o.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            default: body.get("default").filter(|d| !d.is_null()).cloned(),
        })
    }
}

/// Fields of a model config's `user_input_form` (list of one-key mappings).
pub fn fields_from_user_input_form(form: Option<&Value>) -> Vec<FormField> {
    form.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let (kind, body) = item.as_object()?.iter().next()?;
                    FormField::from_parts(kind, body)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Fields of a start node's `variables`.
pub fn fields_from_start_variables(vars: Option<&Value>) -> Vec<FormField> {
    vars.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| {
                    let kind = v
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("text-input");
                    FormField::from_parts(kind, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn python_list(options: &[String]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn strip_nul(s: &str) -> String {
    s.replace('\0', "")
}

/// Validates `inputs` against `fields`. Undeclared keys are dropped; a missing optional
/// input takes its default (or stays absent). Returns the typed values.
pub fn validate(
    fields: &[FormField],
    inputs: &Map<String, Value>,
) -> Result<Map<String, Value>, ServiceError> {
    let mut out = Map::new();
    for f in fields {
        if f.kind == "external_data_tool" {
            continue;
        }
        let name = &f.variable;
        let mut value = inputs.get(name).cloned().unwrap_or(Value::Null);
        // Empty text counts as absent for numbers and required fields.
        let blank = matches!(&value, Value::String(s) if s.is_empty());
        if value.is_null() || (blank && (f.required || f.kind == "number")) {
            if f.required {
                return Err(ServiceError::invalid(format!(
                    "{name} is required in input form"
                )));
            }
            match &f.default {
                Some(d) if !(f.kind == "number" && d.as_str() == Some("")) => value = d.clone(),
                _ => continue,
            }
        }
        let typed = match f.kind.as_str() {
            "text-input" | "paragraph" | "select" => {
                let Value::String(s) = &value else {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a string"
                    )));
                };
                let s = strip_nul(s);
                if f.kind == "select" && !f.options.is_empty() && !f.options.contains(&s) {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be one of the following: {}",
                        python_list(&f.options)
                    )));
                }
                if let Some(max) = f.max_length.filter(|m| *m > 0) {
                    if s.chars().count() as u64 > max {
                        return Err(ServiceError::invalid(format!(
                            "{name} in input form must be less than {max} characters"
                        )));
                    }
                }
                Value::String(s)
            }
            "number" => match &value {
                Value::Number(_) => value.clone(),
                Value::String(s) => {
                    let t = s.trim();
                    if let Ok(i) = t.parse::<i64>() {
                        Value::from(i)
                    } else if let Some(n) =
                        t.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                    {
                        Value::Number(n)
                    } else {
                        return Err(ServiceError::invalid(format!(
                            "{name} in input form must be a valid number"
                        )));
                    }
                }
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a valid number"
                    )))
                }
            },
            "checkbox" => match &value {
                Value::Bool(_) => value.clone(),
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Value::Bool(true),
                    "false" | "0" | "no" | "off" | "" => Value::Bool(false),
                    _ => {
                        return Err(ServiceError::invalid(format!(
                            "{name} in input form must be a boolean"
                        )))
                    }
                },
                Value::Number(n) => Value::Bool(n.as_f64().unwrap_or(0.0) != 0.0),
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a boolean"
                    )))
                }
            },
            "json_object" => match &value {
                Value::Object(_) => value.clone(),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        return Err(ServiceError::invalid(format!(
                            "{name} in input form must be a JSON object"
                        )))
                    }
                },
                _ => {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a JSON object"
                    )))
                }
            },
            "file" => {
                if !value.is_object() {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a file"
                    )));
                }
                value.clone()
            }
            "file-list" => {
                let Value::Array(items) = &value else {
                    return Err(ServiceError::invalid(format!(
                        "{name} in input form must be a list of files"
                    )));
                };
                if let Some(max) = f.max_length.filter(|m| *m > 0) {
                    if items.len() as u64 > max {
                        return Err(ServiceError::invalid(format!(
                            "{name} in input form must be less than {max} files"
                        )));
                    }
                }
                value.clone()
            }
            _ => value.clone(),
        };
        out.insert(name.clone(), typed);
    }
    Ok(out)
}

/// The text form of an input value for templates.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => {
            if *b {
                "true".into()
            } else {
                "false".into()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<FormField> {
        fields_from_user_input_form(Some(&json!([
            {"select": {"label": "Budget", "variable": "budget", "required": true, "options": ["backpacker", "mid-range", "luxury"], "default": "mid-range"}},
            {"text-input": {"label": "Home", "variable": "home_city", "required": false, "max_length": 5, "default": ""}},
            {"number": {"label": "Max", "variable": "max_words", "required": false, "default": "60"}},
            {"checkbox": {"label": "C", "variable": "c", "required": false}},
            {"json_object": {"label": "J", "variable": "j", "required": false}}
        ])))
    }

    fn check(inputs: serde_json::Value) -> Result<Map<String, Value>, String> {
        validate(&fields(), inputs.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let cases: Vec<(serde_json::Value, Result<serde_json::Value, &str>)> = vec![
            (json!({"budget": "luxury"}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 60}))),
            (json!({}), Err("budget is required in input form")),
            (json!({"budget": null}), Err("budget is required in input form")),
            (json!({"budget": 3}), Err("budget in input form must be a string")),
            (json!({"budget": "cheap"}), Err("budget in input form must be one of the following: ['backpacker', 'mid-range', 'luxury']")),
            (json!({"budget": "luxury", "home_city": "Lisbon"}), Err("home_city in input form must be less than 5 characters")),
            (json!({"budget": "luxury", "max_words": "40"}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 40}))),
            (json!({"budget": "luxury", "max_words": 40.5}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 40.5}))),
            (json!({"budget": "luxury", "max_words": ""}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 60}))),
            (json!({"budget": "luxury", "max_words": "lots"}), Err("max_words in input form must be a valid number")),
            (json!({"budget": "luxury", "c": "yes"}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 60, "c": true}))),
            (json!({"budget": "luxury", "j": [1]}), Err("j in input form must be a JSON object")),
            (json!({"budget": "lux\u{0}ury", "extra": "dropped"}), Ok(json!({"budget": "luxury", "home_city": "", "max_words": 60}))),
        ];
        for (input, expected) in cases {
            let got = check(input.clone());
            match expected {
                Ok(v) => assert_eq!(got.map(Value::Object), Ok(v), "{input}"),
                Err(msg) => assert_eq!(got, Err(msg.to_owned()), "{input}"),
            }
        }
    }

    #[test]
    fn start_variables() {
        let f = fields_from_start_variables(Some(
            &json!([{"variable": "text", "label": "T", "type": "paragraph", "required": true, "max_length": 20000, "options": []}]),
        ));
        assert_eq!(f[0].kind, "paragraph");
        assert_eq!(f[0].max_length, Some(20000));
    }
}
