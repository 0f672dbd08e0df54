//! Success replies every surface shares: JSON with a status, `{"result": "success"}`, and
//! the empty 204.

use http::StatusCode;
use serde_json::{json, Value};
use weir_layers::{body, Body};

/// 200 with a JSON body.
pub fn ok(value: &Value) -> http::Response<Body> {
    body::json(StatusCode::OK, value)
}

/// 201 with a JSON body.
pub fn created(value: &Value) -> http::Response<Body> {
    body::json(StatusCode::CREATED, value)
}

/// 200 `{"result": "success"}`.
pub fn success() -> http::Response<Body> {
    ok(&json!({"result": "success"}))
}

/// 204 with an empty body.
pub fn no_content() -> http::Response<Body> {
    let mut res = http::Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}
