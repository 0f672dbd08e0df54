//! The events of runs as Dify's clients read them: the keys every chat-family event
//! carries ([`ChatEnvelope`]), workflow-family events ([`FlowEnvelope`]), agent steps
//! ([`AgentThought`]). Each builder returns the event serialised; the api frames it.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
pub use weir_core::events::names;
use weir_core::events::to_event;

/// The keys every chat-family event carries (Service API §4.1).
#[derive(Clone, Debug, Serialize)]
pub struct ChatEnvelope {
    /// Conversation (absent for completion apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Message.
    pub message_id: String,
    /// Message creation time (constant for the stream).
    pub created_at: i64,
    /// Task id (not in `error` events).
    #[serde(skip)]
    pub task_id: String,
}

impl ChatEnvelope {
    /// The envelope keys of the `error` event (no `task_id`).
    pub fn error_keys(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(c) = &self.conversation_id {
            m.insert("conversation_id".into(), c.clone().into());
        }
        m.insert("message_id".into(), self.message_id.clone().into());
        m.insert("created_at".into(), self.created_at.into());
        m
    }
}

#[derive(Serialize)]
struct Framed<'a, T: Serialize> {
    event: &'static str,
    #[serde(flatten)]
    envelope: &'a ChatEnvelope,
    task_id: &'a str,
    #[serde(flatten)]
    payload: T,
}

/// One agent step, as streamed and stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct AgentThought {
    /// Thought id.
    pub id: String,
    /// 1-based position.
    pub position: u32,
    /// The model's text of this step.
    pub thought: String,
    /// Tool results (JSON text `{tool: result}`).
    pub observation: String,
    /// Tools called, joined by `;`.
    pub tool: String,
    /// Labels of the tools (`{tool: {en_US: …}}`).
    pub tool_labels: Value,
    /// Tool inputs (JSON text `{tool: args}`).
    pub tool_input: String,
    /// Files produced.
    pub message_files: Vec<String>,
    /// Created, Unix seconds (history only).
    #[serde(skip_serializing)]
    pub created_at: i64,
}

impl ChatEnvelope {
    fn frame<T: Serialize>(&self, event: &'static str, payload: T) -> Bytes {
        to_event(&Framed {
            event,
            envelope: self,
            task_id: &self.task_id,
            payload,
        })
    }

    /// A `message` chunk.
    pub fn message(&self, answer: &str, from_variable_selector: Option<&[String]>) -> Bytes {
        #[derive(Serialize)]
        struct P<'a> {
            id: &'a str,
            answer: &'a str,
            from_variable_selector: Option<&'a [String]>,
        }
        self.frame(
            names::MESSAGE,
            P {
                id: &self.message_id,
                answer,
                from_variable_selector,
            },
        )
    }

    /// An `agent_message` chunk.
    pub fn agent_message(&self, answer: &str) -> Bytes {
        #[derive(Serialize)]
        struct P<'a> {
            id: &'a str,
            answer: &'a str,
        }
        self.frame(
            names::AGENT_MESSAGE,
            P {
                id: &self.message_id,
                answer,
            },
        )
    }

    /// An `agent_thought`.
    pub fn agent_thought(&self, thought: &AgentThought) -> Bytes {
        self.frame(names::AGENT_THOUGHT, thought)
    }

    /// `message_replace`.
    pub fn message_replace(&self, answer: &str, reason: &str) -> Bytes {
        #[derive(Serialize)]
        struct P<'a> {
            answer: &'a str,
            reason: &'a str,
        }
        self.frame(names::MESSAGE_REPLACE, P { answer, reason })
    }

    /// `message_end` with its metadata.
    pub fn message_end(&self, metadata: &Value, files: Option<&Value>) -> Bytes {
        #[derive(Serialize)]
        struct P<'a> {
            id: &'a str,
            metadata: &'a Value,
            files: Option<&'a Value>,
        }
        self.frame(
            names::MESSAGE_END,
            P {
                id: &self.message_id,
                metadata,
                files,
            },
        )
    }

    /// Any other event with this envelope.
    pub fn event<T: Serialize>(&self, event: &'static str, payload: T) -> Bytes {
        self.frame(event, payload)
    }
}

