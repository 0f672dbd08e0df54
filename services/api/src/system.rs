//! weir's own routes: health, metrics, and the welcome object of `GET /v1/`.

use http::{header, HeaderValue, Method, Request, StatusCode};
use serde_json::json;
use weir_layers::{body, AuthKind, Body, HttpError, RouteMeta};

use super::{handler, HandlerResult, Route};
use crate::state::AppState;
use crate::VERSION;

const OPEN: RouteMeta = RouteMeta::auth(AuthKind::None);

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/health", OPEN, handler(state, health)),
        Route::new(Method::GET, "/metrics", OPEN, handler(state, metrics)),
        Route::new(Method::GET, "/v1/", OPEN, handler(state, welcome)),
    ]
}

async fn health(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(body::json(
        StatusCode::OK,
        &json!({"status": "ok", "version": VERSION}),
    ))
}

async fn welcome(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(body::json(
        StatusCode::OK,
        &json!({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": VERSION}),
    ))
}

/// `/metrics` on the public address: only with the configured `metrics_token` (otherwise
/// the route does not exist there; `metrics_bind` serves it to the operator's network).
async fn metrics(state: AppState, req: Request<Body>) -> HandlerResult {
    let token = &state.settings().metrics_token;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() || !crate::util::ct_eq(presented.as_bytes(), token.as_bytes()) {
        return Err(HttpError::route_not_found().into());
    }
    Ok(metrics_response(state.metrics()))
}

/// The Prometheus text of `metrics`.
pub fn metrics_response(metrics: &weir_layers::metrics::Metrics) -> http::Response<Body> {
    let mut res = http::Response::new(body::full(metrics.render()));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
