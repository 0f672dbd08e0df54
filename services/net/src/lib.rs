//! weir's outbound HTTP on behalf of untrusted input (http-request nodes, remote files, API tools,
//! DSL URLs): one guarded client, [`Outbound`], and the one list of reserved addresses.
//!
//! The guard sits in the client's connector, so every request, redirect hop and retry goes
//! through it: names are resolved once by [`GuardedResolver`], which refuses the whole name
//! when any of its addresses is reserved and fails closed when resolution fails, and the
//! connection is made to exactly the checked addresses; a URL whose host is an IP literal is
//! checked before any connection; and the connected peer is checked once more by
//! [`PeerGuardLayer`] as a backstop. `HTTP(S)_PROXY` is ignored unless `[network] proxy`
//! names a proxy — then that proxy (Dify's squid, say) does the filtering. Bodies are read
//! through [`read_capped`].
#![warn(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use weir_core::fetch::{Fetch, FetchBody, FetchPart, FetchRequest, FetchResponse};
use weir_core::settings::NetworkSettings;

/// Why a URL may not be fetched or its answer read.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Not an http(s) URL.
    #[error("invalid URL {0:?}: only http and https are allowed")]
    InvalidUrl(String),
    /// The host is, or resolves to, a reserved (internal) address.
    #[error("access to {0} is blocked: it is a private, loopback or reserved address")]
    Blocked(String),
    /// The name did not resolve (the guard fails closed).
    #[error("cannot resolve {0}")]
    Unresolved(String),
    /// The body is larger than allowed.
    #[error("the response body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// The transfer failed.
    #[error("{0}")]
    Transfer(String),
}

const fn v4_net(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> (u32, u8) {
    (u32::from_be_bytes([a, b, c, d]), prefix)
}

/// Reserved IPv4 networks: this host, private, CGNAT, loopback, link-local, IETF and
/// documentation ranges, 6to4 relays, benchmarking, multicast, class E and broadcast.
const RESERVED_V4: [(u32, u8); 15] = [
    v4_net(0, 0, 0, 0, 8),
    v4_net(10, 0, 0, 0, 8),
    v4_net(100, 64, 0, 0, 10),
    v4_net(127, 0, 0, 0, 8),
    v4_net(169, 254, 0, 0, 16),
    v4_net(172, 16, 0, 0, 12),
    v4_net(192, 0, 0, 0, 24),
    v4_net(192, 0, 2, 0, 24),
    v4_net(192, 88, 99, 0, 24),
    v4_net(192, 168, 0, 0, 16),
    v4_net(198, 18, 0, 0, 15),
    v4_net(198, 51, 100, 0, 24),
    v4_net(203, 0, 113, 0, 24),
    v4_net(224, 0, 0, 0, 4),
    v4_net(240, 0, 0, 0, 4),
];

/// Reserved IPv6 networks: unspecified and loopback, IPv4-compatible and IPv4-mapped,
/// NAT64 (well-known and local), discard, Teredo, documentation, 6to4, unique-local,
/// link-local, site-local, multicast.
const RESERVED_V6: [(u128, u8); 14] = [
    (0, 128),
    (1, 128),
    (0, 96),
    (0xffff_0000_0000, 96),
    (0x0064_ff9b << 96, 96),
    (0x0064_ff9b_0001 << 80, 48),
    (0x0100 << 112, 64),
    (0x2001_0000 << 96, 32),
    (0x2001_0db8 << 96, 32),
    (0x2002 << 112, 16),
    (0xfc00 << 112, 7),
    (0xfe80 << 112, 10),
    (0xfec0 << 112, 10),
    (0xff00 << 112, 8),
];

fn in_v4(ip: Ipv4Addr, (net, prefix): (u32, u8)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == net & mask
}

fn in_v6(ip: Ipv6Addr, (net, prefix): (u128, u8)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == net & mask
}

/// Whether an address is reserved: never a target of untrusted input.
pub fn is_reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => RESERVED_V4.iter().any(|n| in_v4(v4, *n)),
        IpAddr::V6(v6) => RESERVED_V6.iter().any(|n| in_v6(v6, *n)),
    }
}

/// An operator's exception to the reserved list (`[network] allowed_addresses`): an address,
/// an address and port, or a CIDR network.
#[derive(Clone, Debug, PartialEq)]
enum Allowed {
    Addr(IpAddr, Option<u16>),
    Net(IpAddr, u8),
}

