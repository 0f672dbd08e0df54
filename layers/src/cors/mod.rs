//! CORS, per surface. The Service API and `/openapi/v1` answer as Dify does: any origin
//! (they are called with bearer keys, never cookies), any method and header. The console and
//! web-app APIs are called by a browser with cookies, so they allow credentials, and only
//! from the console's and web app's own origins.
//!
//! Both policies are tower-http's `CorsLayer`; [`CorsLayer`] picks one per request by its
//! [`Surface`](crate::Surface). Errors from inside get the policy's headers too (a browser
//! must be able to read a 401): they leave wrapped in [`WithHeaders`](crate::error::WithHeaders)
//! for the error layer to render.

mod future;
mod layer;
mod service;

pub use future::{ParkFuture, ResponseFuture};
pub use layer::CorsLayer;
pub use service::{Cors, Park};

use http::{HeaderName, Method};

/// Response headers browsers may read.
pub const EXPOSED_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("x-env"),
    HeaderName::from_static("x-trace-id"),
    HeaderName::from_static("x-version"),
    HeaderName::from_static("x-request-id"),
];

/// Request headers the console and web app send.
pub const BROWSER_HEADERS: [HeaderName; 5] = [
    http::header::CONTENT_TYPE,
    HeaderName::from_static("x-app-code"),
    HeaderName::from_static("x-app-passport"),
    http::header::AUTHORIZATION,
    HeaderName::from_static("x-csrf-token"),
];

/// Methods the console and web app use.
pub const BROWSER_METHODS: [Method; 6] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::PATCH,
];

/// The CORS layer of weir's default stack, with no browser origin allowed.
pub fn layer() -> CorsLayer {
    CorsLayer::new(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::ok;
    use crate::{body, Body};
    use tower::{service_fn, Layer, ServiceExt};

    fn request(method: &str, path: &str, origin: &'static str) -> http::Request<Body> {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body::<Body>(body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn the_service_api_allows_any_origin_without_credentials() {
        let svc = layer().layer(service_fn(ok));
        let res = svc
            .clone()
            .oneshot(request(
                "OPTIONS",
                "/v1/chat-messages",
                "https://app.example",
            ))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let res = svc
            .oneshot(request("GET", "/v1/info", "https://app.example"))
            .await
            .unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-version"));
    }

    #[tokio::test]
    async fn the_console_allows_its_origin_with_credentials_and_no_other() {
        let svc = CorsLayer::new(&["http://127.0.0.1:3000".into()]).layer(service_fn(ok));
        for path in ["/console/api/apps", "/api/passport"] {
            let res = svc
                .clone()
                .oneshot(request("OPTIONS", path, "http://127.0.0.1:3000"))
                .await
                .unwrap();
            assert_eq!(
                res.headers()["access-control-allow-origin"],
                "http://127.0.0.1:3000"
            );
            assert_eq!(res.headers()["access-control-allow-credentials"], "true");
            let res = svc
                .clone()
                .oneshot(request("OPTIONS", path, "https://evil.example"))
                .await
                .unwrap();
            assert!(res.headers().get("access-control-allow-origin").is_none());
        }
    }

    #[tokio::test]
    async fn an_error_from_inside_carries_the_policy_headers() {
        use crate::errors::{no_domain_errors, ErrorMapLayer};
        let refuse = |_req: http::Request<Body>| async {
            Err::<http::Response<Body>, crate::BoxError>(Box::new(crate::HttpError::unauthorized(
                "Invalid token.",
            )))
        };
        let svc = ErrorMapLayer::new(no_domain_errors)
            .layer(CorsLayer::new(&["http://127.0.0.1:3000".into()]).layer(service_fn(refuse)));
        let res = svc
            .oneshot(request(
                "GET",
                "/console/api/account/profile",
                "http://127.0.0.1:3000",
            ))
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "http://127.0.0.1:3000"
        );
        assert_eq!(res.headers()["access-control-allow-credentials"], "true");
        assert!(res.headers().contains_key("www-authenticate"));
        let body = crate::test_helpers::json(res).await;
        assert_eq!(body["code"], "unauthorized");
    }
}
