//! The caller's account and workspaces: `GET /account`, `DELETE /account/sessions/self`,
//! `GET /workspaces`. weir has no user accounts: a token is its own account, named by
//! the token's name, with the owner role in the one workspace it belongs to.

use http::{Method, Request, StatusCode};
use serde_json::json;
use weir_layers::{body, Body, HttpError};

use super::{bearer, envelope, page_query, token_guard, Invalid};
use crate::credentials::scopes;
use crate::request::query_pairs;
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// The subject type of every weir token.
pub const SUBJECT_TYPE: &str = "account";
/// The issuer weir names for its tokens.
pub const SUBJECT_ISSUER: &str = "weir:token";
/// The role a token has in its workspace.
pub const ROLE: &str = "owner";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/openapi/v1/account",
            bearer(scopes::FULL),
            handler(state, account),
        ),
        Route::new(
            Method::DELETE,
            "/openapi/v1/account/sessions/self",
            bearer(scopes::FULL),
            handler(state, revoke_self),
        ),
        Route::new(
            Method::GET,
            "/openapi/v1/workspaces",
            bearer(scopes::WORKSPACE_READ),
            handler(state, workspaces),
        ),
    ]
}

async fn account(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = token_guard(&req)?;
    let token = state
        .store()
        .token_by_id(&ctx.key_id)
        .await?
        .ok_or_else(|| HttpError::unauthorized(crate::credentials::TOKEN_INVALID))?;
    let ws = state.store().workspace(&ctx.workspace_id).await?;
    let workspaces: Vec<_> = ws
        .iter()
        .map(|w| json!({"id": w.id, "name": w.name, "role": ROLE}))
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "subject_type": SUBJECT_TYPE,
            "subject_email": null,
            "subject_issuer": SUBJECT_ISSUER,
            "account": {"id": token.id, "email": null, "name": token.name},
            "workspaces": workspaces,
            "default_workspace_id": ws.map(|w| w.id),
        }),
    ))
}

async fn revoke_self(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = token_guard(&req)?;
    state.store().revoke_token(&ctx.key_id).await?;
    state.revoke_token(&ctx.key_id).await;
    Ok(body::json(StatusCode::OK, &json!({"status": "revoked"})))
}

async fn workspaces(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = token_guard(&req)?;
    let pairs = query_pairs(&req);
    let mut invalid = Invalid::default();
    invalid.forbid_extra(&pairs, &["page", "limit"]);
    let (page, limit) = page_query(&pairs, &mut invalid);
    invalid.finish()?;
    let ws = state
        .store()
        .workspace(&ctx.workspace_id)
        .await?
        .filter(|w| w.status == "normal");
    let total = i64::from(ws.is_some());
    let data = ws
        .filter(|_| page == 1)
        .map(|w| json!({"id": w.id, "name": w.name, "role": ROLE, "status": w.status, "current": true}))
        .into_iter()
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &envelope(page, limit, total, data),
    ))
}
