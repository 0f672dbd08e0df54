use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use super::Slot;

/// A response body holding its app's slot until it ends or is dropped.
#[pin_project]
pub struct SlotBody<B> {
    #[pin]
    inner: B,
    slot: Option<Slot>,
}

impl<B> SlotBody<B> {
    pub(super) fn new(inner: B, slot: Option<Slot>) -> Self {
        SlotBody { inner, slot }
    }
}

impl<B: Body> Body for SlotBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let out = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = out {
            this.slot.take();
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
