use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::{acceptable, generate, RequestId, ResponseFuture, X_REQUEST_ID};

/// The service of [`super::RequestIdLayer`].
#[derive(Clone, Debug)]
pub struct SetRequestId<S> {
    pub(super) inner: S,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for SetRequestId<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let id = match req.headers().get(X_REQUEST_ID) {
            Some(value) if acceptable(value) => value.clone(),
            _ => generate(),
        };
        req.headers_mut().insert(X_REQUEST_ID, id.clone());
        req.extensions_mut().insert(RequestId(id.clone()));
        ResponseFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}
