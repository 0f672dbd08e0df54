//! Cleaning and chunking document text by Dify's process rules: `automatic` (a recursive
//! splitter merging pieces up to 500 tokens with 50 of overlap), `custom` (split on a fixed
//! separator, pieces over `max_tokens` split recursively) and `hierarchical` (parents by
//! paragraph or the full document, children by the sub-chunk rule). Lengths are tokens of
//! the cl100k tokenizer.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::KnowledgeError;

/// The separators the recursive splitter tries, in order.
pub const RECURSIVE_SEPARATORS: [&str; 5] = ["\n\n", "。", ". ", " ", ""];
/// `automatic` chunk size, tokens.
pub const AUTOMATIC_MAX_TOKENS: usize = 500;
/// `automatic` overlap, tokens.
pub const AUTOMATIC_OVERLAP: usize = 50;
/// Smallest `max_tokens` of a custom rule.
pub const MIN_SEGMENT_TOKENS: usize = 50;

/// The tokenizer's count of `text`.
pub fn tokens(text: &str) -> usize {
    static BPE: OnceLock<tiktoken_rs::CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the embedded cl100k tables load"))
        .encode_ordinary(text)
        .len()
}

/// Token counts of texts, counted on the blocking pool (whole documents take a while).
pub async fn tokens_off_thread(texts: Vec<String>) -> Vec<i64> {
    tokio::task::spawn_blocking(move || texts.iter().map(|t| tokens(t) as i64).collect())
        .await
        .unwrap_or_default()
}

/// A segmentation rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    /// Fixed separator (custom rules); empty for the automatic splitter.
    pub separator: String,
    /// Largest chunk, tokens.
    pub max_tokens: usize,
    /// Overlap between chunks split from one piece, tokens.
    pub overlap: usize,
}

/// A validated process rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRule {
    /// `automatic`, `custom` or `hierarchical`.
    pub mode: String,
    /// Collapse blank runs.
    pub remove_extra_spaces: bool,
    /// Delete URLs and e-mail addresses.
    pub remove_urls_emails: bool,
    /// The (parent) segmentation.
    pub segmentation: Segmentation,
    /// Hierarchical: `paragraph` or `full-doc`.
    pub parent_mode: Option<String>,
    /// Hierarchical: the children's segmentation.
    pub subchunk: Option<Segmentation>,
}

impl ProcessRule {
    /// Dify's automatic rule.
    pub fn automatic() -> ProcessRule {
        ProcessRule {
            mode: "automatic".into(),
            remove_extra_spaces: true,
            remove_urls_emails: false,
            segmentation: Segmentation {
                separator: String::new(),
                max_tokens: AUTOMATIC_MAX_TOKENS,
                overlap: AUTOMATIC_OVERLAP,
            },
            parent_mode: None,
            subchunk: None,
        }
    }

    /// The stored `rules` object (the automatic rule keeps Dify's `delimiter` key).
    pub fn rules_json(&self) -> Value {
        let seg = |s: &Segmentation| json!({"separator": s.separator, "max_tokens": s.max_tokens, "chunk_overlap": s.overlap});
        let pre = json!([
            {"id": "remove_extra_spaces", "enabled": self.remove_extra_spaces},
            {"id": "remove_urls_emails", "enabled": self.remove_urls_emails},
        ]);
        if self.mode == "automatic" {
            return json!({"pre_processing_rules": pre,
                "segmentation": {"delimiter": "\n", "max_tokens": AUTOMATIC_MAX_TOKENS, "chunk_overlap": AUTOMATIC_OVERLAP}});
        }
        let mut rules =
            json!({"pre_processing_rules": pre, "segmentation": seg(&self.segmentation)});
        if let Some(pm) = &self.parent_mode {
            rules["parent_mode"] = pm.clone().into();
        }
        if let Some(sub) = &self.subchunk {
            rules["subchunk_segmentation"] = seg(sub);
        }
        rules
    }

