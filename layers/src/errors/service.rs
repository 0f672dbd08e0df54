use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::{ResponseFuture, Translate};
use crate::{request_id::RequestId, Body, BoxError, Surface};

/// The service of [`super::ErrorMapLayer`].
#[derive(Clone, Debug)]
pub struct ErrorMap<S> {
    pub(super) inner: S,
    pub(super) translate: Translate,
}

impl<S, ReqB> Service<Request<ReqB>> for ErrorMap<S>
where
    S: Service<Request<ReqB>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let surface = Surface::of(&req);
        let request_id = req.extensions().get::<RequestId>().cloned();
        ResponseFuture {
            inner: self.inner.call(req),
            surface,
            request_id,
            translate: self.translate,
        }
    }
}
