use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Request, Response};
use tower::Service;

use super::{panic_message, CatchPanicBody, ResponseFuture};
use crate::{request_id::RequestId, Surface};

/// The service of [`super::CatchPanicLayer`].
#[derive(Clone, Debug)]
pub struct CatchPanic<S> {
    pub(super) inner: S,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CatchPanic<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<CatchPanicBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let surface = Surface::of(&req);
        let request_id = RequestId::of(&req).to_owned();
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(future) => ResponseFuture::Future {
                inner: AssertUnwindSafe(future).catch_unwind(),
                surface,
                request_id,
            },
            Err(payload) => {
                tracing::error!(
                    request_id,
                    panic = panic_message(&*payload),
                    "handler panicked"
                );
                ResponseFuture::Panicked {
                    surface: Some(surface),
                }
            }
        }
    }
}