    /// Validates a request's `process_rule` object (Dify's messages).
    pub fn parse(v: &Value) -> Result<ProcessRule, KnowledgeError> {
        let invalid = |m: &str| KnowledgeError::invalid(m.to_owned());
        let mode = match v.get("mode").and_then(Value::as_str) {
            Some(m @ ("automatic" | "custom" | "hierarchical")) => m.to_owned(),
            Some(_) => return Err(invalid("Process rule mode is invalid")),
            None => return Err(invalid("Process rule mode is required")),
        };
        if mode == "automatic" {
            return Ok(ProcessRule::automatic());
        }
        let rules = v
            .get("rules")
            .filter(|r| r.is_object())
            .ok_or_else(|| invalid("Process rule rules is required"))?;
        let pre = rules
            .get("pre_processing_rules")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Process rule pre_processing_rules is required"))?;
        let (mut spaces, mut urls) = (false, false);
        for r in pre {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Process rule pre_processing_rules id is required"))?;
            let enabled = r
                .get("enabled")
                .and_then(Value::as_bool)
                .ok_or_else(|| invalid("Process rule pre_processing_rules enabled is invalid"))?;
            match id {
                "remove_extra_spaces" => spaces = enabled,
                "remove_urls_emails" => urls = enabled,
                _ => {}
            }
        }
        let parent_mode = (mode == "hierarchical").then(|| {
            rules
                .get("parent_mode")
                .and_then(Value::as_str)
                .unwrap_or("paragraph")
                .to_owned()
        });
        let full_doc = parent_mode.as_deref() == Some("full-doc");
        let segmentation =
            parse_segmentation(rules.get("segmentation"), !full_doc, "segmentation")?;
        let subchunk = if mode == "hierarchical" {
            Some(parse_segmentation(
                rules.get("subchunk_segmentation"),
                true,
                "subchunk_segmentation",
            )?)
        } else {
            None
        };
        Ok(ProcessRule {
            mode,
            remove_extra_spaces: spaces,
            remove_urls_emails: urls,
            segmentation,
            parent_mode,
            subchunk,
        })
    }

    /// Reads a stored rule back.
    pub fn from_stored(mode: &str, rules: &Value) -> ProcessRule {
        if mode == "automatic" {
            return ProcessRule::automatic();
        }
        ProcessRule::parse(&json!({"mode": mode, "rules": rules}))
            .unwrap_or_else(|_| ProcessRule::automatic())
    }

    /// The range check Dify runs at indexing time.
    pub fn check_lengths(&self, max: usize) -> Result<(), String> {
        let bad = |s: &Segmentation| s.max_tokens < MIN_SEGMENT_TOKENS || s.max_tokens > max;
        let parent_checked = self.parent_mode.as_deref() != Some("full-doc");
        if (parent_checked && bad(&self.segmentation)) || self.subchunk.as_ref().is_some_and(bad) {
            return Err(format!(
                "Custom segment length should be between {MIN_SEGMENT_TOKENS} and {max}."
            ));
        }
        Ok(())
    }
}

fn parse_segmentation(
    v: Option<&Value>,
    needs_max: bool,
    key: &str,
) -> Result<Segmentation, KnowledgeError> {
    let invalid = |m: String| KnowledgeError::invalid(m);
    let label = if key == "segmentation" {
        "segmentation"
    } else {
        "subchunk_segmentation"
    };
    let seg = v
        .filter(|s| s.is_object())
        .ok_or_else(|| invalid(format!("Process rule {label} is required")))?;
    let separator = match seg.get("separator") {
        None => "\n".to_owned(),
        Some(Value::String(s)) if !s.is_empty() => s.replace("\\n", "\n"),
        Some(_) => {
            return Err(invalid(format!(
                "Process rule {label} separator is required"
            )))
        }
    };
    let max_tokens = match seg.get("max_tokens") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) | None => {
                return Err(invalid(format!(
                    "Process rule {label} max_tokens is invalid"
                )))
            }
            Some(m) => m as usize,
        },
        None | Some(Value::Null) if !needs_max => AUTOMATIC_MAX_TOKENS,
        None | Some(Value::Null) => {
            return Err(invalid(format!(
                "Process rule {label} max_tokens is required"
            )))
        }
        Some(_) => {
            return Err(invalid(format!(
                "Process rule {label} max_tokens is invalid"
            )))
        }
    };
    let overlap = seg
        .get("chunk_overlap")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    Ok(Segmentation {
        separator,
        max_tokens,
        overlap,
    })
}

