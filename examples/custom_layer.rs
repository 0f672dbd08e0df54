//! Adds an operator's own layer to weir's stack: a tenant guard that refuses requests without
//! the expected `X-Tenant` header. Run it with `cargo run --example custom_layer`, then
//! `curl -H 'X-Tenant: acme' localhost:5001/health`.
//!
//! The guard raises weir's typed `HttpError`; the error layer renders it in the contract's
//! body like any built-in refusal.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request};
use tower::{Layer, Service};
use weir::layers::{Body, BoxError, HttpError};

/// The header the guard checks.
pub const TENANT_HEADER: &str = "x-tenant";

/// Refuses requests whose `X-Tenant` is not `tenant`.
#[derive(Clone)]
pub struct TenantGuardLayer {
    tenant: HeaderValue,
}

impl TenantGuardLayer {
    /// A guard admitting `tenant` only.
    pub fn new(tenant: &'static str) -> Self {
        TenantGuardLayer {
            tenant: HeaderValue::from_static(tenant),
        }
    }
}

impl<S> Layer<S> for TenantGuardLayer {
    type Service = TenantGuard<S>;

    fn layer(&self, inner: S) -> TenantGuard<S> {
        TenantGuard {
            inner,
            tenant: self.tenant.clone(),
        }
    }
}

/// The service of [`TenantGuardLayer`].
#[derive(Clone)]
pub struct TenantGuard<S> {
    inner: S,
    tenant: HeaderValue,
}

impl<S> Service<Request<Body>> for TenantGuard<S>
where
    S: Service<Request<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if req.headers().get(TENANT_HEADER) != Some(&self.tenant) {
            return Box::pin(async { Err(HttpError::forbidden("unknown tenant").into()) });
        }
        Box::pin(self.inner.call(req))
    }
}

/// weir with the guard just inside the error layer, so its refusals get the contract's body.
pub async fn build(config: weir::Config) -> Result<weir::Server, Box<dyn std::error::Error>> {
    let server = weir::Server::new(config).await?;
    Ok(with_guard(server))
}

/// Adds the guard to a server's stack.
pub fn with_guard(server: weir::Server) -> weir::Server {
    server.map_stack(|stack| {
        stack.insert_after("errors", "tenant_guard", TenantGuardLayer::new("acme"))
    })
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = weir::Config::load(None)?;
    weir::cli::init_logging(&config);
    let bound = build(config).await?.bind().await?;
    eprintln!("listening on {} (send X-Tenant: acme)", bound.local_addr());
    bound.serve(weir::server::shutdown_signal()).await;
    Ok(())
}
