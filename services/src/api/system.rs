//! weir's own routes: health, metrics, and the welcome object of `GET /v1/`.

use http::{header, HeaderValue, Method, Request, StatusCode};
use serde_json::json;
use weir_layers::{body, AuthKind, Body, RouteMeta};

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

async fn metrics(state: AppState, _req: Request<Body>) -> HandlerResult {
    let mut res = http::Response::new(body::full(state.metrics().render()));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}
