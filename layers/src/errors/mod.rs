//! Error mapping: the one place where an `Err` becomes a response.
//!
//! A typed [`HttpError`] found anywhere along the error's source chain passes through
//! unchanged. Otherwise the domain's translation table (a [`Translate`] function given at
//! construction) is asked; then the errors the layers themselves raise (body too large,
//! timeout). Anything else is the generic 500 of the request's surface, logged with the
//! request id, never echoed.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::ErrorMapLayer;
pub use service::ErrorMap;

use std::error::Error;

use http::StatusCode;

use crate::error::messages;
use crate::{HttpError, Surface};

/// A translation table from domain errors to HTTP errors on a surface (`None`: not a
/// domain error).
pub type Translate = fn(&(dyn Error + 'static), Surface) -> Option<HttpError>;

/// A [`Translate`] that knows no domain errors.
pub fn no_domain_errors(_: &(dyn Error + 'static), _: Surface) -> Option<HttpError> {
    None
}

/// Finds the HTTP error for `err`, walking its source chain; `None` means an unknown failure
/// (the generic 500).
pub fn rescue(
    err: &(dyn Error + 'static),
    translate: Translate,
    surface: Surface,
) -> Option<HttpError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return Some(http.clone());
        }
        if let Some(http) = translate(e, surface) {
            return Some(http);
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return Some(HttpError::payload_too_large());
        }
        if e.is::<crate::body::ReceiveError>() {
            return Some(HttpError::bad_request(messages::BODY_NOT_RECEIVED));
        }
        if e.is::<tokio::time::error::Elapsed>() || e.is::<crate::timeout::Elapsed>() {
            return Some(HttpError::status(
                StatusCode::GATEWAY_TIMEOUT,
                messages::GATEWAY_TIMEOUT,
            ));
        }
        cur = e.source();
    }
    None
}

/// Like [`rescue`], but logs an unknown failure (with its whole chain) and answers the
/// generic 500 for it.
pub fn rescue_or_internal(
    err: &(dyn Error + 'static),
    translate: Translate,
    surface: Surface,
    request_id: &str,
) -> HttpError {
    match rescue(err, translate, surface) {
        Some(http) => {
            if http.status_code().is_server_error() {
                tracing::error!(request_id, error = %http, "server error");
            }
            http
        }
        None => {
            tracing::error!(request_id, error = %Chain(err), "unhandled error");
            HttpError::internal()
        }
    }
}

/// Displays an error and its sources, `a: b: c`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cur = self.0.source();
        while let Some(e) = cur {
            write!(f, ": {e}")?;
            cur = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{json, request};
    use crate::{body, Body, BoxError};
    use tower::{service_fn, Layer, ServiceExt};

    #[derive(Debug, thiserror::Error)]
    #[error("domain: gone")]
    struct Gone;

    fn table(e: &(dyn Error + 'static), _: Surface) -> Option<HttpError> {
        e.is::<Gone>().then(|| HttpError::not_found("Gone."))
    }

    #[derive(Debug, thiserror::Error)]
    #[error("wrapper")]
    struct Wrapper(#[source] HttpError);

    async fn answer(err: BoxError, path: &str) -> (u16, serde_json::Value) {
        let err = std::sync::Mutex::new(Some(err));
        let svc = ErrorMapLayer::new(table).layer(service_fn(move |_req: http::Request<Body>| {
            let err = err.lock().unwrap().take();
            async move {
                match err {
                    Some(e) => Err::<http::Response<Body>, _>(e),
                    None => Ok(http::Response::new(body::empty())),
                }
            }
        }));
        let res = svc.oneshot(request(path)).await.unwrap();
        (res.status().as_u16(), json(res).await)
    }

    #[tokio::test]
    async fn typed_errors_pass_through_even_when_wrapped() {
        let (status, body) = answer(
            Box::new(Wrapper(HttpError::new(
                StatusCode::IM_A_TEAPOT,
                "tea",
                "pot",
            ))),
            "/v1/x",
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str(), body["message"].as_str()),
            (418, Some("tea"), Some("pot"))
        );
    }

    #[tokio::test]
    async fn domain_errors_use_the_table() {
        let (status, body) = answer(Box::new(Gone), "/v1/x").await;
        assert_eq!((status, body["message"].as_str()), (404, Some("Gone.")));
    }

    #[tokio::test]
    async fn unknown_errors_are_generic_500_per_surface() {
        let (status, body) = answer("db password leaked".into(), "/v1/x").await;
        assert_eq!(status, 500);
        assert_eq!(
            body["message"],
            crate::surface::SERVICE_API_INTERNAL_MESSAGE
        );
        let (_, body) = answer("db password leaked".into(), "/openapi/v1/x").await;
        assert_eq!(body["message"], "Internal Server Error");
    }

    #[tokio::test]
    async fn body_limit_errors_are_413() {
        use http_body_util::BodyExt;
        let limited = http_body_util::Limited::new(
            http_body_util::Full::new(bytes::Bytes::from_static(b"12345")),
            2,
        );
        let err = limited.collect().await.unwrap_err();
        let (status, body) = answer(err, "/v1/x").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("request_entity_too_large"))
        );
    }
}
