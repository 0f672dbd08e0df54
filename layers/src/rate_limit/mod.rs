//! Rate limit per credential: each authenticated key may make `Rate` requests per window;
//! over it the request is refused with 429 `too_many_requests` and a `Retry-After` header.
//! Counters live behind [`RateCounter`] so that a shared (Redis) store can replace the
//! in-process [`MemoryRateCounter`] without touching the layer.

mod layer;
mod memory;
mod service;

pub use layer::RateLimitLayer;
pub use memory::MemoryRateCounter;
pub use service::RateLimit;

use std::str::FromStr;
use std::time::Duration;

use crate::BoxFuture;

/// A rate: `count` requests per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in one window (0 = unlimited).
    pub count: u64,
    /// The window.
    pub per: Duration,
}

impl Rate {
    /// `count` per `per`.
    pub const fn new(count: u64, per: Duration) -> Self {
        Rate { count, per }
    }

    /// Whether the limit is switched off.
    pub fn is_off(&self) -> bool {
        self.count == 0
    }
}

/// A rate string that does not parse (`<n>/s`, `<n>/m`, `<n>/h`).
#[derive(Debug, thiserror::Error)]
#[error("invalid rate {0:?}: expected <count>/s, <count>/m or <count>/h")]
pub struct InvalidRate(String);

impl FromStr for Rate {
    type Err = InvalidRate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidRate(s.to_owned());
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim().parse::<u64>().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Rate { count, per })
    }
}

/// Counts hits per key. `Err(retry_after)` when the key is over its rate.
pub trait RateCounter: Send + Sync + 'static {
    /// Records one request of `key`, or refuses it.
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<(), Duration>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(
            "50/s".parse::<Rate>().unwrap(),
            Rate::new(50, Duration::from_secs(1))
        );
        assert_eq!(
            "1000/m".parse::<Rate>().unwrap(),
            Rate::new(1000, Duration::from_secs(60))
        );
        assert!("0/s".parse::<Rate>().unwrap().is_off());
        assert!("ten/s".parse::<Rate>().is_err());
        assert!("10/day".parse::<Rate>().is_err());
    }
}
