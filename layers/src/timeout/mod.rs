//! Timeout for blocking requests: the time to the response head is bounded. A stream's head
//! is sent as soon as the run starts, so streams are never cut by it. An elapsed request is
//! answered 504 `gateway_timeout` by the error layer.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use service::Timeout;

/// The error of a request that outlived its timeout.
#[derive(Debug, Default)]
pub struct Elapsed(());

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request timed out")
    }
}

impl std::error::Error for Elapsed {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{json, request};
    use crate::{
        body,
        errors::{no_domain_errors, ErrorMapLayer},
        sse, Body, BoxError,
    };
    use std::time::Duration;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    #[tokio::test(start_paused = true)]
    async fn slow_blocking_request_is_504() {
        let svc = ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .layer(TimeoutLayer::new(Duration::from_secs(1)))
            .service(service_fn(|_req: http::Request<Body>| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, BoxError>(http::Response::new(body::empty()))
            }));
        let res = svc.oneshot(request("/v1/x")).await.unwrap();
        assert_eq!(res.status(), 504);
        assert_eq!(json(res).await["code"], "gateway_timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn streams_outlive_the_timeout() {
        let svc = ServiceBuilder::new()
            .layer(TimeoutLayer::new(Duration::from_secs(1)))
            .service(service_fn(|_req: http::Request<Body>| async {
                let slow = futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, BoxError>(http_body::Frame::data(bytes::Bytes::from_static(
                        b"data: {}\n\n",
                    )))
                });
                Ok::<_, BoxError>(sse::response(body::boxed(http_body_util::StreamBody::new(
                    slow,
                ))))
            }));
        let res = svc.oneshot(request("/v1/x")).await.unwrap();
        let text = crate::test_helpers::bytes(res).await;
        assert_eq!(&text[..], b"data: {}\n\n");
    }
}
