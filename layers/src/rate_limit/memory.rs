use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Rate, RateCounter};
use crate::BoxFuture;

/// In-process counters (one instance). A generic cell-rate algorithm: bursts up to the
/// rate's count, refilling evenly over its window.
#[derive(Debug, Default)]
pub struct MemoryRateCounter {
    /// Theoretical arrival time per key.
    cells: Mutex<HashMap<String, Instant>>,
}

impl MemoryRateCounter {
    /// Empty counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn check(&self, key: &str, rate: Rate, now: Instant) -> Result<(), Duration> {
        if rate.is_off() {
            return Ok(());
        }
        let interval = rate.per / rate.count.min(u32::MAX as u64) as u32;
        let tolerance = rate.per.saturating_sub(interval);
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if cells.len() > 100_000 {
            cells.retain(|_, tat| *tat > now);
        }
        let tat = cells.get(key).copied().unwrap_or(now).max(now);
        let wait = tat.saturating_duration_since(now);
        if wait > tolerance {
            return Err(wait - tolerance);
        }
        cells.insert(key.to_owned(), tat + interval);
        Ok(())
    }
}

impl RateCounter for MemoryRateCounter {
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<(), Duration>> {
        let out = self.check(key, rate, Instant::now());
        Box::pin(async move { out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refuses_then_recovers() {
        let counter = MemoryRateCounter::new();
        let rate = Rate::new(3, Duration::from_secs(1));
        for _ in 0..3 {
            counter.hit("k", rate).await.unwrap();
        }
        let retry = counter.hit("k", rate).await.unwrap_err();
        assert!(retry <= Duration::from_secs(1));
        // Another key is unaffected.
        counter.hit("other", rate).await.unwrap();
        tokio::time::advance(retry).await;
        counter.hit("k", rate).await.unwrap();
    }
}
