//! The web-app API (`/api/…`) that published web apps (`/chat/<code>`, `/completion/<code>`,
//! `/workflow/<code>`) call: the passport that turns a site code into an end user
//! ([`passport`]), the app's site, form and tools ([`site`]), generation in the simple event
//! format ([`generate`]), and the end user's conversations, messages, feedback and saved
//! messages ([`history`]).
//!
//! A passport names its app, end user and site code; the auth layer checks it on every call
//! (`weir_layers::auth`, kind `Passport`), so a reset code or a web app switched off ends
//! every passport at once.

pub mod generate;
pub mod history;
pub mod passport;
pub mod site;

use std::sync::Arc;

use http::Request;
use weir_layers::{AuthKind, Body, BoxError, HttpError, RouteMeta};

use crate::context::auth;
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::store::EndUserRow;
use crate::Route;

/// A web-app route for the holder of a passport.
pub const PASSPORT: RouteMeta = RouteMeta::auth(AuthKind::Passport);
/// A web-app route that runs a generation.
pub const PASSPORT_GENERATION: RouteMeta = RouteMeta::auth(AuthKind::Passport).generation();
/// A web-app route without a passport.
pub const OPEN: RouteMeta = RouteMeta::auth(AuthKind::None);
/// The end-user type of web-app visitors.
pub const BROWSER_USER: &str = "browser";

/// Every route of the web-app API.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = passport::routes(state);
    routes.extend(site::routes(state));
    routes.extend(generate::routes(state));
    routes.extend(history::routes(state));
    routes
}

/// The app and end user of a passport (the future does not borrow the request).
pub fn visitor(
    state: &AppState,
    req: &Request<Body>,
) -> impl std::future::Future<Output = Result<(Arc<LoadedApp>, EndUserRow), BoxError>> + Send + 'static
{
    let ids = auth(req).map(|ctx| (ctx.app_id.clone(), ctx.subject.clone()));
    let state = state.clone();
    async move {
        let gone = || HttpError::not_found(crate::sessions::messages::APP_NOT_FOUND);
        let (Some(app_id), Some(user_id)) = ids? else {
            return Err(gone().into());
        };
        let app = state.app(&app_id).await?.ok_or_else(gone)?;
        let user = state
            .store()
            .end_user_by_id(&app.row.id, &user_id)
            .await?
            .ok_or_else(|| HttpError::not_found(crate::sessions::messages::END_USER_NOT_FOUND))?;
        Ok((app, user))
    }
}
