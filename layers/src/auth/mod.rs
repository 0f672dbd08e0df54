//! Authentication: reads `Authorization: Bearer …` for routes that need a credential, asks an
//! [`Authenticate`] implementation (the domain's key store) who it is, and puts the answer in
//! request extensions as an [`AuthContext`]. Routes without a credential pass untouched, and
//! so do requests that matched no route (their 404 comes first, as in Dify).
//!
//! Header failures are answered here with Dify's exact 401 bodies ([`messages`]); what a
//! token means (unknown, revoked, app disabled…) is the implementation's answer. A client
//! address whose credentials keep failing is refused before the lookup ([`FailureThrottle`]).

mod layer;
mod service;
mod throttle;

pub use layer::AuthLayer;
pub use service::Auth;
pub use throttle::{FailureThrottle, THROTTLED};

use std::sync::Arc;

use crate::{AuthKind, BoxError, BoxFuture, HttpError, MatchedRoute};

/// The 401 messages of the contract.
pub mod messages {
    /// Service API: header absent or without a space.
    pub const HEADER_REQUIRED: &str =
        "Authorization header must be provided and start with 'Bearer'";
    /// Service API: a scheme other than `Bearer`.
    pub const SCHEME_NOT_BEARER: &str = "Authorization scheme must be 'Bearer'";
    /// Service API: unknown, revoked or wrong-kind key.
    pub const INVALID_TOKEN: &str = "Access token is invalid";
    /// `/openapi/v1`: header absent, other scheme or empty token.
    pub const BEARER_REQUIRED: &str = "bearer required";
    /// `/openapi/v1`: the token lacks the route's scope (403).
    pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";
    /// Console: no session token, or not a session token.
    pub const SESSION_INVALID: &str = "Invalid Authorization token.";
    /// Console: the CSRF double submit failed.
    pub const CSRF_INVALID: &str = "CSRF token is missing or invalid.";
    /// Web app: no passport.
    pub const PASSPORT_MISSING: &str = "App token is missing.";
}

/// Names of the console's cookies and headers.
pub mod cookies {
    /// The session's access token (HttpOnly).
    pub const ACCESS_TOKEN: &str = "access_token";
    /// The refresh token (HttpOnly).
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// The CSRF token (readable by the page, echoed in [`CSRF_HEADER`]).
    pub const CSRF_TOKEN: &str = "csrf_token";
    /// The header that echoes the CSRF cookie.
    pub const CSRF_HEADER: &str = "x-csrf-token";
    /// The header of a web-app passport.
    pub const PASSPORT_HEADER: &str = "x-app-passport";
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The credential a request presents, read by the rules of its route's [`AuthKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// A key or token from `Authorization: Bearer`.
    Bearer(&'a str),
    /// A console session's access token; `csrf` is the CSRF token to check against the
    /// session (already equal to its cookie), when the route checks CSRF.
    Session {
        /// The access token.
        access: &'a str,
        /// The CSRF token to verify.
        csrf: Option<&'a str>,
    },
    /// A web-app passport.
    Passport(&'a str),
}

/// Reads the credential of a request for a route of kind `kind`.
pub fn presented(headers: &http::HeaderMap, kind: AuthKind) -> Result<Presented<'_>, HttpError> {
    match kind {
        AuthKind::Console { csrf } => {
            let invalid = || HttpError::unauthorized(messages::SESSION_INVALID);
            if let Some(access) = cookie(headers, cookies::ACCESS_TOKEN).filter(|t| !t.is_empty()) {
                let csrf = if csrf {
                    let header = headers
                        .get(cookies::CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| !v.is_empty());
                    let cookie = cookie(headers, cookies::CSRF_TOKEN);
                    match (header, cookie) {
                        (Some(h), Some(c)) if h == c => Some(h),
                        _ => return Err(HttpError::unauthorized(messages::CSRF_INVALID)),
                    }
                } else {
                    None
                };
                return Ok(Presented::Session { access, csrf });
            }
            // A script without cookies carries no ambient credential: no CSRF to check.
            let access = bearer_token(headers.get(http::header::AUTHORIZATION), kind)
                .map_err(|_| invalid())?;
            Ok(Presented::Session { access, csrf: None })
        }
        AuthKind::Passport => headers
            .get(cookies::PASSPORT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(Presented::Passport)
            .ok_or_else(|| HttpError::unauthorized(messages::PASSPORT_MISSING)),
        _ => bearer_token(headers.get(http::header::AUTHORIZATION), kind).map(Presented::Bearer),
    }
}

/// The scope that passes every scope check.
pub const FULL_SCOPE: &str = "full";

/// Checks that a bearer carries `scope` (or [`FULL_SCOPE`]): else 403 `insufficient_scope`.
/// Handlers call it at their place in the contract's guard order (after the 404s of ids
/// the caller may not probe), with the scope the route declared.
pub fn require_scope(ctx: &AuthContext, scope: Option<&str>) -> Result<(), HttpError> {
    let Some(scope) = scope else { return Ok(()) };
    if ctx.scopes.iter().any(|s| s == FULL_SCOPE || s == scope) {
        Ok(())
    } else {
        Err(HttpError::forbidden(messages::INSUFFICIENT_SCOPE))
    }
}

/// Which kind of credential authenticated the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A Service API app key.
    AppKey,
    /// A workspace knowledge key.
    DatasetKey,
    /// An `/openapi/v1` bearer token.
    BearerToken,
    /// A console session.
    Session,
    /// A web-app passport.
    Passport,
}

/// Who is calling, in request extensions after [`Auth`] ran.
#[derive(Clone, Debug)]
pub struct AuthContext {
    /// The kind of credential.
    pub credential: Credential,
    /// The credential's id (the rate-limit key).
    pub key_id: Arc<str>,
    /// The workspace the credential belongs to.
    pub workspace_id: Arc<str>,
    /// The app of an app key (the concurrency key).
    pub app_id: Option<Arc<str>>,
    /// The scopes of a bearer token (empty for keys).
    pub scopes: Arc<[String]>,
    /// Who: the account of a session, the end user of a passport.
    pub subject: Option<Arc<str>>,
    /// The account's role in the workspace (sessions).
    pub role: Option<Arc<str>>,
}

/// Resolves a presented token for a route. Implemented by the domain (database-backed, with
/// a cache); errors are typed [`HttpError`]s or domain errors for the error layer.
pub trait Authenticate: Send + Sync + 'static {
    /// Who presents `credential`, for `route`.
    fn authenticate<'a>(
        &'a self,
        route: &'a MatchedRoute,
        credential: Presented<'a>,
    ) -> BoxFuture<'a, Result<AuthContext, BoxError>>;
}

