//! Console sign-in: the first-admin setup, the (always finished) init password, e-mail and
//! password login, refresh and logout. A session is three cookies — the access token and
//! the refresh token (HttpOnly) and the CSRF token the page echoes in `X-CSRF-Token` — as
//! Dify 1.14 sets them.

use base64::Engine;
use http::{header, HeaderValue, Method, Request, Response};
use serde_json::json;
use weir_layers::auth::cookies;
use weir_layers::{Body, BoxError, ClientAddr, HttpError};

use super::{object_or_empty, text, OPEN};
use crate::error::{console_messages, ConsoleError, ServiceError};
use crate::reply::{created, ok, success};
use crate::runtime::accounts::{
    self, TokenKind, ACCESS_TOKEN_TTL_S, LOGIN_FAILURE_WINDOW_S, LOGIN_MAX_FAILURES,
    REFRESH_TOKEN_TTL_S,
};
use crate::state::AppState;
use crate::store::{AccountRow, NewAccount, StoreError};
use crate::util::{iso, now, sha256_hex};
use crate::{handler, HandlerResult, Route};

/// Longest account name.
pub const MAX_NAME: usize = 30;
/// What login answers an account without a workspace.
pub const NO_WORKSPACE: &str =
    "workspace not found, please contact system admin to invite you to join in a workspace";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/console/api/setup",
            OPEN,
            handler(state, setup_status),
        ),
        Route::new(
            Method::POST,
            "/console/api/setup",
            OPEN,
            handler(state, setup),
        ),
        Route::new(
            Method::GET,
            "/console/api/init",
            OPEN,
            handler(state, init_status),
        ),
        Route::new(
            Method::POST,
            "/console/api/init",
            OPEN,
            handler(state, init),
        ),
        Route::new(
            Method::POST,
            "/console/api/login",
            OPEN,
            handler(state, login),
        ),
        Route::new(
            Method::POST,
            "/console/api/refresh-token",
            OPEN,
            handler(state, refresh),
        ),
        Route::new(
            Method::POST,
            "/console/api/logout",
            OPEN,
            handler(state, logout),
        ),
    ]
}

/// Dify's interface languages, each with the time zone a new account of it gets.
pub const LANGUAGES: [(&str, &str); 23] = [
    ("en-US", "America/New_York"),
    ("zh-Hans", "Asia/Shanghai"),
    ("zh-Hant", "Asia/Taipei"),
    ("pt-BR", "America/Sao_Paulo"),
    ("es-ES", "Europe/Madrid"),
    ("fr-FR", "Europe/Paris"),
    ("de-DE", "Europe/Berlin"),
    ("ja-JP", "Asia/Tokyo"),
    ("ko-KR", "Asia/Seoul"),
    ("ru-RU", "Europe/Moscow"),
    ("it-IT", "Europe/Rome"),
    ("uk-UA", "Europe/Kyiv"),
    ("vi-VN", "Asia/Ho_Chi_Minh"),
    ("ro-RO", "Europe/Bucharest"),
    ("pl-PL", "Europe/Warsaw"),
    ("hi-IN", "Asia/Kolkata"),
    ("tr-TR", "Europe/Istanbul"),
    ("fa-IR", "Asia/Tehran"),
    ("sl-SI", "Europe/Ljubljana"),
    ("th-TH", "Asia/Bangkok"),
    ("id-ID", "Asia/Jakarta"),
    ("ar-TN", "Africa/Tunis"),
    ("nl-NL", "Europe/Amsterdam"),
];

/// Whether `lang` is one of Dify's interface languages.
pub fn is_language(lang: &str) -> bool {
    LANGUAGES.iter().any(|(l, _)| *l == lang)
}

/// A plausible e-mail address (Dify checks the syntax only).
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

async fn setup_status(state: AppState, _req: Request<Body>) -> HandlerResult {
    let at = state.store().setup_at().await?;
    Ok(ok(&match at {
        Some(ts) => json!({"step": "finished", "setup_at": iso(ts)}),
        None => json!({"step": "not_started", "setup_at": null}),
    }))
}

