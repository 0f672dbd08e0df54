//! [`Coordination`] on Redis. Task leases and parked values are keys with a TTL; notices go
//! over one pub/sub channel that a background task follows (reconnecting when Redis comes
//! back); a run's event log is a stream whose entry ids are the events' positions (`0-n`),
//! written by a script so that numbering and appending are one atomic step.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use redis::{AsyncConnectionConfig, Script, Value};
use tokio::sync::broadcast;
use weir_core::coordination::{
    CoordError, Coordination, LoggedEvent, Notice, TaskInfo, LOG_MAX_EVENTS, LOG_RETENTION,
};
use weir_core::BoxFuture;

use super::{err, Redis};

/// How long an open log lives without a new event (a run's longest silence).
const LOG_OPEN_TTL: Duration = Duration::from_secs(3600);
/// How long a follower's read waits for new events before asking again.
const FOLLOW_BLOCK: Duration = Duration::from_secs(5);

/// Appends (`ARGV[1]` = event) or closes (`ARGV[1]` = "") a log: numbers the entry, adds
/// it with id `0-n`, bounds the stream, sets the expiry.
const APPEND: &str = r#"
local n = redis.call('INCR', KEYS[2])
if ARGV[1] == '' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '0-' .. n, 'end', '1')
else
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '0-' .. n, 'e', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return n
"#;

/// Coordination of instances through Redis.
pub struct RedisCoordination {
    redis: Redis,
    notices: broadcast::Sender<Notice>,
    append: Script,
    /// The notice follower runs while this lives.
    _alive: Arc<()>,
}

impl RedisCoordination {
    /// Starts following the notice channel; notices reach [`Coordination::notices`].
    pub fn start(redis: Redis) -> Arc<RedisCoordination> {
        let (tx, _) = broadcast::channel(1024);
        let alive = Arc::new(());
        tokio::spawn(follow_notices(
            redis.clone(),
            tx.clone(),
            Arc::downgrade(&alive),
        ));
        Arc::new(RedisCoordination {
            redis,
            notices: tx,
            append: Script::new(APPEND),
            _alive: alive,
        })
    }

    fn channel(&self) -> String {
        self.redis.key("notices", "all")
    }

    async fn log_entry(&self, run_id: &str, event: &[u8], ttl: Duration) -> Result<(), CoordError> {
        let mut conn = self.redis.conn();
        self.append
            .key(self.redis.key("log", run_id))
            .key(self.redis.key("logn", run_id))
            .arg(event)
            .arg(LOG_MAX_EVENTS)
            .arg(ttl.as_millis() as u64)
            .invoke_async::<u64>(&mut conn)
            .await
            .map(drop)
            .map_err(err)
    }
}

/// Follows the notice channel for good, resubscribing after a lost connection.
async fn follow_notices(redis: Redis, tx: broadcast::Sender<Notice>, alive: Weak<()>) {
    let channel = redis.key("notices", "all");
    loop {
        if alive.upgrade().is_none() {
            return;
        }
        match redis.client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, "redis: cannot subscribe to notices");
                } else {
                    let mut messages = pubsub.into_on_message();
                    while let Some(msg) = messages.next().await {
                        if alive.upgrade().is_none() {
                            return;
                        }
                        let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                        match serde_json::from_slice::<Notice>(&payload) {
                            Ok(notice) => {
                                let _ = tx.send(notice);
                            }
                            Err(e) => tracing::warn!(error = %e, "redis: an unreadable notice"),
                        }
                    }
                    tracing::warn!("redis: the notice subscription ended; resubscribing");
                }
            }
            Err(e) => tracing::warn!(error = %e, "redis: cannot open the notice subscription"),
        }
        if alive.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Coordination for RedisCoordination {
    fn lease_task<'a>(
        &'a self,
        task_id: &'a str,
        info: &'a TaskInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move {
            let value = serde_json::to_string(info).map_err(|e| CoordError(e.to_string()))?;
            redis::cmd("SET")
                .arg(self.redis.key("task", task_id))
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async::<()>(&mut self.redis.conn())
                .await
                .map_err(err)
        })
    }

    fn end_task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move {
            redis::cmd("DEL")
                .arg(self.redis.key("task", task_id))
                .query_async::<()>(&mut self.redis.conn())
                .await
                .map_err(err)
        })
    }

    fn task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<Option<TaskInfo>, CoordError>> {
        Box::pin(async move {
            let found: Option<String> = redis::cmd("GET")
                .arg(self.redis.key("task", task_id))
                .query_async(&mut self.redis.conn())
                .await
                .map_err(err)?;
            Ok(found.and_then(|v| serde_json::from_str(&v).ok()))
        })
    }

    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move {
            let payload = serde_json::to_string(notice).map_err(|e| CoordError(e.to_string()))?;
            redis::cmd("PUBLISH")
                .arg(self.channel())
                .arg(payload)
                .query_async::<()>(&mut self.redis.conn())
                .await
                .map_err(err)
        })
    }

    fn notices(&self) -> BoxStream<'static, Notice> {
        stream::unfold(self.notices.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(n) => return Some((n, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    fn park<'a>(
        &'a self,
        key: &'a str,
        value: String,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move {
            redis::cmd("SET")
                .arg(self.redis.key("park", key))
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async::<()>(&mut self.redis.conn())
                .await
                .map_err(err)
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, CoordError>> {
        Box::pin(async move {
            redis::cmd("GETDEL")
                .arg(self.redis.key("park", key))
                .query_async(&mut self.redis.conn())
                .await
                .map_err(err)
        })
    }

    fn append<'a>(
        &'a self,
        run_id: &'a str,
        event: Bytes,
    ) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move {
            if event.is_empty() {
                return Ok(());
            }
            self.log_entry(run_id, &event, LOG_OPEN_TTL).await
        })
    }

    fn close_log<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>> {
        Box::pin(async move { self.log_entry(run_id, b"", LOG_RETENTION).await })
    }

    fn follow(
        &self,
        run_id: &str,
        after: u64,
    ) -> BoxStream<'static, Result<LoggedEvent, CoordError>> {
        let redis = self.redis.clone();
        let key = redis.key("log", run_id);
        let reader = Reader {
            redis,
            key,
            after,
            conn: None,
            pending: std::collections::VecDeque::new(),
            done: false,
        };
        stream::unfold(reader, |mut r| async move {
            match r.next().await {
                Ok(Some(item)) => Some((Ok(item), r)),
                Ok(None) => None,
                Err(e) => {
                    r.done = true;
                    Some((Err(e), r))
                }
            }
        })
        .boxed()
    }

    fn round_trips(&self) -> u64 {
        self.redis.round_trips()
    }

    fn is_shared(&self) -> bool {
        true
    }
}

