use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower::Service;

use super::{Rate, RateCounter};
use crate::auth::AuthContext;
use crate::error::messages;
use crate::{BoxError, BoxFuture, HttpError};

/// The service of [`super::RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    pub(super) inner: S,
    pub(super) rate: Rate,
    pub(super) counter: Arc<dyn RateCounter>,
}

impl<S> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for RateLimit<S>
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let key = match req.extensions().get::<AuthContext>() {
            Some(ctx) if !self.rate.is_off() => ctx.key_id.clone(),
            _ => return Box::pin(self.inner.call(req)),
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (counter, rate) = (self.counter.clone(), self.rate);
        Box::pin(async move {
            if let Err(retry_after) = counter.hit(&key, rate).await {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return Err(
                    HttpError::too_many_requests(messages::TOO_MANY_REQUESTS, Some(secs)).into(),
                );
            }
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::auth::{AuthContext, Credential};
    use crate::errors::{no_domain_errors, ErrorMapLayer};
    use crate::test_helpers::{ok, request};
    use std::sync::Arc;
    use std::time::Duration;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    #[tokio::test(start_paused = true)]
    async fn refuses_over_rate_with_retry_after_and_recovers() {
        let svc = ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .layer(RateLimitLayer::new(
                Rate::new(2, Duration::from_secs(10)),
                Arc::new(MemoryRateCounter::new()),
            ))
            .service(service_fn(ok));
        let req = || {
            let mut r = request("/v1/info");
            r.extensions_mut().insert(AuthContext {
                credential: Credential::AppKey,
                key_id: "k".into(),
                workspace_id: "w".into(),
                app_id: None,
                scopes: Arc::new([]),
                subject: None,
                role: None,
            });
            r
        };
        assert_eq!(svc.clone().oneshot(req()).await.unwrap().status(), 200);
        assert_eq!(svc.clone().oneshot(req()).await.unwrap().status(), 200);
        let res = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "5");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(svc.oneshot(req()).await.unwrap().status(), 200);
    }
}
