use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::Service;
use tracing::Instrument;

use super::ResponseFuture;
use crate::request_id::RequestId;
use crate::route::template_of;

/// The service of [`super::TraceLayer`].
#[derive(Clone, Debug)]
pub struct Trace<S> {
    pub(super) inner: S,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Trace<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            route = template_of(&req),
            request_id = RequestId::of(&req),
        );
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner: inner.instrument(span.clone()),
            span,
            start: Instant::now(),
        }
    }
}