/// Reads a run's log with blocking reads on a connection of its own (a blocking read would
/// hold up everyone on the shared one).
struct Reader {
    redis: Redis,
    key: String,
    after: u64,
    conn: Option<redis::aio::MultiplexedConnection>,
    pending: std::collections::VecDeque<LoggedEvent>,
    done: bool,
}

impl Reader {
    async fn next(&mut self) -> Result<Option<LoggedEvent>, CoordError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if self.done {
                return Ok(None);
            }
            if self.conn.is_none() {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(Some(FOLLOW_BLOCK + Duration::from_secs(5)));
                let mut conn = self
                    .redis
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(err)?;
                // A run without a log (a blocking run, an unknown id) ends at once.
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&self.key)
                    .query_async(&mut conn)
                    .await
                    .map_err(err)?;
                self.redis.conn();
                if !exists {
                    return Ok(None);
                }
                self.conn = Some(conn);
            }
            let conn = self.conn.as_mut().expect("connected above");
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(256)
                .arg("BLOCK")
                .arg(FOLLOW_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(format!("0-{}", self.after))
                .query_async(conn)
                .await
                .map_err(err)?;
            self.redis.conn();
            let entries = entries_of(reply);
            if entries.is_empty() {
                // Nothing new: the log may have expired with its run's instance.
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&self.key)
                    .query_async(conn)
                    .await
                    .map_err(err)?;
                if !exists {
                    return Ok(None);
                }
            }
            for (pos, fields) in entries {
                self.after = pos;
                match fields {
                    Some(event) => self.pending.push_back((pos, event)),
                    None => {
                        self.done = true;
                        break;
                    }
                }
            }
        }
    }
}

/// The entries of an XREAD reply: position and event (`None` for the end marker).
fn entries_of(reply: Value) -> Vec<(u64, Option<Bytes>)> {
    let mut out = Vec::new();
    let streams = match reply {
        Value::Array(s) => s,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return out,
    };
    for stream in streams {
        let Value::Array(mut parts) = stream else {
            continue;
        };
        let Some(Value::Array(entries)) = parts.pop() else {
            continue;
        };
        for entry in entries {
            let Value::Array(mut pair) = entry else {
                continue;
            };
            let (Some(fields), Some(id)) = (pair.pop(), pair.pop()) else {
                continue;
            };
            let Some(pos) = text(&id)
                .and_then(|id| id.strip_prefix("0-").map(str::to_owned))
                .and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let Value::Array(fields) = fields else {
                continue;
            };
            let mut event = None;
            for kv in fields.chunks(2) {
                if let [k, v] = kv {
                    if text(k).as_deref() == Some("e") {
                        event = bytes_of(v);
                    }
                }
            }
            out.push((pos, event));
        }
    }
    out
}

fn text(v: &Value) -> Option<String> {
    bytes_of(v).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

fn bytes_of(v: &Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logs_leases_parked_values_and_notices_cross_instances() {
        let Some(redis) = crate::test_redis().await else {
            return;
        };
        let a = RedisCoordination::start(redis.clone());
        let b = RedisCoordination::start(redis);
        // Event logs: positions from 1, a follower elsewhere from any position, live.
        a.append("run", Bytes::from_static(b"one")).await.unwrap();
        a.append("run", Bytes::from_static(b"two")).await.unwrap();
        let mut follower = b.follow("run", 1);
        assert_eq!(
            follower.next().await.unwrap().unwrap(),
            (2, Bytes::from_static(b"two"))
        );
        a.append("run", Bytes::from_static(b"three")).await.unwrap();
        a.close_log("run").await.unwrap();
        let rest: Vec<u64> = follower.map(|e| e.unwrap().0).collect().await;
        assert_eq!(rest, vec![3]);
        assert!(b.follow("no-such-run", 0).next().await.is_none());
        // Leases.
        let info = TaskInfo {
            app_id: "app".into(),
            owner: Some("ana".into()),
        };
        a.lease_task("t", &info, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(b.task("t").await.unwrap(), Some(info));
        a.end_task("t").await.unwrap();
        assert_eq!(b.task("t").await.unwrap(), None);
        // Parked values are taken once, anywhere.
        a.park("import", "dsl".into(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(b.take("import").await.unwrap().as_deref(), Some("dsl"));
        assert_eq!(a.take("import").await.unwrap(), None);
        // Notices reach every instance.
        let mut seen = b.notices();
        let stop = Notice::Stop {
            task_id: "t".into(),
        };
        // The subscription is set up in the background: send until it is heard.
        let heard = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                a.notify(&stop).await.unwrap();
                if let Ok(Some(n)) =
                    tokio::time::timeout(Duration::from_millis(100), seen.next()).await
                {
                    return n;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(heard, stop);
        assert!(a.round_trips() > 0);
    }
}
