//! Prompt assembly for easy-UI apps, in Dify's order: context block, instructions, history,
//! query.
//!
//! - simple prompt, chat model: one system message (context + `pre_prompt`) when both it and
//!   the query are non-empty; the history as user/assistant turns; the query as the last
//!   user message (with image parts). Without a query (completion apps) the instructions
//!   themselves are the user message.
//! - advanced prompt, chat model: the configured messages, then history, then the query.
//! - completion-style models: one flattened user prompt with `Human:`/`Assistant:` history
//!   and stop sequences.

use std::collections::HashMap;

use weir_core::model::{ChatMessage, Content, ContentPart};

use super::config::AppConfig;
use super::template::{replace_special, substitute};

/// How prior turns are framed in completion-style prompts.
const HISTORY_OPEN: &str = "<histories>";
const HISTORY_CLOSE: &str = "</histories>";

/// What a prompt is built from.
pub struct PromptParts<'a> {
    /// The app.
    pub config: &'a AppConfig,
    /// Input values as text.
    pub inputs: &'a HashMap<String, String>,
    /// The user's query (empty for completion apps).
    pub query: &'a str,
    /// Prior turns, oldest first: (query, answer).
    pub history: &'a [(String, String)],
    /// Retrieved context.
    pub context: Option<&'a str>,
    /// Image parts for the query (vision).
    pub images: Vec<ContentPart>,
}

/// An assembled prompt.
#[derive(Debug)]
pub struct Prompt {
    /// Messages to send.
    pub messages: Vec<ChatMessage>,
    /// Extra stop sequences.
    pub stop: Vec<String>,
}

/// The preamble that wraps retrieved context (our wording).
pub fn context_block(context: &str) -> String {
    format!(
        "Use the following context, delimited by <context></context> tags, as knowledge you have learned.\n<context>\n{context}\n</context>\nIf the context does not contain the answer, say that you do not know; do not mention the context itself.\n\n"
    )
}

fn query_message(query: &str, images: Vec<ContentPart>) -> ChatMessage {
    if images.is_empty() {
        return ChatMessage::user(query);
    }
    let mut parts = vec![ContentPart::Text {
        text: query.to_owned(),
    }];
    parts.extend(images);
    ChatMessage {
        content: Content::Parts(parts),
        ..ChatMessage::user("")
    }
}

fn history_text(history: &[(String, String)], user: &str, assistant: &str) -> String {
    let mut out = String::new();
    for (q, a) in history {
        out.push_str(&format!("{user}: {q}\n{assistant}: {a}\n"));
    }
    out
}