/// Splits the `Authorization` header by the rules of the route's surface.
pub fn bearer_token(header: Option<&http::HeaderValue>, kind: AuthKind) -> Result<&str, HttpError> {
    let value = header.and_then(|v| v.to_str().ok()).unwrap_or("");
    let openapi = matches!(kind, AuthKind::Bearer(_));
    let missing = || {
        HttpError::unauthorized(if openapi {
            messages::BEARER_REQUIRED
        } else {
            messages::HEADER_REQUIRED
        })
    };
    let (scheme, token) = value
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(if openapi {
            missing()
        } else {
            HttpError::unauthorized(messages::SCHEME_NOT_BEARER)
        });
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(if openapi {
            missing()
        } else {
            HttpError::unauthorized(messages::INVALID_TOKEN)
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::RouteMeta;
    use crate::test_helpers::{json, ok, request};
    use crate::{
        errors::{no_domain_errors, ErrorMapLayer},
        Body,
    };
    use http::HeaderValue;
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    struct OneKey;

    impl Authenticate for OneKey {
        fn authenticate<'a>(
            &'a self,
            _route: &'a MatchedRoute,
            credential: Presented<'a>,
        ) -> BoxFuture<'a, Result<AuthContext, BoxError>> {
            Box::pin(async move {
                if credential == Presented::Bearer("app-good") {
                    Ok(AuthContext {
                        credential: Credential::AppKey,
                        key_id: "k1".into(),
                        workspace_id: "w".into(),
                        app_id: Some("a".into()),
                        scopes: Arc::new([]),
                        subject: None,
                        role: None,
                    })
                } else {
                    Err(HttpError::unauthorized(messages::INVALID_TOKEN).into())
                }
            })
        }
    }

    async fn call(auth: Option<&'static str>, kind: AuthKind) -> (u16, serde_json::Value) {
        let svc = ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .layer(AuthLayer::new(Arc::new(OneKey)))
            .service(service_fn(|req: http::Request<Body>| async move {
                assert_eq!(
                    &*req.extensions().get::<AuthContext>().unwrap().key_id,
                    "k1"
                );
                ok(req).await
            }));
        let mut req = request("/v1/info");
        req.extensions_mut().insert(MatchedRoute {
            template: "/v1/info",
            meta: RouteMeta::auth(kind),
            params: Arc::new([]),
        });
        if let Some(h) = auth {
            req.headers_mut()
                .insert("authorization", HeaderValue::from_static(h));
        }
        let res = svc.oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        if status == 200 {
            return (200, serde_json::Value::Null);
        }
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
        (status, json(res).await)
    }

    #[tokio::test]
    async fn service_api_header_rules() {
        let cases = [
            (None, messages::HEADER_REQUIRED),
            (Some("Bearer"), messages::HEADER_REQUIRED),
            (Some("Basic abc"), messages::SCHEME_NOT_BEARER),
            (Some("Bearer app-bad"), messages::INVALID_TOKEN),
        ];
        for (header, message) in cases {
            let (status, body) = call(header, AuthKind::AppKey).await;
            assert_eq!(status, 401, "{header:?}");
            assert_eq!(body["message"], message, "{header:?}");
            assert_eq!(body["code"], "unauthorized");
        }
        assert_eq!(call(Some("bearer app-good"), AuthKind::AppKey).await.0, 200);
    }

    #[test]
    fn console_sessions_read_the_cookie_and_check_the_double_submit() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            h
        };
        let csrf = AuthKind::Console { csrf: true };
        let cookies = "access_token=acc; csrf_token=tok";
        let ok = headers(&[("cookie", cookies), ("x-csrf-token", "tok")]);
        assert_eq!(
            presented(&ok, csrf).unwrap(),
            Presented::Session {
                access: "acc",
                csrf: Some("tok")
            }
        );
        for bad in [
            headers(&[("cookie", cookies)]),
            headers(&[("cookie", cookies), ("x-csrf-token", "other")]),
            headers(&[("cookie", "access_token=acc"), ("x-csrf-token", "tok")]),
            headers(&[("cookie", cookies), ("x-csrf-token", "")]),
        ] {
            assert_eq!(
                presented(&bad, csrf).unwrap_err().message(),
                messages::CSRF_INVALID
            );
        }
        // Routes without the check, and scripts that send the token as a bearer.
        let no_header = headers(&[("cookie", "a=1; access_token=acc")]);
        assert_eq!(
            presented(&no_header, AuthKind::Console { csrf: false }).unwrap(),
            Presented::Session {
                access: "acc",
                csrf: None
            }
        );
        let script = headers(&[("authorization", "Bearer acc")]);
        assert_eq!(
            presented(&script, csrf).unwrap(),
            Presented::Session {
                access: "acc",
                csrf: None
            }
        );
        let none = headers(&[]);
        assert_eq!(
            presented(&none, csrf).unwrap_err().message(),
            messages::SESSION_INVALID
        );
        assert_eq!(
            presented(&none, AuthKind::Passport).unwrap_err().message(),
            messages::PASSPORT_MISSING
        );
        let passport = headers(&[("x-app-passport", "p1")]);
        assert_eq!(
            presented(&passport, AuthKind::Passport).unwrap(),
            Presented::Passport("p1")
        );
    }

    #[test]
    fn scopes_pass_with_full_or_their_own() {
        let ctx = |scopes: &[&str]| AuthContext {
            credential: Credential::BearerToken,
            key_id: "t".into(),
            workspace_id: "w".into(),
            app_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            subject: None,
            role: None,
        };
        assert!(require_scope(&ctx(&["full"]), Some("apps:run")).is_ok());
        assert!(require_scope(&ctx(&["apps:run"]), Some("apps:run")).is_ok());
        assert!(require_scope(&ctx(&[]), None).is_ok());
        let err = require_scope(&ctx(&["apps:read"]), Some("apps:run")).unwrap_err();
        assert_eq!(
            (err.status_code().as_u16(), err.message()),
            (403, "insufficient_scope")
        );
    }

    #[tokio::test]
    async fn openapi_header_rules() {
        for header in [None, Some("Basic x"), Some("Bearer ")] {
            let (status, body) = call(header, AuthKind::Bearer(None)).await;
            assert_eq!(
                (status, body["message"].as_str()),
                (401, Some(messages::BEARER_REQUIRED))
            );
        }
    }
}
