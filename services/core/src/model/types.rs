//! Provider-neutral request and response types (OpenAI's chat format).

use std::pin::Pin;

use futures_util::Stream;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{ProviderError, Usage};

/// Message content: text or multimodal parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and image parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of the content (parts joined).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// One part of multimodal content.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL (or data URL).
    ImageUrl {
        /// `{url, detail}`.
        image_url: Value,
    },
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCall {
    /// Call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The content.
    pub content: Content,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn plain(role: &'static str, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Content::Text(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::plain("system", text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::plain("user", text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::plain("assistant", text)
    }

    /// An assistant message that calls tools.
    pub fn assistant_calls(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        ChatMessage {
            tool_calls: calls,
            ..Self::plain("assistant", text)
        }
    }

    /// A tool result.
    pub fn tool(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(call_id.into()),
            ..Self::plain("tool", text)
        }
    }

    /// The OpenAI wire form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), self.role.into());
        m.insert(
            "content".into(),
            serde_json::to_value(&self.content).unwrap_or(Value::Null),
        );
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            m.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), id.clone().into());
        }
        Value::Object(m)
    }
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDef {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// A chat completion request.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    /// Model name.
    pub model: String,
    /// Messages in order.
    pub messages: Vec<ChatMessage>,
    /// `completion_params` passed through (temperature, top_p, max_tokens, stop, …).
    pub params: Map<String, Value>,
    /// Tools offered.
    pub tools: Vec<ToolDef>,
    /// Stream the answer.
    pub stream: bool,
    /// End user id (OpenAI's `user`).
    pub user: Option<String>,
}

impl ChatRequest {
    /// A request for `model` with these messages.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            params: Map::new(),
            tools: Vec::new(),
            stream: true,
            user: None,
        }
    }
}

/// One event of a model answer.
#[derive(Clone, Debug, PartialEq)]
pub enum LlmEvent {
    /// A text delta.
    Text(String),
    /// A piece of a tool call (`index` identifies the call; id and name come first).
    ToolCallDelta {
        /// Position of the call.
        index: usize,
        /// Call id, on its first piece.
        id: Option<String>,
        /// Function name, on its first piece.
        name: Option<String>,
        /// A piece of the arguments JSON.
        arguments: String,
    },
    /// Token usage (usually last).
    Usage(Usage),
    /// Why the model stopped.
    Finish(String),
}

/// A stream of model events.
pub type LlmStream = Pin<Box<dyn Stream<Item = Result<LlmEvent, ProviderError>> + Send>>;

/// A whole answer, folded from its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmOutput {
    /// The text.
    pub text: String,
    /// Tool calls, complete.
    pub tool_calls: Vec<ToolCall>,
    /// Usage (tokens as reported).
    pub usage: Usage,
    /// Finish reason.
    pub finish_reason: Option<String>,
}

impl LlmOutput {
    /// Folds one event in.
    pub fn push(&mut self, event: &LlmEvent) {
        match event {
            LlmEvent::Text(t) => self.text.push_str(t),
            LlmEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                while self.tool_calls.len() <= *index {
                    self.tool_calls.push(ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut self.tool_calls[*index];
                if let Some(id) = id {
                    call.id.clone_from(id);
                }
                if let Some(name) = name {
                    call.name.push_str(name);
                }
                call.arguments.push_str(arguments);
            }
            LlmEvent::Usage(u) => self.usage = u.clone(),
            LlmEvent::Finish(r) => self.finish_reason = Some(r.clone()),
        }
    }
}