/// Validated account fields shared by setup and the operator's CLI.
pub fn new_account(
    email: &str,
    name: &str,
    password: &str,
    language: Option<&str>,
) -> Result<NewAccount, ServiceError> {
    if !is_email(email) {
        return Err(ServiceError::invalid(format!(
            "{email} is not a valid email."
        )));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(ServiceError::invalid(format!(
            "name must be 1 to {MAX_NAME} characters."
        )));
    }
    if !accounts::password_ok(password) {
        return Err(ServiceError::invalid(accounts::PASSWORD_RULE));
    }
    let (lang, tz) = LANGUAGES
        .iter()
        .find(|(l, _)| Some(*l) == language)
        .copied()
        .unwrap_or(("en-US", "UTC"));
    Ok(NewAccount {
        name: name.trim().to_owned(),
        email: email.to_lowercase(),
        password_hash: String::new(),
        interface_language: lang.to_owned(),
        timezone: tz.to_owned(),
    })
}

/// Hashes a password off the async threads.
pub async fn hash(password: String) -> Result<String, BoxError> {
    Ok(tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await?)
}

async fn setup(state: AppState, req: Request<Body>) -> HandlerResult {
    let store = state.store();
    if store.setup_at().await?.is_some() {
        return Err(ConsoleError::AlreadySetup.into());
    }
    let body = object_or_empty(req).await?;
    let field = |k: &str| text(&body, k).unwrap_or_default();
    let mut account = new_account(
        &field("email"),
        &field("name"),
        &field("password"),
        text(&body, "language").as_deref(),
    )?;
    account.password_hash = hash(field("password")).await?;
    let title = format!("{}'s Workspace", account.name);
    match store.setup_first_admin(&account, &title).await {
        Ok(_) => Ok(created(&json!({"result": "success"}))),
        // A concurrent setup won.
        Err(StoreError::Conflict(_)) => Err(ConsoleError::AlreadySetup.into()),
        Err(e) => Err(e.into()),
    }
}

/// weir has no init password: the step is always done.
async fn init_status(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"status": "finished"})))
}

async fn init(state: AppState, _req: Request<Body>) -> HandlerResult {
    if state.store().setup_at().await?.is_some() {
        return Err(ConsoleError::AlreadySetup.into());
    }
    Ok(created(&json!({"result": "success"})))
}

async fn login(state: AppState, req: Request<Body>) -> HandlerResult {
    let store = state.store();
    if store.setup_at().await?.is_none() {
        return Err(ConsoleError::NotSetup.into());
    }
    let ip = req
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.ip().to_string());
    let body = object_or_empty(req).await?;
    let email = text(&body, "email").unwrap_or_default();
    if !is_email(&email) {
        return Err(ServiceError::invalid(format!("{email} is not a valid email.")).into());
    }
    if store.login_failures(&email, LOGIN_FAILURE_WINDOW_S).await? > LOGIN_MAX_FAILURES {
        return Err(ConsoleError::LoginLocked.into());
    }
    let password = text(&body, "password")
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or(ConsoleError::AuthenticationFailed(
            console_messages::BAD_ENCODING,
        ))?;
    let account = match store.account_by_email(&email).await? {
        Some(a) => a,
        None => {
            store
                .record_login_failure(&email, LOGIN_FAILURE_WINDOW_S)
                .await?;
            return Err(
                ConsoleError::AuthenticationFailed(console_messages::BAD_CREDENTIALS).into(),
            );
        }
    };
    let hash = account.password_hash.clone().unwrap_or_default();
    let matches =
        tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash)).await?;
    if !matches {
        store
            .record_login_failure(&email, LOGIN_FAILURE_WINDOW_S)
            .await?;
        return Err(ConsoleError::AuthenticationFailed(console_messages::BAD_CREDENTIALS).into());
    }
    if account.status == "banned" {
        return Err(ConsoleError::AccountBanned.into());
    }
    if store.memberships(&account.id).await?.is_empty() {
        return Ok(ok(&json!({"result": "fail", "data": NO_WORKSPACE})));
    }
    store.record_login(&account, ip.as_deref()).await?;
    let mut res = success();
    start_session(&state, &account, &mut res).await?;
    Ok(res)
}

