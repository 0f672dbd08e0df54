//! `GET /_health` and `GET /_version`: open probes (exempt from the client version gate).

use http::{Method, Request, StatusCode};
use serde_json::json;
use weir_layers::{body, AuthKind, Body, RouteMeta};

use crate::state::AppState;
use crate::VERSION;
use crate::{handler, HandlerResult, Route};

/// The edition `_version` reports: weir is always self-hosted.
pub const EDITION: &str = "SELF_HOSTED";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let open = RouteMeta::auth(AuthKind::None);
    vec![
        Route::new(
            Method::GET,
            "/openapi/v1/_health",
            open,
            handler(state, health),
        ),
        Route::new(
            Method::GET,
            "/openapi/v1/_version",
            open,
            handler(state, version),
        ),
    ]
}

async fn health(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(body::json(StatusCode::OK, &json!({"ok": true})))
}

async fn version(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(body::json(
        StatusCode::OK,
        &json!({"version": VERSION, "edition": EDITION}),
    ))
}