/// Applies the cleaning rules (and the ones Dify always applies).
pub fn clean(text: &str, rule: &ProcessRule) -> String {
    let mut out: String = text
        .replace("<|", "<")
        .replace("|>", ">")
        .chars()
        .filter(|c| !(c.is_control() && *c != '\n' && *c != '\t') && *c != '\u{FFFE}')
        .collect();
    if rule.remove_urls_emails {
        out = out
            .split_inclusive(char::is_whitespace)
            .filter(|w| {
                let t = w.trim();
                let email = t.contains('@') && t.contains('.') && !t.starts_with('@');
                let url = t.starts_with("http://") || t.starts_with("https://");
                !(email || url)
            })
            .collect();
    }
    if rule.remove_extra_spaces {
        let mut collapsed = String::with_capacity(out.len());
        let mut newlines = 0;
        let mut blank = false;
        for c in out.chars() {
            if c == '\n' {
                newlines += 1;
                blank = false;
                if newlines <= 2 {
                    collapsed.push('\n');
                }
            } else if c.is_whitespace() {
                newlines = 0;
                if !blank {
                    collapsed.push(' ');
                }
                blank = true;
            } else {
                newlines = 0;
                blank = false;
                collapsed.push(c);
            }
        }
        out = collapsed;
    }
    out
}

/// Merges pieces (joined by `sep`) into chunks of at most `max` tokens, carrying up to
/// `overlap` tokens of the previous chunk's tail into the next.
fn merge(pieces: &[String], sep: &str, max: usize, overlap: usize) -> Vec<String> {
    let sep_len = if sep.is_empty() { 0 } else { tokens(sep) };
    let mut out = Vec::new();
    let mut current: Vec<(String, usize)> = Vec::new();
    let mut total = 0usize;
    for p in pieces {
        let len = tokens(p);
        let joiner = |current: &Vec<(String, usize)>| if current.is_empty() { 0 } else { sep_len };
        if total + len + joiner(&current) > max && !current.is_empty() {
            let doc = join(&current, sep);
            if !doc.is_empty() {
                out.push(doc);
            }
            while total > overlap || (total > 0 && total + len + joiner(&current) > max) {
                let (_, first) = current.remove(0);
                total -= first + if current.is_empty() { 0 } else { sep_len };
            }
        }
        total += len + joiner(&current);
        current.push((p.clone(), len));
    }
    let doc = join(&current, sep);
    if !doc.is_empty() {
        out.push(doc);
    }
    out
}

fn join(parts: &[(String, usize)], sep: &str) -> String {
    parts
        .iter()
        .map(|(p, _)| p.as_str())
        .collect::<Vec<_>>()
        .join(sep)
        .trim()
        .to_owned()
}

/// The recursive splitter: split on the first separator present, merge pieces up to `max`,
/// recurse into pieces that are still too long.
pub fn recursive_split(text: &str, max: usize, overlap: usize) -> Vec<String> {
    let sep = RECURSIVE_SEPARATORS
        .iter()
        .find(|s| s.is_empty() || text.contains(**s))
        .copied()
        .unwrap_or("");
    let pieces: Vec<String> = if sep.is_empty() {
        text.chars().map(String::from).collect()
    } else {
        text.split(sep).map(str::to_owned).collect()
    };
    let mut out = Vec::new();
    let mut good: Vec<String> = Vec::new();
    for p in pieces {
        if tokens(&p) <= max {
            good.push(p);
        } else {
            if !good.is_empty() {
                out.extend(merge(&good, sep, max, overlap));
                good.clear();
            }
            if sep.is_empty() {
                out.push(p);
            } else {
                out.extend(recursive_split(&p, max, overlap));
            }
        }
    }
    if !good.is_empty() {
        out.extend(merge(&good, sep, max, overlap));
    }
    out
}

