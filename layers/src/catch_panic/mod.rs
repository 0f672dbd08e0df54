//! Catch panics: a panic while building or polling a handler's future, or while polling its
//! response body, becomes the generic 500 of the contract (an SSE `error` event when the
//! stream had already started). It is logged once with the request id and the panic
//! message; the client never sees the message, and the server keeps serving.

mod body;
mod future;
mod layer;
mod service;

pub use body::CatchPanicBody;
pub use future::ResponseFuture;
pub use layer::CatchPanicLayer;
pub use service::CatchPanic;

use std::any::Any;

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_helpers::{bytes, json, request};
    use crate::{body, sse, Body, BoxError};
    use http_body_util::{BodyExt, StreamBody};
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn panic_in_call_becomes_generic_500() {
        let svc = CatchPanicLayer::new().layer(service_fn(|_req: http::Request<Body>| {
            if true {
                panic!("secret detail");
            }
            async { Ok::<_, BoxError>(http::Response::new(body::empty())) }
        }));
        let res = svc.oneshot(request("/v1/x")).await.unwrap();
        assert_eq!(res.status(), 500);
        let body = json(res).await;
        assert_eq!(body["code"], "internal_server_error");
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn panic_in_future_becomes_generic_500() {
        let svc = CatchPanicLayer::new().layer(service_fn(|_req: http::Request<Body>| async {
            panic!("later");
            #[allow(unreachable_code)]
            Ok::<_, BoxError>(http::Response::new(body::empty()))
        }));
        let res = svc.oneshot(request("/openapi/v1/x")).await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(json(res).await["message"], "Internal Server Error");
    }

    #[tokio::test]
    async fn panic_in_stream_becomes_error_event() {
        let svc = CatchPanicLayer::new().layer(service_fn(|_req: http::Request<Body>| async {
            let frames = futures_util::stream::iter(0..2).map(|i| {
                if i == 1 {
                    panic!("mid-stream");
                }
                Ok::<_, BoxError>(http_body::Frame::data(bytes::Bytes::from_static(
                    b"data: {}\n\n",
                )))
            });
            use futures_util::StreamExt;
            Ok::<_, BoxError>(sse::response(StreamBody::new(frames).boxed_unsync()))
        }));
        let res = svc.oneshot(request("/v1/x")).await.unwrap();
        let text = String::from_utf8(bytes(res).await.to_vec()).unwrap();
        assert!(text.starts_with("data: {}\n\n"), "{text}");
        assert!(text.contains("\"event\":\"error\""), "{text}");
        assert!(text.contains("internal_server_error"));
    }
}
