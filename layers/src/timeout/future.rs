use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio::time::Sleep;

use super::Elapsed;
use crate::BoxError;

/// Response future of [`super::Timeout`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    pub(super) inner: F,
    #[pin]
    pub(super) sleep: Sleep,
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out.map_err(Into::into));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed::default().into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