async fn refresh(state: AppState, req: Request<Body>) -> HandlerResult {
    let invalid = |m: &'static str| -> BoxError { HttpError::unauthorized(m).into() };
    let token = weir_layers::auth::cookie(req.headers(), cookies::REFRESH_TOKEN)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("No refresh token provided"))?;
    let store = state.store();
    let account_id = store
        .take_refresh_token(&sha256_hex(token))
        .await?
        .ok_or_else(|| invalid("Invalid refresh token"))?;
    let account = store
        .account(&account_id)
        .await?
        .filter(|a| a.status != "banned")
        .ok_or_else(|| invalid("Invalid account"))?;
    let mut res = success();
    start_session(&state, &account, &mut res).await?;
    Ok(res)
}

/// Logs out: the refresh token is revoked and the cookies are cleared, whatever state the
/// access token is in (Dify keeps the cookies when it has expired; clearing is kinder).
async fn logout(state: AppState, req: Request<Body>) -> HandlerResult {
    if let Some(token) = weir_layers::auth::cookie(req.headers(), cookies::REFRESH_TOKEN) {
        state
            .store()
            .delete_refresh_token(&sha256_hex(token))
            .await?;
    }
    let mut res = success();
    let secure = secure_cookies(&state);
    for name in [
        cookies::ACCESS_TOKEN,
        cookies::REFRESH_TOKEN,
        cookies::CSRF_TOKEN,
    ] {
        res.headers_mut()
            .append(header::SET_COOKIE, clear_cookie(name, secure));
    }
    Ok(res)
}

/// Cookies are `Secure` when the console is served over https.
fn secure_cookies(state: &AppState) -> bool {
    state.settings().console_web_url.starts_with("https://")
}

fn set_cookie(name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("token characters are valid in a header")
}

fn clear_cookie(name: &str, secure: bool) -> HeaderValue {
    let mut c =
        format!("{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("a static cookie is a valid header")
}

/// Issues a session for `account`: a stored refresh token, and the three cookies on `res`.
async fn start_session(
    state: &AppState,
    account: &AccountRow,
    res: &mut Response<Body>,
) -> Result<(), BoxError> {
    let at = now();
    let tokens = state.tokens();
    let access = tokens.sign(
        TokenKind::Access,
        &[&account.id],
        Some(at + ACCESS_TOKEN_TTL_S),
    );
    let csrf = tokens.sign(
        TokenKind::Csrf,
        &[&account.id],
        Some(at + ACCESS_TOKEN_TTL_S),
    );
    let refresh = accounts::new_refresh_token();
    state
        .store()
        .insert_refresh_token(&sha256_hex(&refresh), &account.id, at + REFRESH_TOKEN_TTL_S)
        .await?;
    let secure = secure_cookies(state);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            cookies::ACCESS_TOKEN,
            &access,
            ACCESS_TOKEN_TTL_S,
            true,
            secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(
            cookies::REFRESH_TOKEN,
            &refresh,
            REFRESH_TOKEN_TTL_S,
            true,
            secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(
            cookies::CSRF_TOKEN,
            &csrf,
            ACCESS_TOKEN_TTL_S,
            false,
            secure,
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_languages() {
        assert!(is_email("ada@example.com"));
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.d",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(is_language("fr-FR"));
        assert!(!is_language("xx-XX"));
    }

    #[test]
    fn new_accounts_follow_difys_rules() {
        let a = new_account("Ada@Example.com", "Ada", "abcdefg1", Some("fr-FR")).unwrap();
        assert_eq!(
            (a.email.as_str(), a.timezone.as_str()),
            ("ada@example.com", "Europe/Paris")
        );
        let a = new_account("ada@example.com", "Ada", "abcdefg1", Some("xx")).unwrap();
        assert_eq!(
            (a.interface_language.as_str(), a.timezone.as_str()),
            ("en-US", "UTC")
        );
        assert!(new_account("ada@example.com", "Ada", "short1", None).is_err());
        assert!(new_account("ada@example.com", &"x".repeat(31), "abcdefg1", None).is_err());
        assert!(new_account("nope", "Ada", "abcdefg1", None).is_err());
    }
}