/// Splits cleaned text by one segmentation: the automatic splitter when the separator is
/// empty, else the fixed separator with recursive splitting of long pieces.
pub fn split(text: &str, seg: &Segmentation) -> Vec<String> {
    let chunks = if seg.separator.is_empty() {
        recursive_split(text, seg.max_tokens, seg.overlap)
    } else {
        let mut out = Vec::new();
        for piece in text.split(seg.separator.as_str()) {
            if tokens(piece) > seg.max_tokens {
                out.extend(recursive_split(piece, seg.max_tokens, seg.overlap));
            } else {
                out.push(piece.to_owned());
            }
        }
        out
    };
    chunks
        .into_iter()
        .map(|c| {
            let t = c.trim();
            t.strip_prefix('.')
                .or_else(|| t.strip_prefix('。'))
                .unwrap_or(t)
                .trim()
                .to_owned()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// A chunk and, for hierarchical documents, its children.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Text.
    pub content: String,
    /// Children (hierarchical only).
    pub children: Vec<String>,
}

/// Chunks a document's text by its rule.
pub fn chunk(text: &str, rule: &ProcessRule) -> Vec<Chunk> {
    let cleaned = clean(text, rule);
    match (rule.mode.as_str(), &rule.subchunk) {
        ("hierarchical", Some(sub)) => {
            let parents = if rule.parent_mode.as_deref() == Some("full-doc") {
                vec![cleaned.trim().to_owned()]
            } else {
                split(&cleaned, &rule.segmentation)
            };
            parents
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| Chunk {
                    children: split(&p, sub),
                    content: p,
                })
                .collect()
        }
        _ => split(&cleaned, &rule.segmentation)
            .into_iter()
            .map(|content| Chunk {
                content,
                children: Vec::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(sep: &str, max: usize, overlap: usize) -> ProcessRule {
        ProcessRule::parse(&json!({"mode": "custom", "rules": {
            "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": true}],
            "segmentation": {"separator": sep, "max_tokens": max, "chunk_overlap": overlap}}}))
        .unwrap()
    }

    #[test]
    fn the_tokenizer_is_cl100k() {
        assert_eq!(tokens("hello world"), 2);
        assert_eq!(tokens(""), 0);
    }

    /// Chunk boundaries by rule (the table of acceptance point 2).
    #[test]
    fn chunk_boundaries_by_rule() {
        let paragraphs = "Alpha one.\n\nBeta two.\n\nGamma three.";
        // custom: each separator piece is its own chunk when short enough; no merging.
        let chunks: Vec<String> = chunk(paragraphs, &custom("\\n\\n", 100, 0))
            .into_iter()
            .map(|c| c.content)
            .collect();
        assert_eq!(chunks, ["Alpha one.", "Beta two.", "Gamma three."]);
        // automatic: pieces are merged up to 500 tokens, so short text is one chunk.
        let auto: Vec<String> = chunk(paragraphs, &ProcessRule::automatic())
            .into_iter()
            .map(|c| c.content)
            .collect();
        assert_eq!(auto, ["Alpha one.\n\nBeta two.\n\nGamma three."]);
        // A long piece is split recursively (on words here) within max_tokens, with overlap.
        let long = (0..120)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let parts = split(
            &long,
            &Segmentation {
                separator: "\n".into(),
                max_tokens: 60,
                overlap: 10,
            },
        );
        assert!(parts.len() >= 3, "{parts:?}");
        assert!(parts.iter().all(|p| tokens(p) <= 60));
        let first_tail = parts[0].split(' ').next_back().unwrap();
        assert!(
            parts[1].contains(first_tail),
            "overlap carries the tail over"
        );
        // hierarchical, paragraph parents with sentence children.
        let rule = ProcessRule::parse(&json!({"mode": "hierarchical", "rules": {
            "pre_processing_rules": [], "parent_mode": "paragraph",
            "segmentation": {"separator": "\\n\\n", "max_tokens": 200},
            "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}}))
        .unwrap();
        let h = chunk("A one. A two.\n\nB one. B two", &rule);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].content, "A one. A two.");
        assert_eq!(h[0].children, ["A one", "A two."]);
        // full-doc: one parent.
        let rule = ProcessRule::parse(&json!({"mode": "hierarchical", "rules": {
            "pre_processing_rules": [], "parent_mode": "full-doc", "segmentation": {"separator": "\\n\\n"},
            "subchunk_segmentation": {"separator": "\\n\\n", "max_tokens": 50}}}))
        .unwrap();
        let h = chunk(paragraphs, &rule);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].children.len(), 3);
    }

    #[test]
    fn rules_are_validated_with_difys_messages() {
        let err = |v: Value| ProcessRule::parse(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"mode": "custom"})),
            "Process rule rules is required"
        );
        assert_eq!(
            err(json!({"mode": "custom", "rules": {"segmentation": {}}})),
            "Process rule pre_processing_rules is required"
        );
        assert_eq!(
            err(
                json!({"mode": "custom", "rules": {"pre_processing_rules": [], "segmentation": {"separator": "x"}}})
            ),
            "Process rule segmentation max_tokens is required"
        );
        assert!(custom("\n", 10, 0).check_lengths(4000).is_err());
        assert!(custom("\n", 500, 0).check_lengths(4000).is_ok());
    }

    #[test]
    fn cleaning() {
        let rule = ProcessRule {
            remove_urls_emails: true,
            ..ProcessRule::automatic()
        };
        assert_eq!(
            clean(
                "a  b\n\n\n\nc <|x|> mail me@x.org see https://x.y now",
                &rule
            ),
            "a b\n\nc <x> mail see now"
        );
    }
}
