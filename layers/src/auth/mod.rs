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
}

/// Resolves a presented token for a route. Implemented by the domain (database-backed, with
/// a cache); errors are typed [`HttpError`]s or domain errors for the error layer.
pub trait Authenticate: Send + Sync + 'static {
    /// Who `token` is, for `route`.
    fn authenticate<'a>(
        &'a self,
        route: &'a MatchedRoute,
        token: &'a str,
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
            token: &'a str,
        ) -> BoxFuture<'a, Result<AuthContext, BoxError>> {
            Box::pin(async move {
                if token == "app-good" {
                    Ok(AuthContext {
                        credential: Credential::AppKey,
                        key_id: "k1".into(),
                        workspace_id: "w".into(),
                        app_id: Some("a".into()),
                        scopes: Arc::new([]),
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
    fn scopes_pass_with_full_or_their_own() {
        let ctx = |scopes: &[&str]| AuthContext {
            credential: Credential::BearerToken,
            key_id: "t".into(),
            workspace_id: "w".into(),
            app_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
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
