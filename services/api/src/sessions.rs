//! Who a console session or a web-app passport is, for the auth layer: the signed token is
//! checked, then the account (and its current workspace and role) or the passport's app,
//! site and end user are loaded — on every request, so a reset site code, a web app switched
//! off or a removed account takes effect at once.

use std::sync::Arc;

use weir_layers::auth::{messages as auth_messages, AuthContext, Credential};
use weir_layers::{BoxError, HttpError, MatchedRoute};

use crate::credentials::Authenticator;
use crate::runtime::accounts::{TokenError, TokenKind};
use crate::util::now;

/// 401 texts of the console session checks (Dify's).
pub mod messages {
    /// The account of a valid token is gone, or belongs to no workspace.
    pub const UNAUTHORIZED: &str = "Unauthorized.";
    /// The account is banned.
    pub const ACCOUNT_BANNED: &str = "Account is banned.";
    /// The passport's site code was reset.
    pub const SITE_URL_INVALID: &str = "Site URL is no longer valid.";
    /// The app's web app is switched off.
    pub const SITE_DISABLED: &str = "Site is disabled.";
    /// The passport's app is gone.
    pub const APP_NOT_FOUND: &str = "App not found.";
    /// The passport's end user is gone.
    pub const END_USER_NOT_FOUND: &str = "End user not found.";
}

fn token_refused(e: TokenError) -> HttpError {
    HttpError::unauthorized(e.to_string())
}

impl Authenticator {
    /// The session of a console access token (and, when the route checks it, its CSRF token).
    pub(crate) async fn session(
        &self,
        route: &MatchedRoute,
        access: &str,
        csrf: Option<&str>,
    ) -> Result<AuthContext, BoxError> {
        let at = now();
        let account_id = self
            .tokens()
            .verify(TokenKind::Access, access, at)
            .map_err(token_refused)?
            .pop()
            .ok_or_else(|| HttpError::unauthorized(auth_messages::SESSION_INVALID))?;
        if let Some(csrf) = csrf {
            let owner = self.tokens().verify(TokenKind::Csrf, csrf, at).ok();
            if owner.as_deref() != Some(std::slice::from_ref(&account_id)) {
                return Err(HttpError::unauthorized(auth_messages::CSRF_INVALID).into());
            }
        }
        let store = self.store();
        let account = store
            .account(&account_id)
            .await?
            .ok_or_else(|| HttpError::unauthorized(messages::UNAUTHORIZED))?;
        if account.status == "banned" {
            return Err(HttpError::unauthorized(messages::ACCOUNT_BANNED).into());
        }
        let membership = store
            .memberships(&account.id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| HttpError::unauthorized(messages::UNAUTHORIZED))?;
        // A generation route counts against its app's concurrency cap: name the app when it
        // is one of this workspace's.
        let mut app_id = None;
        if route.meta.generation {
            if let Some(id) = route.param("app_id") {
                app_id = store
                    .app(&id.to_lowercase())
                    .await?
                    .filter(|a| a.workspace_id == membership.workspace_id)
                    .map(|a| Arc::from(a.id));
            }
        }
        Ok(AuthContext {
            credential: Credential::Session,
            key_id: account.id.clone().into(),
            workspace_id: membership.workspace_id.into(),
            app_id,
            scopes: Arc::new([]),
            subject: Some(account.id.into()),
            role: Some(membership.role.into()),
        })
    }

    /// The end user and app of a web-app passport.
    pub(crate) async fn passport(&self, passport: &str) -> Result<AuthContext, BoxError> {
        let fields = self
            .tokens()
            .verify(TokenKind::Passport, passport, now())
            .map_err(token_refused)?;
        let [app_id, end_user_id, code] = <[String; 3]>::try_from(fields)
            .map_err(|_| HttpError::unauthorized(auth_messages::SESSION_INVALID))?;
        let store = self.store();
        let app = store
            .app(&app_id)
            .await?
            .filter(|a| a.status == "normal")
            .ok_or_else(|| HttpError::not_found(messages::APP_NOT_FOUND))?;
        let site = store.site(&app.id).await?;
        if site.is_none_or(|s| s.code != code) {
            return Err(HttpError::bad_request(messages::SITE_URL_INVALID).into());
        }
        if !app.enable_site {
            return Err(HttpError::bad_request(messages::SITE_DISABLED).into());
        }
        let user = store
            .end_user_by_id(&app.id, &end_user_id)
            .await?
            .ok_or_else(|| HttpError::not_found(messages::END_USER_NOT_FOUND))?;
        Ok(AuthContext {
            credential: Credential::Passport,
            key_id: user.id.clone().into(),
            workspace_id: app.workspace_id.into(),
            app_id: Some(app.id.into()),
            scopes: Arc::new([]),
            subject: Some(user.id.into()),
            role: None,
        })
    }
}
