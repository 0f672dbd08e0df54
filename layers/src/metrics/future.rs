use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{header, Response};
use pin_project::pin_project;

use super::{InFlight, Metrics, RequestLabels, RouteLabels, StreamGuardBody};

/// Response future of [`super::RecordMetrics`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    pub(super) inner: F,
    pub(super) metrics: Metrics,
    pub(super) labels: RouteLabels,
    pub(super) start: Instant,
    pub(super) _in_flight: InFlight,
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<StreamGuardBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let inner = &this.metrics.inner;
        inner
            .latency
            .get_or_create(this.labels)
            .observe(this.start.elapsed().as_secs_f64());
        inner
            .requests
            .get_or_create(&RequestLabels {
                route: this.labels.route,
                method: this.labels.method,
                status: res.status().as_u16(),
            })
            .inc();
        let is_stream = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        Poll::Ready(Ok(res.map(|body| {
            StreamGuardBody::new(body, is_stream.then(|| this.metrics.clone()))
        })))
    }
}

impl InFlight {
    pub(super) fn new(metrics: &Metrics) -> Self {
        metrics.inner.in_flight.inc();
        InFlight(metrics.clone())
    }
}
