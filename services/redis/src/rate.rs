//! Rate limits shared by every instance: a sliding window per key, kept as a sorted set of
//! hit times and checked and recorded by one script (Redis's own clock, so instances'
//! clocks need not agree).

use std::time::Duration;

use redis::Script;
use weir_layers::rate_limit::{Rate, RateCounter};
use weir_layers::BoxFuture;

use super::Redis;

/// Drops hits older than the window, then records this one if the key is under its count;
/// otherwise answers the milliseconds until the oldest hit leaves the window.
const HIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"#;

/// A [`RateCounter`] in Redis. When Redis cannot be reached the request is let through and
/// the failure logged: a limit must not take the service down with it.
pub struct RedisRateCounter {
    redis: Redis,
    script: Script,
}

impl RedisRateCounter {
    /// A counter on `redis`.
    pub fn new(redis: Redis) -> Self {
        RedisRateCounter {
            redis,
            script: Script::new(HIT),
        }
    }
}

impl RateCounter for RedisRateCounter {
    fn hit<'a>(&'a self, key: &'a str, rate: Rate) -> BoxFuture<'a, Result<(), Duration>> {
        Box::pin(async move {
            if rate.count == 0 {
                return Ok(());
            }
            let wait = self
                .script
                .key(self.redis.key("rate", key))
                .arg(rate.per.as_millis() as u64)
                .arg(rate.count)
                .arg(uuid::Uuid::new_v4().to_string())
                .invoke_async::<u64>(&mut self.redis.conn())
                .await;
            match wait {
                Ok(0) => Ok(()),
                Ok(ms) => Err(Duration::from_millis(ms)),
                Err(e) => {
                    tracing::error!(error = %e, "redis: rate limit unavailable; letting the request through");
                    Ok(())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_counters_share_one_window() {
        let Some(redis) = crate::test_redis().await else {
            return;
        };
        let a = RedisRateCounter::new(redis.clone());
        let b = RedisRateCounter::new(redis);
        let rate = Rate::new(3, Duration::from_secs(60));
        assert!(a.hit("k", rate).await.is_ok());
        assert!(b.hit("k", rate).await.is_ok());
        assert!(a.hit("k", rate).await.is_ok());
        let wait = b.hit("k", rate).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(a.hit("other", rate).await.is_ok(), "keys are apart");
    }
}
