//! Extra LLM calls around a conversation: its auto-generated name and follow-up question
//! suggestions. Both fail soft (keep the old name; no suggestions).

use std::sync::Arc;

use crate::store::Store;
use weir_core::model::{ChatMessage, ChatRequest, ModelClient};

/// Longest generated name.
pub const MAX_NAME_CHARS: usize = 100;

/// The initial name of a conversation: the first 20 characters of its first query, with `…`
/// when cut.
pub fn initial_name(query: &str) -> String {
    let mut chars = query.chars();
    let head: String = chars.by_ref().take(20).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Asks the model for a short title of a conversation that starts with `query`.
pub async fn generate_name(client: &dyn ModelClient, model: &str, query: &str) -> Option<String> {
    let prompt = format!(
        "Give a short title, at most eight words, in the language of the message, for a conversation that begins with the message below. Reply with the title alone, without quotes.\n\nMessage:\n{query}"
    );
    let mut req = ChatRequest::new(model, vec![ChatMessage::user(prompt)]);
    req.stream = false;
    req.params.insert("max_tokens".into(), 64.into());
    let out = client.chat_output(&req).await.ok()?;
    let title = out.text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let title = title
        .trim_matches(|c| c == '"' || c == '\'' || c == '“' || c == '”')
        .trim();
    (!title.is_empty()).then(|| title.chars().take(MAX_NAME_CHARS).collect())
}

/// Names a new conversation in the background: the generated title replaces the initial
/// name unless the user renamed the conversation first.
pub fn name_in_background(
    store: Store,
    client: Arc<dyn ModelClient>,
    model: String,
    conversation_id: String,
    query: String,
) {
    tokio::spawn(async move {
        let Some(name) = generate_name(&*client, &model, &query).await else {
            return;
        };
        let initial = initial_name(&query);
        if let Err(e) = store
            .set_generated_conversation_name(&conversation_id, &initial, &name)
            .await
        {
            tracing::warn!(error = %e, "saving the generated conversation name failed");
        }
    });
}

/// Asks the model for up to three follow-up questions after the last turns.
pub async fn suggest_questions(
    client: &dyn ModelClient,
    model: &str,
    turns: &[(String, String)],
) -> Vec<String> {
    let mut transcript = String::new();
    for (q, a) in turns {
        transcript.push_str(&format!("User: {q}\nAssistant: {a}\n"));
    }
    let prompt = format!(
        "Here is a conversation:\n{transcript}\nSuggest three short questions the user might ask next, each under 20 words, in the language of the conversation. Reply with a JSON array of three strings and nothing else."
    );
    let mut req = ChatRequest::new(model, vec![ChatMessage::user(prompt)]);
    req.stream = false;
    req.params.insert("max_tokens".into(), 256.into());
    match client.chat_output(&req).await {
        Ok(out) => parse_questions(&out.text),
        Err(_) => Vec::new(),
    }
}

/// The questions in a model's answer: a JSON array if there is one, else its lines.
pub fn parse_questions(text: &str) -> Vec<String> {
    if let (Some(start), Some(end)) = (text.find('['), text.rfind(']')) {
        if start < end {
            if let Ok(items) = serde_json::from_str::<Vec<String>>(&text[start..=end]) {
                return items
                    .into_iter()
                    .filter(|s| !s.trim().is_empty())
                    .take(3)
                    .collect();
            }
        }
    }
    text.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches(|c: char| {
                    c.is_ascii_digit() || c == '.' || c == '-' || c == ')'
                })
                .trim()
        })
        .filter(|l| l.ends_with('?'))
        .take(3)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            initial_name("What can I do in Lisbon in two days?"),
            "What can I do in Lis…"
        );
        assert_eq!(initial_name("Hi"), "Hi");
        assert_eq!(initial_name("12345678901234567890"), "12345678901234567890");
    }

    #[test]
    fn questions() {
        assert_eq!(
            parse_questions("Sure: [\"a?\", \"b?\", \"c?\", \"d?\"]"),
            vec!["a?", "b?", "c?"]
        );
        assert_eq!(
            parse_questions("1. Why?\n2. How?\nnot a question"),
            vec!["Why?", "How?"]
        );
        assert!(parse_questions("echo: nothing").is_empty());
    }
}
