//! Reusable tower layers for weir.
//!
//! Every layer here is generic over any inner `Service<http::Request<B>>`, knows nothing of
//! weir's domain, and reaches the domain only through the small traits it defines
//! (`auth::Authenticate`, `rate_limit::RateCounter`, `concurrency::SlotStore`).
//!
//! Failures travel as `Err(BoxError)`; the [`errors`] layer turns them into the one error body
//! of the contract ([`HttpError`]).
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod auth;
pub mod body;
pub mod body_limit;
pub mod catch_panic;
pub mod client_addr;
pub mod concurrency;
pub mod cors;
pub mod error;
pub mod errors;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod route;
pub mod sse;
pub mod surface;
pub mod timeout;
pub mod trace;
pub mod version_gate;

#[cfg(test)]
pub(crate) mod test_helpers;

pub use body::Body;
pub use client_addr::ClientAddr;
pub use error::HttpError;
pub use route::{AuthKind, MatchedRoute, RouteMeta};
pub use surface::Surface;

/// The boxed error every service in the stack returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future, as the traits of this crate return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
