use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderMap, Response};
use pin_project::pin_project;

use super::{rescue_or_internal, Translate};
use crate::error::WithHeaders;
use crate::{request_id::RequestId, Body, BoxError, Surface};

/// Response future of [`super::ErrorMap`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    pub(super) inner: F,
    pub(super) surface: Surface,
    pub(super) request_id: Option<RequestId>,
    pub(super) translate: Translate,
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.inner.poll(cx)) {
            Ok(res) => Poll::Ready(Ok(res)),
            Err(err) => {
                let (err, headers) = match err.into().downcast::<WithHeaders>() {
                    Ok(with) => (with.error, with.headers),
                    Err(err) => (err, HeaderMap::new()),
                };
                let id = this
                    .request_id
                    .as_ref()
                    .map(RequestId::as_str)
                    .unwrap_or("");
                let http = rescue_or_internal(&*err, *this.translate, *this.surface, id);
                let mut res = http.into_response(*this.surface);
                for (name, value) in &headers {
                    res.headers_mut().append(name, value.clone());
                }
                Poll::Ready(Ok(res))
            }
        }
    }
}
