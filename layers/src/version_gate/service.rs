use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready};
use http::{header, Request};
use tower::Service;

use super::layer::Config;
use super::{client_version, refusal, Version};
use crate::BoxError;

/// The service of [`super::VersionGateLayer`].
#[derive(Clone, Debug)]
pub struct VersionGate<S> {
    pub(super) inner: S,
    pub(super) config: Arc<Config>,
}

impl<S, B> Service<Request<B>> for VersionGate<S>
where
    S: Service<Request<B>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<Ready<Result<S::Response, BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let c = &self.config;
        let path = req.uri().path();
        if path.starts_with(&c.prefix) && !c.exempt.iter().any(|e| e == path) {
            let ua = req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if let Some(v) = client_version(ua, &c.client) {
                if Version::parse(&v).is_some_and(|parsed| parsed < c.min_parsed) {
                    let err = refusal(&c.client, &v, &c.min, &c.hint);
                    return Either::Left(futures_util::future::ready(Err(err.into())));
                }
            }
        }
        Either::Right(self.inner.call(req))
    }
}
