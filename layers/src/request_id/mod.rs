//! Request ids: honour an incoming `X-Request-Id` (bounded, printable) or make one; put it in
//! request extensions (as [`RequestId`]) and in the response header.
//!
//! # Example
//! ```
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use weir_layers::{body, request_id::RequestIdLayer, Body, BoxError};
//! # tokio_test_block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(RequestIdLayer::new())
//!     .service(service_fn(|_req: http::Request<Body>| async {
//!         Ok::<_, BoxError>(http::Response::new(body::empty()))
//!     }));
//! let res = svc.oneshot(http::Request::new(body::empty())).await.unwrap();
//! assert!(res.headers().contains_key("x-request-id"));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RequestIdLayer;
pub use service::SetRequestId;

use http::{HeaderName, HeaderValue};

/// The header that carries the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id that is honoured.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of one request, in request extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }

    /// The id of a request, or `""` when the request id layer did not run.
    pub fn of<B>(req: &http::Request<B>) -> &str {
        req.extensions()
            .get::<RequestId>()
            .map(RequestId::as_str)
            .unwrap_or("")
    }
}

/// Whether an incoming id may be honoured: 1..=128 visible ASCII characters.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

fn generate() -> HeaderValue {
    let id = uuid::Uuid::new_v4();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).expect("uuid is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{ok, request};
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn generates_when_absent() {
        let svc = RequestIdLayer::new().layer(service_fn(ok));
        let res = svc.oneshot(request("/")).await.unwrap();
        let id = res.headers()[X_REQUEST_ID].to_str().unwrap();
        assert_eq!(id.len(), 36);
    }

    #[tokio::test]
    async fn honours_a_good_incoming_id_and_exposes_it_in_extensions() {
        let svc =
            RequestIdLayer::new().layer(service_fn(|req: http::Request<crate::Body>| async move {
                assert_eq!(RequestId::of(&req), "abc-123");
                ok(req).await
            }));
        let mut req = request("/");
        req.headers_mut()
            .insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.headers()[X_REQUEST_ID], "abc-123");
    }

    #[tokio::test]
    async fn replaces_a_bad_incoming_id() {
        for bad in ["", "has space", &"x".repeat(MAX_REQUEST_ID_LEN + 1)] {
            let svc = RequestIdLayer::new().layer(service_fn(ok));
            let mut req = request("/");
            req.headers_mut()
                .insert(X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let res = svc.oneshot(req).await.unwrap();
            assert_ne!(res.headers()[X_REQUEST_ID], bad);
            assert_eq!(res.headers()[X_REQUEST_ID].len(), 36);
        }
    }
}
