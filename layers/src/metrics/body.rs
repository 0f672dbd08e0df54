use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project::{pin_project, pinned_drop};

use super::Metrics;

/// Decrements the in-flight gauge when the response head is out (or the call is dropped).
pub(crate) struct InFlight(pub(super) Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.dec();
    }
}

/// A response body that counts itself as an open stream until it ends or is dropped.
#[pin_project(PinnedDrop)]
pub struct StreamGuardBody<B> {
    #[pin]
    inner: B,
    metrics: Option<Metrics>,
}

impl<B> StreamGuardBody<B> {
    pub(super) fn new(inner: B, metrics: Option<Metrics>) -> Self {
        if let Some(m) = &metrics {
            m.inner.open_streams.inc();
        }
        StreamGuardBody { inner, metrics }
    }
}

impl<B: Body> Body for StreamGuardBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let out = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = out {
            if let Some(m) = this.metrics.take() {
                m.inner.open_streams.dec();
            }
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[pinned_drop]
impl<B> PinnedDrop for StreamGuardBody<B> {
    fn drop(self: Pin<&mut Self>) {
        if let Some(m) = self.project().metrics.take() {
            m.inner.open_streams.dec();
        }
    }
}
