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

use weir_core::events::StreamOut;
use weir_core::BoxFuture;

use crate::error::to_http_error;

/// Idle time after which a stream sends `event: ping`.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Events buffered between a producer and a slow client.
pub const CHANNEL_CAPACITY: usize = 64;

pub use weir_core::events::StreamClosed;
pub use weir_runtime::events::{names, AgentThought, ChatEnvelope, FlowEnvelope};

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

impl StreamOut for EventSender {
    fn send(&self, event: Bytes) -> BoxFuture<'_, Result<(), StreamClosed>> {
        Box::pin(self.send_frame(sse::data_frame(&event)))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StreamClosed>> {
        Box::pin(EventSender::ping(self))
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
            Err(weir_core::error::ServiceError::CompletionRequest("upstream 500".into()).into())
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
