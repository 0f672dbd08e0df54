//! CORS as Dify's API answers it: any origin (the Service API is called with bearer keys,
//! never cookies), any method and header, and the diagnostic headers exposed.
//!
//! This is tower-http's `CorsLayer` configured once, so every stack gets the same policy.

use http::HeaderName;
use tower_http::cors::Any;
pub use tower_http::cors::CorsLayer;

/// Response headers browsers may read.
pub const EXPOSED_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-env"),
    HeaderName::from_static("x-trace-id"),
    HeaderName::from_static("x-version"),
    HeaderName::from_static("x-request-id"),
];

/// The CORS layer of weir's default stack.
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(EXPOSED_HEADERS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::ok;
    use crate::{body, Body};
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn preflight_and_simple_requests() {
        let svc = layer().layer(service_fn(ok));
        let req = http::Request::builder()
            .method("OPTIONS")
            .uri("/v1/chat-messages")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body::<Body>(body::empty())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let req = http::Request::builder()
            .uri("/v1/info")
            .header("origin", "https://app.example")
            .body::<Body>(body::empty())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-version"));
    }
}
