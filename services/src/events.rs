//! SSE streams: a bounded channel from the producer (a run) to the response body, which
//! frames each event once, sends `event: ping` when the stream has been idle for
//! [`PING_INTERVAL`], and ends after an `error` event or when the producer is done.
//!
//! The producer owns the run, not the connection: when the client goes away the body is
//! dropped, sends start failing, and the producer finishes cooperatively.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use weir_layers::{sse, Body, BoxError, Surface};

use crate::error::to_http_error;

/// Idle time after which a stream sends `event: ping`.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Events buffered between a producer and a slow client.
pub const CHANNEL_CAPACITY: usize = 64;

/// The client is gone; the producer should stop.
#[derive(Debug, thiserror::Error)]
#[error("the event stream was closed by the client")]
pub struct StreamClosed;

/// The producer's end of a stream.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: mpsc::Sender<Bytes>,
    surface: Surface,
}

/// Opens a stream: the sender for the producer, the body for the response.
pub fn channel(surface: Surface) -> (EventSender, Body) {
    channel_with_ping(surface, PING_INTERVAL)
}

/// [`channel`] with another ping interval.
pub fn channel_with_ping(surface: Surface, ping: Duration) -> (EventSender, Body) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let body = EventBody {
        rx,
        ping,
        keepalive: Box::pin(tokio::time::sleep(ping)),
    };
    (EventSender { tx, surface }, weir_layers::body::boxed(body))
}

impl EventSender {
    /// Sends one event (serialised once, framed as `data: …`).
    pub async fn send<T: Serialize + ?Sized>(&self, event: &T) -> Result<(), StreamClosed> {
        self.send_frame(sse::event_frame(event)).await
    }

    /// Sends an already framed chunk.
    pub async fn send_frame(&self, frame: Bytes) -> Result<(), StreamClosed> {
        self.tx.send(frame).await.map_err(|_| StreamClosed)
    }

    /// Sends `event: ping`.
    pub async fn ping(&self) -> Result<(), StreamClosed> {
        self.send_frame(Bytes::from_static(sse::PING)).await
    }