impl Allowed {
    fn parse(s: &str) -> Option<Allowed> {
        if let Some((ip, prefix)) = s.split_once('/') {
            let ip: IpAddr = ip.parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(Allowed::Net(ip, prefix));
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Some(Allowed::Addr(sa.ip(), Some(sa.port())));
        }
        s.parse().ok().map(|ip| Allowed::Addr(ip, None))
    }

    fn admits(&self, addr: SocketAddr) -> bool {
        match (self, addr.ip()) {
            (Allowed::Addr(ip, port), a) => *ip == a && port.is_none_or(|p| p == addr.port()),
            (Allowed::Net(IpAddr::V4(n), p), IpAddr::V4(a)) => in_v4(a, (u32::from(*n), *p)),
            (Allowed::Net(IpAddr::V6(n), p), IpAddr::V6(a)) => in_v6(a, (u128::from(*n), *p)),
            _ => false,
        }
    }
}

/// Which targets untrusted input may reach.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    allow_private: bool,
    allowed: Vec<Allowed>,
}

impl Policy {
    /// The policy of `[network]`; an unparsable `allowed_addresses` entry is an error.
    pub fn from_settings(s: &NetworkSettings) -> Result<Policy, String> {
        let allowed = s
            .allowed_addresses
            .iter()
            .map(|a| {
                Allowed::parse(a.trim()).ok_or_else(|| {
                    format!("[network] allowed_addresses: {a:?} is not an address, address:port or CIDR")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            allow_private: s.allow_private,
            allowed,
        })
    }

    /// Everything allowed (tests, trusted callers).
    pub fn open() -> Policy {
        Policy {
            allow_private: true,
            allowed: Vec::new(),
        }
    }

    /// Whether a connection to `addr` is allowed.
    pub fn admits(&self, addr: SocketAddr) -> bool {
        self.allow_private || !is_reserved(addr.ip()) || self.allowed.iter().any(|a| a.admits(addr))
    }

    /// Whether every port of `ip` is allowed (names resolve before their port is known, so
    /// an exception that names a port admits IP-literal URLs only).
    fn admits_ip(&self, ip: IpAddr) -> bool {
        self.allow_private
            || !is_reserved(ip)
            || self.allowed.iter().any(|a| match a {
                Allowed::Addr(allowed, port) => *allowed == ip && port.is_none(),
                Allowed::Net(..) => a.admits(SocketAddr::new(ip, 0)),
            })
    }

    /// Checks a URL's scheme and, for an IP-literal host, its address.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, NetError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| NetError::InvalidUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(NetError::InvalidUrl(url.to_owned()));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            let port = parsed.port_or_known_default().unwrap_or(0);
            if !self.admits(SocketAddr::new(ip, port)) {
                return Err(NetError::Blocked(ip.to_string()));
            }
        }
        Ok(parsed)
    }
}

/// Resolves names once and refuses the name when any of its addresses is reserved (a
/// mixed answer is a rebinding attempt); a failed resolution fails the request.
#[derive(Debug)]
pub struct GuardedResolver(Arc<Policy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| boxed(NetError::Unresolved(host.clone())))?
                .collect();
            if addrs.is_empty() {
                return Err(boxed(NetError::Unresolved(host)));
            }
            if let Some(bad) = addrs.iter().find(|a| !policy.admits_ip(a.ip())) {
                return Err(boxed(NetError::Blocked(format!("{host} ({})", bad.ip()))));
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn boxed(e: NetError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

/// A connector layer that checks the peer of every new connection against the policy and
/// drops connections it does not admit (IP literals, hops, anything the resolver did not see).
#[derive(Clone, Debug)]
pub struct PeerGuardLayer(Arc<Policy>);

impl<S> tower::Layer<S> for PeerGuardLayer {
    type Service = PeerGuard<S>;
    fn layer(&self, inner: S) -> PeerGuard<S> {
        PeerGuard {
            inner,
            policy: self.0.clone(),
        }
    }
}

/// See [`PeerGuardLayer`].
#[derive(Clone, Debug)]
pub struct PeerGuard<S> {
    inner: S,
    policy: Arc<Policy>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, Req, C> tower::Service<Req> for PeerGuard<S>
where
    S: tower::Service<Req, Response = C, Error = BoxError>,
    S::Future: Send + 'static,
    C: hyper_util::client::legacy::connect::Connection,
{
    type Response = C;
    type Error = BoxError;
    type Future = weir_core::BoxFuture<'static, Result<C, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let policy = self.policy.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let conn = fut.await?;
            let mut extensions = http::Extensions::new();
            conn.connected().get_extras(&mut extensions);
            let peer = extensions
                .get::<hyper_util::client::legacy::connect::HttpInfo>()
                .map(|i| i.remote_addr());
            match peer {
                Some(addr) if policy.admits(addr) => Ok(conn),
                Some(addr) => Err(boxed(NetError::Blocked(addr.ip().to_string()))),
                None => Err(boxed(NetError::Blocked("an unknown peer".into()))),
            }
        })
    }
}

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;

