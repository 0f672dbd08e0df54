use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::future::{ParkFuture, ResponseFuture};
use crate::{BoxError, Surface};

/// The service of [`super::CorsLayer`].
#[derive(Clone, Debug)]
pub struct Cors<S> {
    pub(super) public: tower_http::cors::Cors<Park<S>>,
    pub(super) browser: tower_http::cors::Cors<Park<S>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<tower_http::cors::ResponseFuture<ParkFuture<S::Future>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either policy may take the call: both are driven to readiness (as tower's `Steer`).
        match self.public.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.browser.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let inner = if Surface::of(&req).is_browser() {
            self.browser.call(req)
        } else {
            self.public.call(req)
        };
        ResponseFuture { inner }
    }
}

/// The inner service as tower-http's policy sees it: errors arrive parked in a response
/// (see [`ParkFuture`]), so the policy's headers reach error answers too.
#[derive(Clone, Debug)]
pub struct Park<S>(pub(super) S);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Park<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ParkFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ParkFuture {
            inner: self.0.call(req),
        }
    }
}
