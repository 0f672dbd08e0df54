//! Keyword moderation: a query or input containing a keyword (case-insensitive) is answered
//! with the preset response; an answer containing one is replaced by the output preset.

use serde_json::{Map, Value};

use super::config::KeywordModeration;
use weir_core::inputs::text_of;

fn hits(keywords: &[String], text: &str) -> bool {
    let lower = text.to_lowercase();
    keywords
        .iter()
        .any(|k| !k.is_empty() && lower.contains(&k.to_lowercase()))
}

/// The preset answer when the inputs or query are flagged.
pub fn check_inputs(
    m: &KeywordModeration,
    inputs: &Map<String, Value>,
    query: &str,
) -> Option<String> {
    if !m.inputs_enabled {
        return None;
    }
    let flagged =
        hits(&m.keywords, query) || inputs.values().any(|v| hits(&m.keywords, &text_of(v)));
    flagged.then(|| m.inputs_preset.clone())
}

/// The replacement when the answer is flagged.
pub fn check_output(m: &KeywordModeration, answer: &str) -> Option<String> {
    (m.outputs_enabled && hits(&m.keywords, answer)).then(|| m.outputs_preset.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> KeywordModeration {
        KeywordModeration {
            keywords: vec!["password".into(), "credit card number".into()],
            inputs_enabled: true,
            inputs_preset: "Sorry.".into(),
            outputs_enabled: true,
            outputs_preset: "Hidden.".into(),
        }
    }

    #[test]
    fn keywords() {
        assert_eq!(
            check_inputs(&m(), &Map::new(), "What is my PASSWORD?"),
            Some("Sorry.".into())
        );
        let mut inputs = Map::new();
        inputs.insert("x".into(), "my credit card number is".into());
        assert_eq!(check_inputs(&m(), &inputs, "hi"), Some("Sorry.".into()));
        assert_eq!(check_inputs(&m(), &Map::new(), "hello"), None);
        assert_eq!(check_output(&m(), "your password"), Some("Hidden.".into()));
    }
}