#[cfg(test)]
mod envelope_tests {
    use super::*;

    #[test]
    fn chat_frames_match_difys_wire() {
        let env = ChatEnvelope {
            conversation_id: Some("c".into()),
            message_id: "m".into(),
            created_at: 7,
            task_id: "t".into(),
        };
        assert_eq!(
            std::str::from_utf8(&env.message("Hel", None)).unwrap(),
            "{\"event\":\"message\",\"conversation_id\":\"c\",\"message_id\":\"m\",\"created_at\":7,\"task_id\":\"t\",\"id\":\"m\",\"answer\":\"Hel\",\"from_variable_selector\":null}"
        );
        let completion = ChatEnvelope {
            conversation_id: None,
            ..env.clone()
        };
        assert!(!std::str::from_utf8(&completion.message("x", None))
            .unwrap()
            .contains("conversation_id"));
        assert_eq!(
            serde_json::Value::Object(env.error_keys()),
            serde_json::json!({"conversation_id": "c", "message_id": "m", "created_at": 7})
        );
    }
}

/// The keys of workflow-family events: a workflow run's, or a chatflow turn's.
#[derive(Clone, Debug)]
pub enum FlowEnvelope {
    /// Workflow apps: `workflow_run_id`, `task_id`.
    Workflow {
        /// Run id.
        run_id: String,
        /// Task id.
        task_id: String,
    },
    /// Chatflows: the chat envelope plus `workflow_run_id`.
    Chat {
        /// The chat keys.
        chat: ChatEnvelope,
        /// Run id.
        run_id: String,
    },
}

impl FlowEnvelope {
    /// A workflow-family event `{event, …envelope, data}`.
    pub fn frame<T: Serialize>(&self, event: &'static str, data: &T) -> Bytes {
        #[derive(Serialize)]
        struct Wf<'a, T: Serialize> {
            event: &'static str,
            workflow_run_id: &'a str,
            task_id: &'a str,
            data: &'a T,
        }
        #[derive(Serialize)]
        struct Chat<'a, T: Serialize> {
            event: &'static str,
            #[serde(flatten)]
            chat: &'a ChatEnvelope,
            task_id: &'a str,
            workflow_run_id: &'a str,
            data: &'a T,
        }
        match self {
            FlowEnvelope::Workflow { run_id, task_id } => to_event(&Wf {
                event,
                workflow_run_id: run_id,
                task_id,
                data,
            }),
            FlowEnvelope::Chat { chat, run_id } => to_event(&Chat {
                event,
                chat,
                task_id: &chat.task_id,
                workflow_run_id: run_id,
                data,
            }),
        }
    }

    /// Streamed response text: `text_chunk` for workflows, `message` for chatflows.
    pub fn text(&self, text: &str, selector: &[String]) -> Bytes {
        match self {
            FlowEnvelope::Workflow { .. } => {
                #[derive(Serialize)]
                struct D<'a> {
                    text: &'a str,
                    from_variable_selector: &'a [String],
                }
                self.frame(
                    names::TEXT_CHUNK,
                    &D {
                        text,
                        from_variable_selector: selector,
                    },
                )
            }
            FlowEnvelope::Chat { chat, .. } => chat.message(text, Some(selector)),
        }
    }

    /// The envelope keys of the `error` event.
    pub fn error_keys(&self) -> Map<String, Value> {
        match self {
            FlowEnvelope::Workflow { run_id, .. } => {
                let mut m = Map::new();
                m.insert("workflow_run_id".into(), run_id.clone().into());
                m
            }
            FlowEnvelope::Chat { chat, .. } => chat.error_keys(),
        }
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        match self {
            FlowEnvelope::Workflow { task_id, .. } => task_id,
            FlowEnvelope::Chat { chat, .. } => &chat.task_id,
        }
    }
}
