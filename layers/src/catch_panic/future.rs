use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::future::CatchUnwind;
use http::Response;
use pin_project::pin_project;

use super::{panic_message, CatchPanicBody};
use crate::{HttpError, Surface};

/// Response future of [`super::CatchPanic`].
#[pin_project(project = Proj)]
pub enum ResponseFuture<F> {
    /// The inner call returned a future; a panic while polling it is caught.
    Future {
        /// The inner future.
        #[pin]
        inner: CatchUnwind<AssertUnwindSafe<F>>,
        /// The request's surface.
        surface: Surface,
        /// The request id, for the log line.
        request_id: String,
    },
    /// The inner call itself panicked.
    Panicked {
        /// The request's surface (taken when the response is produced).
        surface: Option<Surface>,
    },
}

fn panic_response<B>(surface: Surface) -> Response<CatchPanicBody<B>> {
    HttpError::internal()
        .into_response(surface)
        .map(CatchPanicBody::replaced)
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CatchPanicBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Future {
                inner,
                surface,
                request_id,
            } => match ready!(inner.poll(cx)) {
                Ok(Ok(res)) => {
                    let is_stream = crate::sse::is_event_stream(&res);
                    let (surface, id) = (*surface, std::mem::take(request_id));
                    Poll::Ready(Ok(
                        res.map(|b| CatchPanicBody::wrap(b, is_stream, surface, id))
                    ))
                }
                Ok(Err(err)) => Poll::Ready(Err(err)),
                Err(payload) => {
                    tracing::error!(
                        request_id = request_id.as_str(),
                        panic = panic_message(&*payload),
                        "handler panicked"
                    );
                    Poll::Ready(Ok(panic_response(*surface)))
                }
            },
            Proj::Panicked { surface } => {
                Poll::Ready(Ok(panic_response(surface.take().unwrap_or_default())))
            }
        }
    }
}