    /// Ends the stream with an `error` event for `err` (mapped by the one error table),
    /// carrying the stream's `envelope` keys.
    pub async fn fail(
        self,
        err: &(dyn Error + Send + Sync + 'static),
        envelope: Map<String, Value>,
    ) {
        let frame = sse::error_frame(&to_http_error(err, self.surface), self.surface, envelope);
        let _ = self.send_frame(frame).await;
    }

    /// Whether the client is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The stream's surface.
    pub fn surface(&self) -> Surface {
        self.surface
    }
}

struct EventBody {
    rx: mpsc::Receiver<Bytes>,
    ping: Duration,
    keepalive: Pin<Box<Sleep>>,
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                let next = Instant::now() + this.ping;
                this.keepalive.as_mut().reset(next);
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.keepalive.as_mut().poll(cx).is_ready() {
                    let next = Instant::now() + this.ping;
                    this.keepalive.as_mut().reset(next);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(sse::PING)))));
                }
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Runs a producer on its own task: an `Err` it returns, or a panic, ends the stream with an
/// `error` event (carrying `envelope`) instead of a cut connection.
pub fn spawn_producer<F>(sender: EventSender, envelope: Map<String, Value>, producer: F)
where
    F: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let span = tracing::Span::current();
    // Boxed: producers are large futures, and spawn would copy them by value.
    let task = tokio::spawn(Box::pin(tracing::Instrument::instrument(producer, span)));
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                if !err.is::<StreamClosed>() {
                    sender.fail(&*err, envelope).await;
                }
            }
            Err(join) => {
                if join.is_panic() {
                    let payload = join.into_panic();
                    tracing::error!(
                        panic = weir_layers::catch_panic::panic_message(&*payload),
                        "stream producer panicked"
                    );
                }
                sender
                    .fail(&weir_layers::HttpError::internal(), envelope)
                    .await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(body: Body) -> String {
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn error_mid_stream_ends_with_an_error_event() {
        let (tx, body) = channel(Surface::ServiceApi);
        let mut env = Map::new();
        env.insert("message_id".into(), "m1".into());
        spawn_producer(tx.clone(), env, async move {
            tx.send(&serde_json::json!({"event": "message", "answer": "hi"}))
                .await?;
            Err(crate::ServiceError::CompletionRequest("upstream 500".into()).into())
        });
        let text = collect(body).await;
        assert_eq!(
            text,
            "data: {\"event\":\"message\",\"answer\":\"hi\"}\n\n\
             data: {\"event\":\"error\",\"message_id\":\"m1\",\"code\":\"completion_request_error\",\"message\":\"upstream 500\",\"status\":400}\n\n"
        );
    }

    #[tokio::test]
    async fn panic_mid_stream_ends_with_internal_error_event() {
        let (tx, body) = channel(Surface::ServiceApi);
        spawn_producer(tx.clone(), Map::new(), async move {
            tx.send(&serde_json::json!({"event": "message"})).await?;
            panic!("boom");
        });
        let text = collect(body).await;
        assert!(text.ends_with("\"code\":\"internal_server_error\",\"message\":\"Internal Server Error, please contact support.\",\"status\":500}\n\n"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_streams_ping() {
        let (tx, mut body) = channel(Surface::ServiceApi);
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&frame[..], sse::PING);
        tx.send(&serde_json::json!({"event": "x"})).await.unwrap();
        drop(tx);
        assert_eq!(collect(body).await, "data: {\"event\":\"x\"}\n\n");
    }

    #[tokio::test]
    async fn dropped_body_closes_the_sender() {
        let (tx, body) = channel(Surface::ServiceApi);
        drop(body);
        assert!(tx.is_closed());
        assert!(tx.send(&1).await.is_err());
    }
}

/// Event names, defined once.
pub mod names {
    /// An answer chunk.
    pub const MESSAGE: &str = "message";
    /// An agent's answer chunk.
    pub const AGENT_MESSAGE: &str = "agent_message";
    /// An agent step.
    pub const AGENT_THOUGHT: &str = "agent_thought";
    /// A file produced for the answer.
    pub const MESSAGE_FILE: &str = "message_file";
    /// The answer is complete.
    pub const MESSAGE_END: &str = "message_end";
    /// Output moderation replaced the answer.
    pub const MESSAGE_REPLACE: &str = "message_replace";
    /// A fatal error after the stream started.
    pub const ERROR: &str = weir_layers::sse::ERROR_EVENT;
    /// A workflow run started.
    pub const WORKFLOW_STARTED: &str = "workflow_started";
    /// A workflow run finished.
    pub const WORKFLOW_FINISHED: &str = "workflow_finished";
    /// A node started.
    pub const NODE_STARTED: &str = "node_started";
    /// A node finished.
    pub const NODE_FINISHED: &str = "node_finished";
    /// A node is retried.
    pub const NODE_RETRY: &str = "node_retry";
    /// A streamed chunk of a workflow's output.
    pub const TEXT_CHUNK: &str = "text_chunk";
    /// An iteration started.
    pub const ITERATION_STARTED: &str = "iteration_started";
    /// An iteration round starts.
    pub const ITERATION_NEXT: &str = "iteration_next";
    /// An iteration completed.
    pub const ITERATION_COMPLETED: &str = "iteration_completed";
    /// A loop started.
    pub const LOOP_STARTED: &str = "loop_started";
    /// A loop round starts.
    pub const LOOP_NEXT: &str = "loop_next";
    /// A loop completed.
    pub const LOOP_COMPLETED: &str = "loop_completed";
}

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
        sse::event_frame(&Framed {
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
            "data: {\"event\":\"message\",\"conversation_id\":\"c\",\"message_id\":\"m\",\"created_at\":7,\"task_id\":\"t\",\"id\":\"m\",\"answer\":\"Hel\",\"from_variable_selector\":null}\n\n"
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
            FlowEnvelope::Workflow { run_id, task_id } => sse::event_frame(&Wf {
                event,
                workflow_run_id: run_id,
                task_id,
                data,
            }),
            FlowEnvelope::Chat { chat, run_id } => sse::event_frame(&Chat {
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
