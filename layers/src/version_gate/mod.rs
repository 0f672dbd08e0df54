//! Client version gate: a request under a path prefix whose `User-Agent` names a known
//! client (`difyctl/<semver>`) older than the minimum is refused with 426
//! `upgrade_required`, before authentication. Other agents pass; exempt paths always pass.

mod layer;
mod service;

pub use layer::VersionGateLayer;
pub use service::VersionGate;

use http::StatusCode;

use crate::HttpError;

/// The code of the refusal.
pub const UPGRADE_REQUIRED: &str = "upgrade_required";

/// A parsed `major.minor.patch[-pre]` version; a pre-release sorts before its release.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    core: (u64, u64, u64),
    /// `None` (a release) sorts after `Some(pre)`.
    pre: ReleaseKind,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ReleaseKind {
    Pre(Vec<String>),
    Release,
}

impl Version {
    /// Parses `1.2.3` or `1.2.3-alpha.1`.
    pub fn parse(s: &str) -> Option<Version> {
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>());
        let v = (
            parts.next()?.ok()?,
            parts.next()?.ok()?,
            parts.next()?.ok()?,
        );
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            core: v,
            pre: match pre {
                Some(p) if !p.is_empty() => {
                    ReleaseKind::Pre(p.split('.').map(str::to_owned).collect())
                }
                Some(_) => return None,
                None => ReleaseKind::Release,
            },
        })
    }
}

/// The version a `User-Agent` names for `client`, if any.
pub fn client_version(user_agent: &str, client: &str) -> Option<String> {
    let rest = user_agent.trim().strip_prefix(client)?.strip_prefix('/')?;
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    Version::parse(&v).map(|_| v)
}

/// The 426 for a client below `min`.
pub fn refusal(client: &str, version: &str, min: &str, hint: &str) -> HttpError {
    HttpError::new(
        StatusCode::UPGRADE_REQUIRED,
        UPGRADE_REQUIRED,
        format!("{client} {version} is no longer supported; upgrade to >= {min}."),
    )
    .with_hint(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::{no_domain_errors, ErrorMapLayer};
    use crate::test_helpers::{json, ok, request};
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    #[test]
    fn versions() {
        assert!(Version::parse("0.1.9").unwrap() < Version::parse("0.2.0-alpha").unwrap());
        assert!(Version::parse("0.2.0-alpha").unwrap() < Version::parse("0.2.0").unwrap());
        assert!(Version::parse("0.2.0-beta").unwrap() > Version::parse("0.2.0-alpha").unwrap());
        assert!(Version::parse("x.y").is_none());
        assert_eq!(
            client_version("difyctl/0.1.5 (linux)", "difyctl").as_deref(),
            Some("0.1.5")
        );
        assert_eq!(client_version("curl/8", "difyctl"), None);
    }

    #[tokio::test]
    async fn gate() {
        let svc = ServiceBuilder::new()
            .layer(ErrorMapLayer::new(no_domain_errors))
            .layer(VersionGateLayer::new(
                "/openapi/v1/",
                "difyctl",
                "0.2.0-alpha",
                "Upgrade difyctl.",
                &["/openapi/v1/_health"],
            ))
            .service(service_fn(ok));
        let call = |path: &'static str, ua: &'static str| {
            let svc = svc.clone();
            async move {
                let mut r = request(path);
                r.headers_mut().insert("user-agent", ua.parse().unwrap());
                svc.oneshot(r).await.unwrap()
            }
        };
        let res = call("/openapi/v1/apps", "difyctl/0.1.0").await;
        assert_eq!(res.status(), 426);
        let body = json(res).await;
        assert_eq!(body["code"], "upgrade_required");
        assert_eq!(
            body["message"],
            "difyctl 0.1.0 is no longer supported; upgrade to >= 0.2.0-alpha."
        );
        assert_eq!(body["hint"], "Upgrade difyctl.");
        assert_eq!(
            call("/openapi/v1/apps", "difyctl/0.2.0").await.status(),
            200
        );
        assert_eq!(
            call("/openapi/v1/_health", "difyctl/0.1.0").await.status(),
            200
        );
        assert_eq!(call("/v1/info", "difyctl/0.1.0").await.status(), 200);
        assert_eq!(call("/openapi/v1/apps", "Mozilla/5.0").await.status(), 200);
    }
}
