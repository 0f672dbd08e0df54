//! Reading requests the way Dify does: JSON bodies (415 without a JSON content type, 400 for
//! empty or broken JSON, 400 `invalid_param` for wrong types), query strings, path
//! parameters and the `user` field.

use bytes::Bytes;
use http::{header, Request};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use weir_layers::error::{codes, messages};
use weir_layers::{Body, BoxError, HttpError, MatchedRoute};

/// Whether the request declares a JSON body.
pub fn is_json(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

/// Reads the whole body (the body limit layer bounds it).
pub async fn read_body(body: Body) -> Result<Bytes, BoxError> {
    Ok(body.collect().await?.to_bytes())
}

/// 415 for a JSON endpoint called without a JSON body.
pub fn unsupported_media_type() -> HttpError {
    HttpError::status(
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        messages::UNSUPPORTED_MEDIA_TYPE,
    )
}

/// Reads a JSON object body by Dify's rules: no JSON content type → 415; empty, broken or
/// non-object JSON → 400 `bad_request`.
pub async fn json_object(req: Request<Body>) -> Result<serde_json::Map<String, Value>, BoxError> {
    if !is_json(&req) {
        return Err(unsupported_media_type().into());
    }
    let bytes = read_body(req.into_body()).await?;
    let bad = || HttpError::bad_request(messages::BAD_REQUEST);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad().into());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad().into()),
    }
}

/// Deserialises a JSON value into `T`; failures are 400 `invalid_param` naming the problem.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, HttpError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        HttpError::new(http::StatusCode::BAD_REQUEST, codes::INVALID_PARAM, text)
    })
}

/// Reads and deserialises a JSON object body.
pub async fn json_body<T: DeserializeOwned>(req: Request<Body>) -> Result<T, BoxError> {
    let map = json_object(req).await?;
    Ok(from_value(Value::Object(map))?)
}

/// The query string as decoded pairs.
pub fn query_pairs(req: &Request<Body>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The first value of a query parameter.
pub fn query_param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A path parameter of the matched route (the router guarantees its presence).
pub fn path_param(req: &Request<Body>, name: &str) -> String {
    req.extensions()
        .get::<MatchedRoute>()
        .and_then(|m| m.param(name))
        .unwrap_or_default()
        .to_owned()
}

/// Coerces a JSON `user` value to Dify's string form (numbers become text; null/absent → None).
pub fn user_string(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_layers::body;

    fn req(ct: Option<&str>, b: &'static str) -> Request<Body> {
        let mut r = Request::builder().method("POST").uri("/v1/x");
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.body(body::full(b)).unwrap()
    }

    async fn status(r: Request<Body>) -> (u16, String) {
        match json_object(r).await {
            Ok(_) => (200, String::new()),
            Err(e) => {
                let h = e.downcast_ref::<HttpError>().unwrap();
                (h.status_code().as_u16(), h.code().to_owned())
            }
        }
    }

    #[tokio::test]
    async fn dify_json_rules() {
        assert_eq!(
            status(req(None, "{}")).await,
            (415, "unsupported_media_type".into())
        );
        assert_eq!(status(req(Some("text/plain"), "{}")).await.0, 415);
        assert_eq!(
            status(req(Some("application/json"), "")).await,
            (400, "bad_request".into())
        );
        assert_eq!(
            status(req(Some("application/json"), "{\"a\":")).await.0,
            400
        );
        assert_eq!(status(req(Some("application/json"), "[1]")).await.0, 400);
        assert_eq!(status(req(Some("application/json"), "null")).await.0, 400);
        assert_eq!(
            status(req(Some("application/json; charset=utf-8"), "{}"))
                .await
                .0,
            200
        );
    }

    #[test]
    fn users_are_strings() {
        assert_eq!(user_string(Some(&serde_json::json!(42))), Some("42".into()));
        assert_eq!(user_string(Some(&Value::Null)), None);
    }
}
