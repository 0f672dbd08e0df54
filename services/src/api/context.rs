//! What a handler knows about its caller: the authenticated context and the app it names.

use std::future::Future;

use http::Request;
use weir_layers::auth::AuthContext;
use weir_layers::{Body, BoxError, HttpError};

use crate::state::AppState;
use crate::store::AppRow;

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
) -> impl Future<Output = Result<AppRow, BoxError>> + Send + 'static {
    let app_id = app_id(req);
    let state = state.clone();
    async move {
        let app_id = app_id?;
        state
            .store()
            .app(&app_id)
            .await?
            .ok_or_else(|| HttpError::forbidden(crate::credentials::messages::APP_GONE).into())
    }
}
