//! The one typed HTTP error of weir and the generic codes of the contract.
//!
//! An [`HttpError`] raised anywhere (handler, layer, stream) reaches the client unchanged:
//! its status, code and message become the body `{"code","message","status"}`, plus the
//! optional keys (`params`, `hint`, `details`) when set.

use std::borrow::Cow;
use std::fmt;

use http::{header::HeaderName, HeaderMap, HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::{body, Body, Surface};

/// Generic error codes: the snake_case names of HTTP errors, as Dify spells them.
pub mod codes {
    /// 400.
    pub const BAD_REQUEST: &str = "bad_request";
    /// 400 validation failure on `/v1`, 422 on `/openapi/v1`.
    pub const INVALID_PARAM: &str = "invalid_param";
    /// 401.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403.
    pub const FORBIDDEN: &str = "forbidden";
    /// 404.
    pub const NOT_FOUND: &str = "not_found";
    /// 405.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 406.
    pub const NOT_ACCEPTABLE: &str = "not_acceptable";
    /// 409.
    pub const CONFLICT: &str = "conflict";
    /// 413.
    pub const REQUEST_ENTITY_TOO_LARGE: &str = "request_entity_too_large";
    /// 415.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// 416.
    pub const RANGE_NOT_SATISFIABLE: &str = "requested_range_not_satisfiable";
    /// 429.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// 500.
    pub const INTERNAL_SERVER_ERROR: &str = "internal_server_error";
    /// 502.
    pub const BAD_GATEWAY: &str = "bad_gateway";
    /// 503.
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    /// 504.
    pub const GATEWAY_TIMEOUT: &str = "gateway_timeout";
    /// Any status without a name of its own.
    pub const UNKNOWN: &str = "unknown";
}

/// Generic messages (werkzeug's descriptions, which Dify sends for bare HTTP errors).
pub mod messages {
    /// 404 for a path no route matches.
    pub const NOT_FOUND: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";
    /// 405 for a known path with the wrong method.
    pub const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
    /// 400 for a body that is not valid JSON.
    pub const BAD_REQUEST: &str =
        "The browser (or proxy) sent a request that this server could not understand.";
    /// 400 for a request body the client did not finish sending.
    pub const BODY_NOT_RECEIVED: &str = "The request body was not received completely.";
    /// 413 for a body over the limit.
    pub const REQUEST_ENTITY_TOO_LARGE: &str =
        "The data value transmitted exceeds the capacity limit.";
    /// 415 for a JSON endpoint called without a JSON content type.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.";
    /// 429 from the per-key rate limit.
    pub const TOO_MANY_REQUESTS: &str = "Too many requests. Please try again later.";
    /// 504 when a blocking request outlives its timeout.
    pub const GATEWAY_TIMEOUT: &str = "The request timed out.";
    /// 403 with no specific reason.
    pub const FORBIDDEN: &str = "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";
}

/// The code a bare HTTP error of this status carries.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => codes::BAD_REQUEST,
        401 => codes::UNAUTHORIZED,
        403 => codes::FORBIDDEN,
        404 => codes::NOT_FOUND,
        405 => codes::METHOD_NOT_ALLOWED,
        406 => codes::NOT_ACCEPTABLE,
        409 => codes::CONFLICT,
        413 => codes::REQUEST_ENTITY_TOO_LARGE,
        415 => codes::UNSUPPORTED_MEDIA_TYPE,
        416 => codes::RANGE_NOT_SATISFIABLE,
        422 => codes::INVALID_PARAM,
        429 => codes::TOO_MANY_REQUESTS,
        500 => codes::INTERNAL_SERVER_ERROR,
        502 => codes::BAD_GATEWAY,
        503 => codes::SERVICE_UNAVAILABLE,
        504 => codes::GATEWAY_TIMEOUT,
        _ => codes::UNKNOWN,
    }
}

/// One entry of `details` in a validation error (`/openapi/v1`): never echoes the input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorDetail {
    /// The kind of failure (`missing`, `value_error`, `uuid_parsing`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Path of the offending field.
    pub loc: Vec<serde_json::Value>,
    /// Human text.
    pub msg: String,
}

