//! Coordination of several weir instances through one Redis: the [`Coordination`] of
//! `weir-core` ([`RedisCoordination`]: task leases, notices over pub/sub, parked values,
//! per-run event logs in Redis Streams) and the stores behind two layers — rate limits as
//! sliding windows ([`RedisRateCounter`]) and app slots as expiring leases
//! ([`RedisSlotStore`]). Every key starts with the configured prefix, so instances of one
//! deployment share it and tests keep theirs apart.

mod coordination;
mod rate;
mod slots;

pub use coordination::RedisCoordination;
pub use rate::RedisRateCounter;
pub use slots::RedisSlotStore;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use weir_core::coordination::CoordError;

/// One Redis for a deployment: the client, a shared reconnecting connection, the key
/// prefix and a count of round trips.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: Arc<str>,
    trips: Arc<AtomicU64>,
}

impl Redis {
    /// Connects to `url`; every key will start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Redis, CoordError> {
        let client = redis::Client::open(url).map_err(err)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(err)?;
        Ok(Redis {
            client,
            conn,
            prefix: prefix.into(),
            trips: Arc::default(),
        })
    }

    /// Whether `url` names a Redis weir can reach (`redis://` or `unix://`).
    pub fn check_url(url: &str) -> Result<(), String> {
        let info = redis::Client::open(url).map_err(|e| e.to_string())?;
        match info.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::Unix(_) => Ok(()),
            _ => Err("TLS (rediss://) is not supported; use redis:// on a trusted network".into()),
        }
    }

    /// A key under the prefix.
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// The shared connection, counting one round trip.
    fn conn(&self) -> ConnectionManager {
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.conn.clone()
    }

    /// Round trips so far.
    pub fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }
}

/// A Redis failure as a coordination error.
fn err(e: redis::RedisError) -> CoordError {
    CoordError(e.to_string())
}

/// The scratch Redis of a test, when `WEIR_TEST_REDIS_URL` is set: a fresh prefix each.
/// With `WEIR_REQUIRE_REDIS` set (CI), a missing URL fails the test instead of skipping it.
#[cfg(test)]
pub(crate) async fn test_redis() -> Option<Redis> {
    let Ok(url) = std::env::var("WEIR_TEST_REDIS_URL") else {
        assert!(
            std::env::var_os("WEIR_REQUIRE_REDIS").is_none(),
            "WEIR_REQUIRE_REDIS is set but WEIR_TEST_REDIS_URL is not"
        );
        return None;
    };
    let prefix = format!("weir-test:{}:", uuid::Uuid::new_v4());
    Some(
        Redis::connect(&url, &prefix)
            .await
            .expect("test Redis answers"),
    )
}
