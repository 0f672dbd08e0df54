use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower::Service;

use super::{presented, Authenticate, FailureThrottle};
use crate::{AuthKind, BoxError, BoxFuture, ClientAddr, HttpError, MatchedRoute};

/// The service of [`super::AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    pub(super) inner: S,
    pub(super) authenticator: Arc<dyn Authenticate>,
    pub(super) throttle: Option<Arc<FailureThrottle>>,
}

impl<S> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let route = match req.extensions().get::<MatchedRoute>() {
            Some(route) if route.meta.auth != AuthKind::None => route.clone(),
            _ => return Box::pin(self.inner.call(req)),
        };
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        let throttle = self.throttle.clone();
        let client = req.extensions().get::<ClientAddr>().map(|c| c.0.ip());
        Box::pin(async move {
            let credential = presented(req.headers(), route.meta.auth)?;
            let throttled = throttle.as_deref().zip(client);
            if let Some((t, ip)) = throttled {
                t.check(ip)?;
            }
            let ctx = match authenticator.authenticate(&route, credential).await {
                Ok(ctx) => ctx,
                Err(e) => {
                    let refused = e
                        .downcast_ref::<HttpError>()
                        .is_some_and(|h| h.status_code() == http::StatusCode::UNAUTHORIZED);
                    if let (true, Some((t, ip))) = (refused, throttled) {
                        t.record(ip);
                    }
                    return Err(e);
                }
            };
            req.extensions_mut().insert(ctx);
            inner.call(req).await
        })
    }
}