/// A typed HTTP error: status, code, message and optional extras.
#[derive(Clone, Debug)]
pub struct HttpError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    extra: Option<Box<Extra>>,
}

/// The rarely used parts of an [`HttpError`], boxed to keep errors small.
#[derive(Clone, Debug, Default)]
struct Extra {
    params: Option<String>,
    hint: Option<String>,
    details: Vec<ErrorDetail>,
    headers: HeaderMap,
}

/// The serialised shape of an [`HttpError`].
#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: &'a [ErrorDetail],
}

impl HttpError {
    /// An error with this status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        HttpError {
            status,
            code: code.into(),
            message: message.into(),
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// A bare HTTP error: the code follows from the status.
    pub fn status(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(status, code_for_status(status), message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, message)
    }

    /// 400 `invalid_param` (Dify's answer to any `ValueError`).
    pub fn invalid_param(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_PARAM, message)
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer realm="api"`.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::status(StatusCode::UNAUTHORIZED, message).with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"api\""),
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::status(StatusCode::FORBIDDEN, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::status(StatusCode::NOT_FOUND, message)
    }

    /// 404 for a path that matches no route.
    pub fn route_not_found() -> Self {
        Self::not_found(messages::NOT_FOUND)
    }

    /// 405 for a path whose route exists for other methods.
    pub fn method_not_allowed(allow: &str) -> Self {
        let err = Self::status(StatusCode::METHOD_NOT_ALLOWED, messages::METHOD_NOT_ALLOWED);
        match HeaderValue::from_str(allow) {
            Ok(value) => err.with_header(http::header::ALLOW, value),
            Err(_) => err,
        }
    }

    /// 413 `request_entity_too_large`.
    pub fn payload_too_large() -> Self {
        Self::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            messages::REQUEST_ENTITY_TOO_LARGE,
        )
    }

    /// 429 with a `Retry-After` header when `retry_after_s` is set.
    pub fn too_many_requests(
        message: impl Into<Cow<'static, str>>,
        retry_after_s: Option<u64>,
    ) -> Self {
        let err = Self::status(StatusCode::TOO_MANY_REQUESTS, message);
        match retry_after_s {
            Some(s) => err.with_header(http::header::RETRY_AFTER, HeaderValue::from(s.max(1))),
            None => err,
        }
    }

    /// The generic 500: code `internal_server_error`, the surface decides the message.
    pub fn internal() -> Self {
        // The message is filled in per surface when rendered; see `message_for`.
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_SERVER_ERROR,
            "",
        )
    }

    /// Sets `params` (the offending field of a Service-API `invalid_param`).
    pub fn with_params(mut self, field: impl Into<String>) -> Self {
        self.extra_mut().params = Some(field.into());
        self
    }

    /// Sets `hint` (`/openapi/v1`).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.extra_mut().hint = Some(hint.into());
        self
    }

    /// Sets `details` (`/openapi/v1` validation errors).
    pub fn with_details(mut self, details: Vec<ErrorDetail>) -> Self {
        self.extra_mut().details = details;
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.extra_mut().headers.insert(name, value);
        self
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message as raised (before the surface's 5xx rule).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `details`, if any.
    pub fn details(&self) -> &[ErrorDetail] {
        self.extra.as_ref().map_or(&[], |e| &e.details)
    }

    /// `hint`, if any.
    pub fn hint(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.hint.as_deref())
    }

    /// The message a client sees on this surface: 5xx on `/openapi/v1` are always
    /// `Internal Server Error`; an empty 500 message becomes the surface's generic text.
    pub fn message_for(&self, surface: Surface, in_stream: bool) -> &str {
        if self.status.is_server_error()
            && (surface == Surface::OpenApi
                || (self.code == codes::INTERNAL_SERVER_ERROR && self.message.is_empty()))
        {
            return surface.internal_message(in_stream);
        }
        &self.message
    }

    /// The JSON body as a client sees it on this surface.
    pub fn body_json(&self, surface: Surface, in_stream: bool) -> serde_json::Value {
        serde_json::to_value(self.body(surface, in_stream)).unwrap_or(serde_json::Value::Null)
    }

    fn body(&self, surface: Surface, in_stream: bool) -> ErrorBody<'_> {
        let generic = self.code == codes::INTERNAL_SERVER_ERROR && self.message.is_empty();
        ErrorBody {
            // The console answers an unhandled failure as `unknown` (flask-restx's default).
            code: if generic && surface.is_browser() {
                codes::UNKNOWN
            } else {
                &self.code
            },
            message: self.message_for(surface, in_stream),
            status: self.status.as_u16(),
            params: self.extra.as_ref().and_then(|e| e.params.as_deref()),
            hint: self.hint(),
            details: self.details(),
        }
    }

    /// The HTTP response for this error on this surface. The response carries an
    /// [`ErrorInfo`] extension so outer layers can classify it without parsing the body.
    pub fn into_response(self, surface: Surface) -> Response<Body> {
        let bytes = serde_json::to_vec(&self.body(surface, false)).unwrap_or_default();
        let mut res = body::json_bytes(self.status, bytes);
        if let Some(extra) = &self.extra {
            for (name, value) in &extra.headers {
                res.headers_mut().insert(name.clone(), value.clone());
            }
        }
        res.extensions_mut().insert(ErrorInfo {
            code: self.code.clone(),
        });
        res
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

/// An error on its way out to which a layer it passed has added response headers (CORS):
/// the error layer renders `error` as it would alone, then sets `headers`.
#[derive(Debug)]
pub struct WithHeaders {
    /// The error itself.
    pub error: crate::BoxError,
    /// Headers for the answer rendered from it.
    pub headers: HeaderMap,
}

impl fmt::Display for WithHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for WithHeaders {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Marker put in the extensions of every error response, naming its code.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    /// The error code of the response.
    pub code: Cow<'static, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(res: Response<Body>) -> serde_json::Value {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn serialises_dify_shape() {
        let res = HttpError::new(StatusCode::BAD_REQUEST, "not_chat_app", "wrong mode")
            .into_response(Surface::ServiceApi);
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(
            body_of(res).await,
            serde_json::json!({"code":"not_chat_app","message":"wrong mode","status":400})
        );
    }

    #[tokio::test]
    async fn internal_message_depends_on_surface() {
        let v1 = body_of(HttpError::internal().into_response(Surface::ServiceApi)).await;
        assert_eq!(v1["message"], crate::surface::SERVICE_API_INTERNAL_MESSAGE);
        let open = body_of(HttpError::internal().into_response(Surface::OpenApi)).await;
        assert_eq!(open["message"], "Internal Server Error");
        assert_eq!(open["code"], codes::INTERNAL_SERVER_ERROR);
        // Any 5xx on the OpenAPI surface hides its text.
        let bad_gateway = HttpError::status(StatusCode::BAD_GATEWAY, "upstream said secret");
        let open = body_of(bad_gateway.into_response(Surface::OpenApi)).await;
        assert_eq!(open["message"], "Internal Server Error");
    }

    #[tokio::test]
    async fn optional_keys_are_omitted_when_empty() {
        let res = HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_PARAM, "x")
            .into_response(Surface::OpenApi);
        let body = body_of(res).await;
        assert!(body.get("details").is_none() && body.get("hint").is_none());
        let res = HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_PARAM, "x")
            .with_details(vec![ErrorDetail {
                kind: "missing".into(),
                loc: vec!["inputs".into()],
                msg: "Field required".into(),
            }])
            .with_hint("h")
            .into_response(Surface::OpenApi);
        let body = body_of(res).await;
        assert_eq!(body["details"][0]["type"], "missing");
        assert_eq!(body["hint"], "h");
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let res = HttpError::unauthorized("x").into_response(Surface::ServiceApi);
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    }

    #[test]
    fn status_map() {
        assert_eq!(
            code_for_status(StatusCode::UNPROCESSABLE_ENTITY),
            "invalid_param"
        );
        assert_eq!(code_for_status(StatusCode::IM_A_TEAPOT), "unknown");
    }
}
