//! Helpers for the layer unit tests.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;

use crate::{body, Body, BoxError};

/// A request with an empty body.
pub(crate) fn request(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(body::empty()).unwrap()
}

/// Collects a response body.
pub(crate) async fn bytes<B>(res: Response<B>) -> Bytes
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    res.into_body().collect().await.unwrap().to_bytes()
}

/// Collects a JSON response body.
pub(crate) async fn json<B>(res: Response<B>) -> serde_json::Value
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    serde_json::from_slice(&bytes(res).await).unwrap()
}

/// A 200 with body `ok`.
pub(crate) async fn ok(_req: Request<Body>) -> Result<Response<Body>, BoxError> {
    Ok(Response::new(body::full("ok")))
}
