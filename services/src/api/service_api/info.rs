//! App information: `/info`.

use http::{Method, Request, StatusCode};
use serde_json::json;
use weir_layers::{body, AuthKind, Body, RouteMeta};

use crate::api::context::current_app;
use crate::api::{handler, HandlerResult, Route};
use crate::state::AppState;

const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/v1/info",
        APP_KEY,
        handler(state, info),
    )]
}

async fn info(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "name": app.name,
            "description": app.description,
            "tags": [],
            "mode": app.mode,
            "author_name": "weir",
        }),
    ))
}
