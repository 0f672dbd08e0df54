use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;
use tower_http::cors::ResponseFuture;

use crate::Surface;

/// The service of [`super::CorsLayer`].
#[derive(Clone, Debug)]
pub struct Cors<S> {
    pub(super) public: tower_http::cors::Cors<S>,
    pub(super) browser: tower_http::cors::Cors<S>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either policy may take the call: both are driven to readiness (as tower's `Steer`).
        match self.public.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.browser.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if Surface::of(&req).is_browser() {
            self.browser.call(req)
        } else {
            self.public.call(req)
        }
    }
}
