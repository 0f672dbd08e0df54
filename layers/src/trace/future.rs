use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::Response;
use pin_project::pin_project;

/// Response future of [`super::Trace`]: logs status and latency inside the request's span.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    pub(super) inner: F,
    pub(super) span: tracing::Span,
    pub(super) start: Instant,
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let latency_ms = this.start.elapsed().as_secs_f64() * 1000.0;
        let _enter = this.span.enter();
        match &out {
            Ok(res) => {
                let error_code = res
                    .extensions()
                    .get::<crate::error::ErrorInfo>()
                    .map(|e| e.code.as_ref());
                tracing::info!(
                    status = res.status().as_u16(),
                    latency_ms,
                    error_code,
                    "response"
                );
            }
            Err(err) => tracing::info!(latency_ms, error = %err, "response error"),
        }
        Poll::Ready(out)
    }
}
