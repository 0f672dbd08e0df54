//! Outbound HTTP from untrusted input (remote files, API tools, http-request nodes): a
//! client whose resolver refuses loopback, private, link-local and other internal
//! addresses unless the operator allows them (`[network] allow_private = true`). The check
//! runs on every resolution, so redirects and DNS rebinding are covered too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL may not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Not an http(s) URL.
    #[error("invalid URL {0:?}: only http and https are allowed")]
    InvalidUrl(String),
    /// The host is, or resolves to, an internal address.
    #[error("access to {0} is blocked: it is a private or loopback address")]
    Blocked(String),
}

/// Whether an address is internal (loopback, private, link-local, unspecified, …).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) // CGNAT 100.64/10
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Checks a URL's scheme and, for an IP literal, its address.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, NetError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| NetError::InvalidUrl(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(NetError::InvalidUrl(url.to_owned()));
    }
    if !allow_private {
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal.filter(|ip| is_internal(*ip)) {
            return Err(NetError::Blocked(ip.to_string()));
        }
    }
    Ok(parsed)
}

struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(NetError::Blocked(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client for untrusted URLs: guarded unless `allow_private`, redirects limited and
/// checked, bounded timeouts.
pub fn client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("too many redirects");
            }
            match check_url(attempt.url().as_str(), allow_private) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        }));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    builder.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("ftp://x", false).is_err());
        assert!(matches!(
            check_url("http://127.0.0.1:8080/x", false),
            Err(NetError::Blocked(_))
        ));
        assert!(check_url("http://127.0.0.1:8080/x", true).is_ok());
        assert!(check_url("https://example.com/a", false).is_ok());
    }

    #[tokio::test]
    async fn resolver_refuses_loopback_names() {
        let c = client(false, Duration::from_secs(2));
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        let mut text = err.to_string();
        let mut src = std::error::Error::source(&err);
        while let Some(e) = src {
            text.push_str(&e.to_string());
            src = e.source();
        }
        assert!(text.contains("blocked"), "{text}");
    }
}
