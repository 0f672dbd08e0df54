//! Request body limit: a declared `Content-Length` over the limit is refused at once with
//! 413; otherwise the body is wrapped so that reading past the limit fails with
//! `LengthLimitError`, which the error layer also answers with 413. A route may carry its
//! own limit ([`crate::RouteMeta::body_limit`], e.g. uploads).

mod layer;
mod service;

pub use layer::BodyLimitLayer;
pub use service::BodyLimit;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        body,
        errors::{no_domain_errors, ErrorMapLayer},
        Body, BoxError,
    };
    use http_body_util::BodyExt;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    async fn read_all(req: http::Request<Body>) -> Result<http::Response<Body>, BoxError> {
        let bytes = req.into_body().collect().await?.to_bytes();
        Ok(http::Response::new(body::full(bytes)))
    }

    fn svc(
    ) -> impl tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = BoxError>
           + Clone {
        ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .layer(BodyLimitLayer::new(4))
            .service(service_fn(read_all))
    }

    #[tokio::test]
    async fn declared_length_over_limit_is_413() {
        let req = http::Request::builder()
            .header("content-length", "5")
            .body(body::full("12345"))
            .unwrap();
        let res = svc().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 413);
    }

    #[tokio::test]
    async fn streamed_body_over_limit_is_413() {
        let res = svc()
            .oneshot(http::Request::new(body::full("123456")))
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
    }

    #[tokio::test]
    async fn body_within_limit_passes() {
        let res = svc()
            .oneshot(http::Request::new(body::full("1234")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}
