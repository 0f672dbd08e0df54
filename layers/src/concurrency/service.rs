use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::{over_cap, SlotBody, SlotStore};
use crate::auth::AuthContext;
use crate::{BoxError, BoxFuture, MatchedRoute};

/// The service of [`super::AppConcurrencyLayer`].
#[derive(Clone)]
pub struct AppConcurrency<S> {
    pub(super) inner: S,
    pub(super) max: u32,
    pub(super) store: Arc<dyn SlotStore>,
}

impl<S> std::fmt::Debug for AppConcurrency<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConcurrency")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResB> Service<Request<B>> for AppConcurrency<S>
where
    S: Service<Request<B>, Response = Response<ResB>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<SlotBody<ResB>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let is_generation = req
            .extensions()
            .get::<MatchedRoute>()
            .is_some_and(|m| m.meta.generation);
        let app_id = req
            .extensions()
            .get::<AuthContext>()
            .and_then(|ctx| ctx.app_id.clone())
            .or_else(|| {
                req.extensions()
                    .get::<MatchedRoute>()
                    .and_then(|m| m.param("app_id"))
                    .map(|id| id.to_ascii_lowercase().into())
            });
        let surface = crate::Surface::of(&req);
        let app_id = match app_id {
            Some(app_id) if is_generation && self.max > 0 => app_id,
            _ => {
                let fut = self.inner.call(req);
                return Box::pin(async move { Ok(fut.await?.map(|b| SlotBody::new(b, None))) });
            }
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (store, max) = (self.store.clone(), self.max);
        Box::pin(async move {
            let slot = store
                .acquire(&app_id, max)
                .await
                .ok_or_else(|| over_cap(&app_id, max, surface))?;
            let res = inner.call(req).await?;
            Ok(res.map(|b| SlotBody::new(b, Some(slot))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::auth::{AuthContext, Credential};
    use crate::errors::{no_domain_errors, ErrorMapLayer};
    use crate::route::{AuthKind, MatchedRoute, RouteMeta};
    use crate::test_helpers::{bytes, json, request};
    use crate::{body, Body, BoxError};
    use std::sync::Arc;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    #[tokio::test]
    async fn slot_is_held_until_the_body_ends() {
        let store = Arc::new(MemorySlotStore::new());
        let svc = ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .map_response(|res: http::Response<SlotBody<Body>>| res.map(body::boxed))
            .layer(AppConcurrencyLayer::new(1, store.clone()))
            .service(service_fn(|_req: http::Request<Body>| async {
                Ok::<_, BoxError>(http::Response::new(body::full("x")))
            }));
        let req = || {
            let mut r = request("/v1/chat-messages");
            r.extensions_mut().insert(MatchedRoute {
                template: "/v1/chat-messages",
                meta: RouteMeta::auth(AuthKind::AppKey).generation(),
                params: Arc::new([]),
            });
            r.extensions_mut().insert(AuthContext {
                credential: Credential::AppKey,
                key_id: "k".into(),
                workspace_id: "w".into(),
                app_id: Some("app-1".into()),
                scopes: Arc::new([]),
                subject: None,
                role: None,
            });
            r
        };
        let first = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(store.held("app-1"), 1);
        let second = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(second.status(), 429);
        let body = json(second).await;
        assert_eq!(body["code"], "too_many_requests");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .ends_with("allowed for app-1 is 1."));
        bytes(first).await;
        assert_eq!(store.held("app-1"), 0);
        assert_eq!(svc.oneshot(req()).await.unwrap().status(), 200);
    }
}
