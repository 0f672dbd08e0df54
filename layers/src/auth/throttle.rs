//! Throttling of failed authentication per client address: after `max` failures in a
//! window, that address's requests that carry a credential are refused with 429 *before*
//! the credential is looked up, until the window ends. Guessing keys costs the guesser, not
//! the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::HttpError;

/// The message of a throttled client.
pub const THROTTLED: &str = "Too many failed authentication attempts. Please try again later.";

/// Failures per client address in fixed windows.
#[derive(Debug)]
pub struct FailureThrottle {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailureThrottle {
    /// At most `max` failures per `window` (`max == 0`: no throttling).
    pub fn new(max: u32, window: Duration) -> Self {
        FailureThrottle {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// 429 with `Retry-After` if `ip` spent its failures in the current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), HttpError> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&ip) {
            Some((count, start)) if *count >= self.max && now < *start + self.window => {
                let wait = (*start + self.window - now).as_secs().max(1);
                Err(HttpError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    crate::error::codes::TOO_MANY_REQUESTS,
                    THROTTLED,
                )
                .with_header(http::header::RETRY_AFTER, HeaderValue::from(wait)))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure of `ip`.
    pub fn record(&self, ip: IpAddr) {
        if self.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            let window = self.window;
            seen.retain(|_, (_, start)| now < *start + window);
        }
        let entry = seen.entry(ip).or_insert((0, now));
        if now >= entry.1 + self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refuses_after_max_failures_until_the_window_ends() {
        let t = FailureThrottle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(ip).is_ok());
            t.record(ip);
        }
        let err = t.check(ip).unwrap_err();
        assert_eq!(err.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert!(t.check(other).is_ok());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(t.check(ip).is_ok());
        assert!(FailureThrottle::new(0, Duration::from_secs(1))
            .check(ip)
            .is_ok());
    }
}
