use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use super::panic_message;
use crate::{BoxError, HttpError, Surface};

/// A response body that survives a panic in the inner body: an SSE stream ends with an
/// `error` event; any other body ends with an error (the connection is cut).
#[pin_project(project = Proj)]
pub enum CatchPanicBody<B> {
    /// The handler's body.
    Inner {
        /// The wrapped body.
        #[pin]
        inner: B,
        /// Whether it is an SSE stream.
        is_stream: bool,
        /// The request's surface.
        surface: Surface,
        /// The request id, for the log line.
        request_id: String,
    },
    /// A body that replaced the handler's (the generic 500), or the final error frame.
    Replaced {
        /// The replacement.
        #[pin]
        inner: crate::Body,
    },
}

impl<B> CatchPanicBody<B> {
    pub(super) fn wrap(inner: B, is_stream: bool, surface: Surface, request_id: String) -> Self {
        CatchPanicBody::Inner {
            inner,
            is_stream,
            surface,
            request_id,
        }
    }

    pub(super) fn replaced(inner: crate::Body) -> Self {
        CatchPanicBody::Replaced { inner }
    }
}

impl<B> Body for CatchPanicBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let (is_stream, surface) = match self.as_mut().project() {
            Proj::Replaced { inner } => return inner.poll_frame(cx),
            Proj::Inner {
                inner,
                is_stream,
                surface,
                request_id,
            } => match catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx))) {
                Ok(poll) => return poll.map(|o| o.map(|r| r.map_err(Into::into))),
                Err(payload) => {
                    tracing::error!(
                        request_id = request_id.as_str(),
                        panic = panic_message(&*payload),
                        "response body panicked"
                    );
                    (*is_stream, *surface)
                }
            },
        };
        if !is_stream {
            self.set(CatchPanicBody::Replaced {
                inner: crate::body::empty(),
            });
            return Poll::Ready(Some(Err("response body panicked".into())));
        }
        let frame = crate::sse::error_frame(&HttpError::internal(), surface, Default::default());
        self.set(CatchPanicBody::Replaced {
            inner: crate::body::empty(),
        });
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            CatchPanicBody::Inner { inner, .. } => inner.is_end_stream(),
            CatchPanicBody::Replaced { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            CatchPanicBody::Inner { inner, .. } => inner.size_hint(),
            CatchPanicBody::Replaced { inner } => inner.size_hint(),
        }
    }
}