/// Builds the prompt.
pub fn build(p: PromptParts<'_>) -> Prompt {
    let c = p.config;
    let fill = |t: &str| {
        let t = substitute(t, p.inputs);
        let t = replace_special(&t, "context", p.context.unwrap_or(""));
        replace_special(&t, "query", p.query)
    };
    let completion_model = c.model.mode == "completion";
    if completion_model {
        let (user, assistant) = (&c.history_prefixes.0, &c.history_prefixes.1);
        let histories = history_text(p.history, user, assistant);
        let text = if c.advanced {
            let t = c.completion_prompt.clone().unwrap_or_default();
            let t = replace_special(&t, "histories", &histories);
            fill(&t)
        } else {
            let mut t = String::new();
            if let Some(ctx) = p.context.filter(|x| !x.is_empty()) {
                t.push_str(&context_block(ctx));
            }
            t.push_str(&fill(&c.pre_prompt));
            if !p.history.is_empty() {
                t.push_str(&format!("\n{HISTORY_OPEN}\n{histories}{HISTORY_CLOSE}\n"));
            }
            if !p.query.is_empty() {
                t.push_str(&format!("\n\n{user}: {}\n\n{assistant}: ", p.query));
            }
            t
        };
        return Prompt {
            messages: vec![query_message(&text, p.images)],
            stop: if c.mode.is_chat_like() {
                vec![format!("\n{user}:"), HISTORY_CLOSE.to_owned()]
            } else {
                Vec::new()
            },
        };
    }

    let mut messages = Vec::new();
    if c.advanced {
        for (role, text) in &c.chat_prompt {
            let text = fill(text);
            messages.push(match role.as_str() {
                "system" => ChatMessage::system(text),
                "assistant" => ChatMessage::assistant(text),
                _ => ChatMessage::user(text),
            });
        }
    } else {
        let mut system = String::new();
        if let Some(ctx) = p.context.filter(|x| !x.is_empty()) {
            system.push_str(&context_block(ctx));
        }
        system.push_str(&fill(&c.pre_prompt));
        if p.query.is_empty() {
            if !system.trim().is_empty() {
                messages.push(query_message(&system, p.images));
            }
            return Prompt {
                messages,
                stop: Vec::new(),
            };
        }
        if !system.trim().is_empty() {
            messages.push(ChatMessage::system(format!("{system}\n")));
        }
    }
    for (q, a) in p.history {
        messages.push(ChatMessage::user(q.clone()));
        messages.push(ChatMessage::assistant(a.clone()));
    }
    if !p.query.is_empty() {
        messages.push(query_message(p.query, p.images));
    } else if messages.is_empty() {
        messages.push(ChatMessage::user(""));
    }
    Prompt {
        messages,
        stop: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{AppMode, Dsl};

    fn config(name: &str) -> AppConfig {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/dsl/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let dsl = Dsl::parse(&text).unwrap();
        AppConfig::from_model_config(dsl.mode, dsl.doc["model_config"].as_object().unwrap())
            .unwrap()
    }

    fn inputs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn simple_chat_prompt_with_history() {
        let c = config("01-chat-simple.yml");
        let i = inputs(&[("budget", "luxury"), ("home_city", "Lisbon")]);
        let history = vec![("q1".to_owned(), "a1".to_owned())];
        let p = build(PromptParts {
            config: &c,
            inputs: &i,
            query: "q2",
            history: &history,
            context: None,
            images: vec![],
        });
        let roles: Vec<_> = p.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, vec!["system", "user", "assistant", "user"]);
        let system = p.messages[0].content.text();
        assert!(
            system.contains("budget level is luxury and their home city is Lisbon"),
            "{system}"
        );
        assert_eq!(p.messages[3].content.text(), "q2");
    }

    #[test]
    fn advanced_completion_app_prompt() {
        let c = config("02-completion-inputs.yml");
        assert_eq!(c.mode, AppMode::Completion);
        let i = inputs(&[
            ("product", "Aurora Lamp"),
            ("facts", "Solar."),
            ("tone", "playful"),
            ("language", "English"),
            ("max_words", "60"),
        ]);
        let p = build(PromptParts {
            config: &c,
            inputs: &i,
            query: "",
            history: &[],
            context: None,
            images: vec![],
        });
        assert_eq!(p.messages.len(), 2);
        assert_eq!(
            p.messages[0].content.text(),
            "You are a copywriter. Write in a playful tone and in English.\nNever exceed 60 words."
        );
        assert_eq!(
            p.messages[1].content.text(),
            "Product name: Aurora Lamp\nKey facts:\nSolar."
        );
    }

    #[test]
    fn context_goes_first_in_the_system_message() {
        let c = config("01-chat-simple.yml");
        let p = build(PromptParts {
            config: &c,
            inputs: &HashMap::new(),
            query: "q",
            history: &[],
            context: Some("FACT"),
            images: vec![],
        });
        let system = p.messages[0].content.text();
        assert!(system.starts_with("Use the following context") && system.contains("FACT"));
    }

    #[test]
    fn images_become_parts_of_the_query() {
        let c = config("01-chat-simple.yml");
        let img = ContentPart::ImageUrl {
            image_url: serde_json::json!({"url": "data:image/png;base64,AA", "detail": "high"}),
        };
        let p = build(PromptParts {
            config: &c,
            inputs: &HashMap::new(),
            query: "what is this",
            history: &[],
            context: None,
            images: vec![img],
        });
        assert!(
            matches!(&p.messages.last().unwrap().content, Content::Parts(parts) if parts.len() == 2)
        );
    }
}
