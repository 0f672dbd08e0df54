//! Tracing: one span per request (method, route template, request id) and one log line when
//! the response head is ready (status, latency). Everything logged while the request runs
//! happens inside the span, so every line carries the request id.
//!
//! Log output (text or JSON) is chosen where the subscriber is installed, not here.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::TraceLayer;
pub use service::Trace;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{ok, request};
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn passes_responses_through() {
        let svc = TraceLayer::new().layer(service_fn(ok));
        let res = svc.oneshot(request("/x")).await.unwrap();
        assert_eq!(res.status(), 200);
    }
}
