use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project::pin_project;

use crate::error::WithHeaders;
use crate::BoxError;

/// An error from the inner service, parked in an empty response's extensions so that
/// tower-http's CORS policy decorates it like any answer.
#[derive(Clone)]
pub(super) struct Parked(Arc<Mutex<Option<BoxError>>>);

impl Parked {
    fn take(&self) -> Option<BoxError> {
        self.0.lock().ok()?.take()
    }
}

/// Future of the inner service seen by tower-http: an `Err` becomes an empty response
/// carrying it.
#[pin_project]
pub struct ParkFuture<F> {
    #[pin]
    pub(super) inner: F,
}

impl<F, B, E> Future for ParkFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match ready!(self.project().inner.poll(cx)) {
            Ok(res) => res,
            Err(err) => {
                let mut res = Response::new(B::default());
                res.extensions_mut()
                    .insert(Parked(Arc::new(Mutex::new(Some(err.into())))));
                res
            }
        }))
    }
}

/// Response future of [`super::Cors`]: a parked error leaves as `Err` again, wrapped in
/// [`WithHeaders`] with the CORS headers the policy set, for the error layer to render.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    pub(super) inner: F,
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, BoxError>>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(self.project().inner.poll(cx))?;
        match res.extensions().get::<Parked>().and_then(Parked::take) {
            None => Poll::Ready(Ok(res)),
            Some(error) => {
                let headers = res.into_parts().0.headers;
                Poll::Ready(Err(Box::new(WithHeaders { error, headers })))
            }
        }
    }
}
