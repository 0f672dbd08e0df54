//! Prometheus metrics: requests and latency by route template and status, requests in
//! flight, open streams, and upstream latency (recorded by the domain through
//! [`Metrics::observe_upstream`]). [`Metrics::render`] gives the text exposition served at
//! `GET /metrics`.

mod body;
mod future;
mod layer;
mod service;

use body::InFlight;
pub use body::StreamGuardBody;
pub use future::ResponseFuture;
pub use layer::MetricsLayer;
pub use service::RecordMetrics;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// Labels of one latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

/// Labels of one upstream series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    provider: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// The metrics registry shared by the layer and the `/metrics` handler.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upstream: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    open_streams: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with weir's series.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("weir");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let upstream = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let open_streams = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to response head by route",
            latency.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "Model provider call latency",
            upstream.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests in flight",
            in_flight.clone(),
        );
        registry.register("open_streams", "SSE streams open", open_streams.clone());
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                upstream,
                in_flight,
                open_streams,
            }),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// Records one upstream (model provider) call.
    pub fn observe_upstream(&self, provider: &str, seconds: f64) {
        self.inner
            .upstream
            .get_or_create(&UpstreamLabels {
                provider: provider.to_owned(),
            })
            .observe(seconds);
    }

    /// Streams currently open.
    pub fn open_streams(&self) -> i64 {
        self.inner.open_streams.get()
    }
}

fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{bytes, ok, request};
    use crate::{body, Body, BoxError};
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn counts_requests_and_streams() {
        let metrics = Metrics::new();
        let svc = MetricsLayer::new(metrics.clone()).layer(service_fn(ok));
        svc.clone().oneshot(request("/a")).await.unwrap();
        let text = metrics.render();
        assert!(
            text.contains(
                "weir_http_requests_total{route=\"<unmatched>\",method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("weir_http_requests_in_flight 0"));

        let sse = MetricsLayer::new(metrics.clone()).layer(service_fn(
            |_req: http::Request<Body>| async {
                let mut res = http::Response::new(body::full("data: {}\n\n"));
                res.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                Ok::<_, BoxError>(res)
            },
        ));
        let res = sse.oneshot(request("/s")).await.unwrap();
        assert_eq!(metrics.open_streams(), 1);
        bytes(res).await;
        assert_eq!(metrics.open_streams(), 0);
    }
}
