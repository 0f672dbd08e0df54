use std::task::{Context, Poll};

use futures_util::future::{Either, Ready};
use http::{header, Request};
use http_body_util::Limited;
use tower::Service;

use crate::{body, Body, BoxError, HttpError, MatchedRoute};

/// The service of [`super::BodyLimitLayer`].
#[derive(Clone, Debug)]
pub struct BodyLimit<S> {
    pub(super) inner: S,
    pub(super) max: u64,
}

impl<S> Service<Request<Body>> for BodyLimit<S>
where
    S: Service<Request<Body>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<Ready<Result<S::Response, BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let max = req
            .extensions()
            .get::<MatchedRoute>()
            .and_then(|m| m.meta.body_limit)
            .unwrap_or(self.max);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max) {
            return Either::Left(futures_util::future::ready(Err(
                HttpError::payload_too_large().into(),
            )));
        }
        let req = req.map(|b| body::boxed(Limited::new(b, max as usize)));
        Either::Right(self.inner.call(req))
    }
}
