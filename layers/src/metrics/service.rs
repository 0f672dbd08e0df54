use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::Service;

use super::{method_label, InFlight, Metrics, ResponseFuture, RouteLabels};
use crate::route::template_of;

/// The service of [`super::MetricsLayer`].
#[derive(Clone, Debug)]
pub struct RecordMetrics<S> {
    pub(super) inner: S,
    pub(super) metrics: Metrics,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RecordMetrics<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<super::StreamGuardBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let labels = RouteLabels {
            route: template_of(&req),
            method: method_label(req.method()),
        };
        let in_flight = InFlight::new(&self.metrics);
        ResponseFuture {
            inner: self.inner.call(req),
            metrics: self.metrics.clone(),
            labels,
            start: Instant::now(),
            _in_flight: in_flight,
        }
    }
}
