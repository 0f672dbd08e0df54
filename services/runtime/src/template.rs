//! Easy-UI prompt templates: `{{name}}` references to form inputs (name = a letter or `_`,
//! then up to 29 letters, digits or `_`). Unknown names stay as written; inserted values
//! cannot smuggle in references of their own (their braces are reduced).

use std::collections::HashMap;

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 30
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Makes an inserted value inert: `{{`/`}}` become single braces.
fn defuse(value: &str) -> String {
    value.replace("{{", "{").replace("}}", "}")
}

/// Replaces `{{name}}` with `values[name]`; special `{{#…#}}` tokens and unknown names are
/// left alone.
pub fn substitute(template: &str, values: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if is_name(&after[..end]) => {
                let name = &after[..end];
                match values.get(name) {
                    Some(v) => out.push_str(&defuse(v)),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Replaces a special token (`{{#context#}}`, `{{#query#}}`, `{{#histories#}}`).
pub fn replace_special(template: &str, token: &str, value: &str) -> String {
    template.replace(&format!("{{{{#{token}#}}}}"), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_known_names_only() {
        let v = vals(&[("budget", "luxury"), ("home_city", "Lisbon")]);
        assert_eq!(
            substitute(
                "Budget {{budget}}, from {{home_city}}, {{unknown}} {{#context#}} {{ spaced }}",
                &v
            ),
            "Budget luxury, from Lisbon, {{unknown}} {{#context#}} {{ spaced }}"
        );
    }

    #[test]
    fn values_cannot_inject_references() {
        let v = vals(&[("a", "{{b}}"), ("b", "secret")]);
        assert_eq!(substitute("{{a}}", &v), "{b}");
    }

    #[test]
    fn specials() {
        assert_eq!(replace_special("x {{#query#}} y", "query", "Q"), "x Q y");
    }
}
