//! App slots shared by every instance (`app_max_active_requests`): a sorted set per app of
//! slot ids scored by when their lease runs out. A holder renews its lease while its
//! request runs and removes it when done; a slot whose instance died expires with its
//! lease, so a crash frees its slots within [`SLOT_TTL`].

use std::time::Duration;

use redis::Script;
use weir_layers::concurrency::{Slot, SlotStore};
use weir_layers::BoxFuture;

use super::Redis;

/// A slot's lease; its holder renews it every third of this.
pub const SLOT_TTL: Duration = Duration::from_secs(15);

/// Drops expired slots, then takes one if fewer than `ARGV[1]` are held.
const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
  return 1
end
return 0
"#;

/// Extends a slot's lease if it is still held.
const RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return 1
"#;

/// A [`SlotStore`] in Redis. When Redis cannot be reached the request is let through and
/// the failure logged.
pub struct RedisSlotStore {
    redis: Redis,
    acquire: Script,
}

impl RedisSlotStore {
    /// A store on `redis`.
    pub fn new(redis: Redis) -> Self {
        RedisSlotStore {
            redis,
            acquire: Script::new(ACQUIRE),
        }
    }
}

/// A held slot: renews its lease until dropped, then gives it back.
struct Lease {
    renewal: tokio::task::JoinHandle<()>,
    release: Option<(Redis, String, String)>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Some((redis, key, id)) = self.release.take() {
            tokio::spawn(async move {
                let removed = redis::cmd("ZREM")
                    .arg(&key)
                    .arg(&id)
                    .query_async::<()>(&mut redis.conn())
                    .await;
                if let Err(e) = removed {
                    tracing::warn!(error = %e, "redis: a slot outlives its request until its lease ends");
                }
            });
        }
    }
}

impl SlotStore for RedisSlotStore {
    fn acquire<'a>(&'a self, key: &'a str, max: u32) -> BoxFuture<'a, Option<Slot>> {
        Box::pin(async move {
            let key = self.redis.key("slots", key);
            let id = uuid::Uuid::new_v4().to_string();
            let ttl = SLOT_TTL.as_millis() as u64;
            let taken = self
                .acquire
                .key(&key)
                .arg(max)
                .arg(ttl)
                .arg(&id)
                .invoke_async::<u32>(&mut self.redis.conn())
                .await;
            match taken {
                Ok(0) => None,
                Ok(_) => {
                    let (redis, k, i) = (self.redis.clone(), key.clone(), id.clone());
                    let renewal = tokio::spawn(async move {
                        let renew = Script::new(RENEW);
                        let mut tick = tokio::time::interval(SLOT_TTL / 3);
                        tick.tick().await;
                        loop {
                            tick.tick().await;
                            let _ = renew
                                .key(&k)
                                .arg(ttl)
                                .arg(&i)
                                .invoke_async::<u32>(&mut redis.conn())
                                .await;
                        }
                    });
                    Some(Slot::new(Lease {
                        renewal,
                        release: Some((self.redis.clone(), key, id)),
                    }))
                }
                Err(e) => {
                    tracing::error!(error = %e, "redis: app slots unavailable; letting the request through");
                    Some(Slot::new(()))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_stores_share_the_cap_and_a_released_slot_comes_back() {
        let Some(redis) = crate::test_redis().await else {
            return;
        };
        let a = RedisSlotStore::new(redis.clone());
        let b = RedisSlotStore::new(redis);
        let first = a.acquire("app", 2).await.expect("a slot");
        let _second = b.acquire("app", 2).await.expect("a slot");
        assert!(
            a.acquire("app", 2).await.is_none(),
            "two held across instances"
        );
        drop(first);
        let mut again = None;
        for _ in 0..50 {
            again = b.acquire("app", 2).await;
            if again.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(again.is_some(), "the released slot is free again");
    }
}
