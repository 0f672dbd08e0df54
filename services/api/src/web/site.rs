//! What a web-app page shows of its app: the site (title, theme, icons, language), the
//! input form and features (`parameters`, as the Service API answers it), and tool icons.

use http::{Method, Request};
use serde_json::json;
use weir_layers::{Body, HttpError};

use super::{visitor, PASSPORT};
use crate::console::app_json::site_public_json;
use crate::reply::ok;
use crate::service_api::info::{meta_json, parameters_json};
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/site", PASSPORT, handler(state, site)),
        Route::new(
            Method::GET,
            "/api/parameters",
            PASSPORT,
            handler(state, parameters),
        ),
        Route::new(Method::GET, "/api/meta", PASSPORT, handler(state, meta)),
    ]
}

async fn site(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let site = state
        .store()
        .site(&app.row.id)
        .await?
        .ok_or_else(|| HttpError::forbidden(weir_layers::error::messages::FORBIDDEN))?;
    let mut shown = site_public_json(&state, &site);
    shown["prompt_public"] = json!(site.prompt_public);
    Ok(ok(
        &json!({"app_id": app.row.id, "end_user_id": user.id, "enable_site": app.row.enable_site,
        "site": shown, "model_config": null, "plan": "basic", "can_replace_logo": false,
        "custom_config": null}),
    ))
}

async fn parameters(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, _) = visitor(&state, &req).await?;
    Ok(ok(&parameters_json(&state, &app)?))
}

async fn meta(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, _) = visitor(&state, &req).await?;
    Ok(ok(&meta_json(&app)))
}
