use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use tower::Service;

use super::ResponseFuture;
use crate::BoxError;

/// The service of [`super::TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    pub(super) inner: S,
    pub(super) timeout: Duration,
}

impl<S, B> Service<Request<B>> for Timeout<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep(self.timeout),
        }
    }
}