/// The guarded outbound client of untrusted input, and its policy.
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

impl Outbound {
    /// The client of `[network]`.
    pub fn new(settings: &NetworkSettings) -> Result<Outbound, String> {
        let policy = Arc::new(Policy::from_settings(settings)?);
        let redirect_policy = policy.clone();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirect_policy.check_url(attempt.url().as_str()) {
                    Ok(_) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }));
        if settings.proxy.is_empty() {
            builder = builder
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
                .connector_layer(PeerGuardLayer(policy.clone()));
        } else {
            let proxy = reqwest::Proxy::all(&settings.proxy)
                .map_err(|e| format!("[network] proxy {:?}: {e}", settings.proxy))?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Outbound { client, policy })
    }

    /// Checks `url` (scheme; an IP-literal host) and starts a request to it.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, NetError> {
        let url = self.policy.check_url(url)?;
        Ok(self.client.request(method, url))
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// GETs `url` and reads at most `cap` bytes of a 2xx answer.
    pub async fn fetch(&self, url: &str, cap: u64, timeout: Duration) -> Result<Bytes, NetError> {
        let res = self
            .request(reqwest::Method::GET, url)?
            .timeout(timeout)
            .send()
            .await
            .map_err(transfer)?;
        if !res.status().is_success() {
            return Err(NetError::Transfer(format!(
                "{url} answered {}",
                res.status().as_u16()
            )));
        }
        read_capped(res, cap).await
    }
}

/// A transfer error as a [`NetError`], keeping a guard refusal found in its sources.
pub fn transfer(e: reqwest::Error) -> NetError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if let Some(n) = s.downcast_ref::<NetError>() {
            return match n {
                NetError::Blocked(h) => NetError::Blocked(h.clone()),
                NetError::Unresolved(h) => NetError::Unresolved(h.clone()),
                other => NetError::Transfer(other.to_string()),
            };
        }
        src = s.source();
    }
    NetError::Transfer(weir_core::util::error_chain(&e.without_url()))
}

/// Reads a response body, refusing it as soon as it passes `cap` bytes (a declared
/// `Content-Length` over the cap is refused before reading).
pub async fn read_capped(res: reqwest::Response, cap: u64) -> Result<Bytes, NetError> {
    if res.content_length().is_some_and(|n| n > cap) {
        return Err(NetError::TooLarge(cap));
    }
    let mut body = BytesMut::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transfer)?;
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(NetError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl Fetch for Outbound {
    fn fetch(&self, req: FetchRequest) -> weir_core::BoxFuture<'_, Result<FetchResponse, String>> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(req.method.as_bytes())
                .map_err(|_| format!("unsupported method {:?}", req.method))?;
            let mut builder = self
                .request(method, &req.url)
                .map_err(|e| e.to_string())?
                .timeout(req.timeout)
                .query(&req.query);
            for (k, v) in &req.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            builder = match req.body {
                FetchBody::Empty => builder,
                FetchBody::Bytes(b) => builder.body(b),
                FetchBody::Form(pairs) => builder.form(&pairs),
                FetchBody::Multipart(parts) => {
                    let mut form = reqwest::multipart::Form::new();
                    for part in parts {
                        form = match part {
                            FetchPart::Text { name, value } => form.text(name, value),
                            FetchPart::File {
                                name,
                                file_name,
                                mime,
                                bytes,
                            } => {
                                let p = reqwest::multipart::Part::bytes(bytes.to_vec())
                                    .file_name(file_name)
                                    .mime_str(&mime)
                                    .map_err(|e| e.to_string())?;
                                form.part(name, p)
                            }
                        };
                    }
                    builder.multipart(form)
                }
            };
            let res = builder.send().await.map_err(|e| transfer(e).to_string())?;
            let status = res.status().as_u16();
            let headers = res
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = read_capped(res, req.max_body)
                .await
                .map_err(|e| e.to_string())?;
            Ok(FetchResponse {
                status,
                headers,
                body,
            })
        })
    }
}

#[cfg(test)]
mod tests;
