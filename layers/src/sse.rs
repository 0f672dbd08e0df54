//! Server-sent-event framing as Dify writes it: `data: <compact JSON>\n\n` per event, and a
//! bare `event: ping\n\n` keep-alive with no data line.

use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue, Response, StatusCode};

use crate::{Body, HttpError, Surface};

/// The content type of every stream (observed, Dify 1.14).
pub const CONTENT_TYPE: HeaderValue = HeaderValue::from_static("text/event-stream; charset=utf-8");

/// The keep-alive frame.
pub const PING: &[u8] = b"event: ping\n\n";

/// The name of the error event.
pub const ERROR_EVENT: &str = "error";

/// Frames one event from its serialised JSON object.
pub fn data_frame(json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + 8);
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// Frames one JSON event with an `id:` line (a position a client can resume after).
pub fn data_frame_with_id(json: &[u8], id: u64) -> Bytes {
    let id = id.to_string();
    let mut buf = BytesMut::with_capacity(json.len() + id.len() + 12);
    buf.put_slice(b"id: ");
    buf.put_slice(id.as_bytes());
    buf.put_slice(b"\n");
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// Serialises `value` and frames it.
pub fn event_frame<T: serde::Serialize + ?Sized>(value: &T) -> Bytes {
    let json = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    data_frame(&json)
}

/// The `error` event for `err`: `{"event":"error", <envelope…>, "status","code","message"}`.
/// `envelope` holds the stream's own keys (conversation id, message id, …) and may be empty.
pub fn error_frame(
    err: &HttpError,
    surface: Surface,
    envelope: serde_json::Map<String, serde_json::Value>,
) -> Bytes {
    let mut obj = serde_json::Map::with_capacity(envelope.len() + 4);
    obj.insert("event".into(), ERROR_EVENT.into());
    obj.extend(envelope);
    if let serde_json::Value::Object(body) = err.body_json(surface, true) {
        obj.extend(body);
    }
    event_frame(&obj)
}

/// Whether a response is an SSE stream.
pub fn is_event_stream<B>(res: &Response<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// A 200 SSE response around `body`.
pub fn response(body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::OK;
    res.headers_mut().insert(header::CONTENT_TYPE, CONTENT_TYPE);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(&data_frame(b"{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        let mut env = serde_json::Map::new();
        env.insert("message_id".into(), "m".into());
        let frame = error_frame(
            &HttpError::new(StatusCode::BAD_REQUEST, "completion_request_error", "boom"),
            Surface::ServiceApi,
            env,
        );
        assert_eq!(
            &frame[..],
            &b"data: {\"event\":\"error\",\"message_id\":\"m\",\"code\":\"completion_request_error\",\"message\":\"boom\",\"status\":400}\n\n"[..]
        );
        let frame = error_frame(
            &HttpError::internal(),
            Surface::ServiceApi,
            Default::default(),
        );
        assert!(std::str::from_utf8(&frame)
            .unwrap()
            .contains("Internal Server Error, please contact support."));
    }
}
