//! How a web-app page becomes an end user: the public feature flags, the access mode
//! (public: weir has no enterprise web-app login), the check of a stored passport, and the
//! passport itself — a signed token naming the app, a fresh anonymous end user (or the one of
//! the page's `user_id`) and the site code it was issued for.

use http::{Method, Request};
use serde_json::json;
use weir_layers::{Body, HttpError};

use super::{BROWSER_USER, OPEN};
use crate::console::account::system_features_json;
use crate::error::{ConsoleError, ServiceError};
use crate::reply::{ok, success};
use crate::request::{query_pairs, query_param};
use crate::runtime::accounts::TokenKind;
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// The header that names a web app's site code.
pub const APP_CODE_HEADER: &str = "x-app-code";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let get = |p: &'static str, h| Route::new(Method::GET, p, OPEN, h);
    vec![
        get("/api/system-features", handler(state, system_features)),
        get("/api/webapp/access-mode", handler(state, access_mode)),
        get("/api/webapp/permission", handler(state, permission)),
        get("/api/login/status", handler(state, login_status)),
        get("/api/passport", handler(state, passport)),
        Route::new(Method::POST, "/api/logout", OPEN, handler(state, logout)),
    ]
}

async fn system_features(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&system_features_json()))
}

async fn access_mode(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"accessMode": "public"})))
}

async fn permission(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"result": true})))
}

async fn logout(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(success())
}

/// Whether the request's passport still opens the app of `code` (for `user_id`'s end user
/// when given): what `/api/login/status` reports as `app_logged_in`.
async fn passport_valid(
    state: &AppState,
    passport: Option<&str>,
    code: &str,
    user_id: Option<&str>,
) -> bool {
    let Some(passport) = passport.filter(|p| !p.is_empty()) else {
        return false;
    };
    let fields = state
        .tokens()
        .verify(TokenKind::Passport, passport, crate::util::now());
    if !fields.is_ok_and(|f| f.get(2).map(String::as_str) == Some(code)) {
        return false;
    }
    let Ok(ctx) = state.authenticator().passport(passport).await else {
        return false;
    };
    match (user_id, ctx.subject.as_deref(), ctx.app_id.as_deref()) {
        (None, _, _) => true,
        (Some(wanted), Some(user), Some(app)) => state
            .store()
            .end_user_by_id(app, user)
            .await
            .ok()
            .flatten()
            .is_some_and(|u| u.session_id == wanted),
        _ => false,
    }
}

async fn login_status(state: AppState, req: Request<Body>) -> HandlerResult {
    if state.store().setup_at().await?.is_none() {
        return Err(ConsoleError::NotSetup.into());
    }
    let q = query_pairs(&req);
    let Some(code) = query_param(&q, "app_code").filter(|c| !c.is_empty()) else {
        let bearer = req.headers().contains_key(http::header::AUTHORIZATION);
        return Ok(ok(&json!({"logged_in": bearer, "app_logged_in": false})));
    };
    if state.store().site_by_code(&code).await?.is_none() {
        return Err(ServiceError::invalid(format!("App with code {code} not found")).into());
    }
    let passport = req
        .headers()
        .get(weir_layers::auth::cookies::PASSPORT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user_id = query_param(&q, "user_id").filter(|u| !u.is_empty());
    let valid = passport_valid(&state, passport.as_deref(), &code, user_id.as_deref()).await;
    Ok(ok(&json!({"logged_in": true, "app_logged_in": valid})))
}

async fn passport(state: AppState, req: Request<Body>) -> HandlerResult {
    let code = req
        .headers()
        .get(APP_CODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| HttpError::unauthorized("X-App-Code header is missing."))?;
    let user_id = query_param(&query_pairs(&req), "user_id").filter(|u| !u.is_empty());
    let store = state.store();
    let gone = || HttpError::not_found(crate::sessions::messages::APP_NOT_FOUND);
    let site = store.site_by_code(&code).await?.ok_or_else(gone)?;
    let app = state
        .app(&site.app_id)
        .await?
        .filter(|a| a.row.status == "normal" && a.row.enable_site)
        .ok_or_else(gone)?;
    // A page without `user_id` is a new anonymous visitor; with it, that visitor again.
    let (session, anonymous) = match &user_id {
        Some(id) => (id.clone(), false),
        None => (uuid::Uuid::new_v4().to_string(), true),
    };
    let user = store
        .end_user(
            &app.row.workspace_id,
            &app.row.id,
            BROWSER_USER,
            &session,
            anonymous,
        )
        .await?;
    let token = state.tokens().sign(
        TokenKind::Passport,
        &[&app.row.id, &user.id, &site.code],
        None,
    );
    Ok(ok(&json!({"access_token": token})))
}
