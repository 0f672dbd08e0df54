//! What a handler knows about its caller: the authenticated context, the app of the key,
//! the end user named by `user`, and small readers of common parameters.

use std::future::Future;
use std::sync::Arc;

use http::Request;
use weir_layers::auth::AuthContext;
use weir_layers::{Body, BoxError, HttpError};

use crate::error::{messages, ServiceError};
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::store::EndUserRow;

/// The auth context the auth layer put on the request. Its absence means the operator
/// dropped the auth layer from a stack that routes need: a 401, not a crash.
pub fn auth(req: &Request<Body>) -> Result<&AuthContext, HttpError> {
    req.extensions()
        .get::<AuthContext>()
        .ok_or_else(|| HttpError::unauthorized(weir_layers::auth::messages::HEADER_REQUIRED))
}

/// The app id of the caller's app key.
pub fn app_id(req: &Request<Body>) -> Result<String, HttpError> {
    auth(req)?
        .app_id
        .as_deref()
        .map(str::to_owned)
        .ok_or_else(|| HttpError::unauthorized(weir_layers::auth::messages::INVALID_TOKEN))
}

/// The app of the caller's app key (the future does not borrow the request).
pub fn current_app(
    state: &AppState,
    req: &Request<Body>,
) -> impl Future<Output = Result<Arc<LoadedApp>, BoxError>> + Send + 'static {
    let app_id = app_id(req);
    let state = state.clone();
    async move {
        let app_id = app_id?;
        state
            .app(&app_id)
            .await?
            .ok_or_else(|| HttpError::forbidden(crate::credentials::messages::APP_GONE).into())
    }
}

/// The end user a request names (`None`/empty: the shared `DEFAULT-USER`).
pub async fn end_user(
    state: &AppState,
    app: &LoadedApp,
    user: Option<&str>,
) -> Result<EndUserRow, BoxError> {
    Ok(state
        .end_user(&app.row.workspace_id, &app.row.id, user)
        .await?)
}

/// A `user` that the endpoint requires.
pub fn required_user(user: Option<String>) -> Result<String, ServiceError> {
    user.filter(|u| !u.is_empty())
        .ok_or_else(|| ServiceError::invalid(messages::USER_REQUIRED))
}

/// Fails with `not_chat_app` unless the app is chat-like.
pub fn require_chat(app: &LoadedApp) -> Result<(), ServiceError> {
    if app.mode.is_chat_like() {
        Ok(())
    } else {
        Err(ServiceError::NotChatApp)
    }
}

/// An integer query parameter within bounds (`default` when absent).
pub fn int_param(
    pairs: &[(String, String)],
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ServiceError> {
    match super::request::query_param(pairs, name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ServiceError::invalid(format!(
                "{name} must be an integer between {min} and {max}"
            ))),
        },
    }
}
