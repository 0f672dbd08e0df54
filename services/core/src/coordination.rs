//! Coordination between instances (and, in one process, between a run and whoever may stop
//! or follow it): the stop flag a run checks between events, and [`Coordination`] — task
//! leases, notices to every instance, parked values and per-run event logs. [`Local`] is the
//! single-binary implementation; a shared store (Redis) implements the same trait so several
//! instances behave as one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};

use crate::BoxFuture;

/// The stop flag of one run.
#[derive(Debug, Default)]
pub struct StopFlag {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopFlag {
    /// Raises the flag.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the flag is up.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Completes once the flag is up.
    pub async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// A running task as every instance sees it: whose app it is and who may stop it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The app it runs.
    pub app_id: String,
    /// The end user who started it, when only they may stop it.
    pub owner: Option<String>,
}

/// A message to every instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Raise this task's stop flag wherever it runs.
    Stop {
        /// The task.
        task_id: String,
    },
    /// Drop cached credentials: one token's, or all when `None`.
    Revoke {
        /// The token's id.
        token_id: Option<String>,
    },
}

/// An event of a run's log and its position (the first is 1).
pub type LoggedEvent = (u64, Bytes);

/// The shared store failed or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("coordination store: {0}")]
pub struct CoordError(pub String);

/// How long a finished run's event log stays readable.
pub const LOG_RETENTION: Duration = Duration::from_secs(600);
/// Events kept per run log (the oldest go first past it).
pub const LOG_MAX_EVENTS: usize = 10_000;
/// How long a task lease lasts unless renewed; holders renew it every third of this.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// What instances share beside the database.
pub trait Coordination: Send + Sync + 'static {
    /// Announces (or renews) a running task for `ttl`.
    fn lease_task<'a>(
        &'a self,
        task_id: &'a str,
        info: &'a TaskInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CoordError>>;
    /// Withdraws a task's lease (it finished).
    fn end_task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>>;
    /// A task whose lease is current.
    fn task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<Option<TaskInfo>, CoordError>>;
    /// Sends a notice to every instance (this one included).
    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), CoordError>>;
    /// The notices sent from now on.
    fn notices(&self) -> BoxStream<'static, Notice>;
    /// Keeps `value` under `key` for `ttl`.
    fn park<'a>(
        &'a self,
        key: &'a str,
        value: String,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CoordError>>;
    /// Takes (removes) a parked value.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, CoordError>>;
    /// Appends an event to a run's log (opening it).
    fn append<'a>(&'a self, run_id: &'a str, event: Bytes)
        -> BoxFuture<'a, Result<(), CoordError>>;
    /// Closes a run's log: readers get what it holds, then its end; it expires after
    /// [`LOG_RETENTION`].
    fn close_log<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>>;
    /// The events of a run's log after position `after`, live until the log closes. Ends at
    /// once when the run has no log.
    fn follow(
        &self,
        run_id: &str,
        after: u64,
    ) -> BoxStream<'static, Result<LoggedEvent, CoordError>>;
    /// Round trips to the shared store so far (0 in one process).
    fn round_trips(&self) -> u64 {
        0
    }
    /// Whether other instances share this coordination (leases are worth keeping).
    fn is_shared(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct RunLog {
    /// Position of `events[0]`.
    first: u64,
    events: std::collections::VecDeque<Bytes>,
    closed_at: Option<Instant>,
    grew: Arc<Notify>,
}

/// How long one process keeps a closed log for readers still catching up (a finished run
/// is otherwise read from the database).
const LOCAL_LOG_GRACE: Duration = Duration::from_secs(10);
/// Closed logs one process keeps at most.
const LOCAL_MAX_CLOSED: usize = 1000;

#[derive(Default)]
struct Logs {
    open: HashMap<String, RunLog>,
    /// Closed logs, oldest first.
    closed: std::collections::VecDeque<(Instant, String)>,
}

/// The single-process implementation: maps in memory, notices over a channel.
pub struct Local {
    tasks: Mutex<HashMap<String, (TaskInfo, Instant)>>,
    parked: Mutex<HashMap<String, (String, Instant)>>,
    logs: Arc<Mutex<Logs>>,
    notices: broadcast::Sender<Notice>,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            tasks: Mutex::default(),
            parked: Mutex::default(),
            logs: Arc::default(),
            notices: broadcast::channel(1024).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Local {
    /// An empty coordinator.
    pub fn new() -> Arc<Local> {
        Arc::new(Local::default())
    }

    fn prune_logs(logs: &mut Logs) {
        while let Some((at, run_id)) = logs.closed.front() {
            if at.elapsed() < LOCAL_LOG_GRACE && logs.closed.len() <= LOCAL_MAX_CLOSED {
                break;
            }
            logs.open.remove(run_id);
            logs.closed.pop_front();
        }
    }
}

impl Coordination for Local {
    fn lease_task<'a>(
        &'a self,
        task_id: &'a str,
        info: &'a TaskInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CoordError>> {
        let until = Instant::now() + ttl;
        lock(&self.tasks).insert(task_id.to_owned(), (info.clone(), until));
        Box::pin(async { Ok(()) })
    }

    fn end_task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>> {
        lock(&self.tasks).remove(task_id);
        Box::pin(async { Ok(()) })
    }

    fn task<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<Option<TaskInfo>, CoordError>> {
        let now = Instant::now();
        let found = lock(&self.tasks)
            .get(task_id)
            .filter(|(_, until)| *until > now)
            .map(|(info, _)| info.clone());
        Box::pin(async { Ok(found) })
    }

    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), CoordError>> {
        let _ = self.notices.send(notice.clone());
        Box::pin(async { Ok(()) })
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
        let now = Instant::now();
        let mut parked = lock(&self.parked);
        parked.retain(|_, (_, until)| *until > now);
        parked.insert(key.to_owned(), (value, now + ttl));
        Box::pin(async { Ok(()) })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, CoordError>> {
        let now = Instant::now();
        let found = lock(&self.parked)
            .remove(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v);
        Box::pin(async { Ok(found) })
    }

    fn append<'a>(
        &'a self,
        run_id: &'a str,
        event: Bytes,
    ) -> BoxFuture<'a, Result<(), CoordError>> {
        let mut logs = lock(&self.logs);
        if !logs.open.contains_key(run_id) {
            Self::prune_logs(&mut logs);
        }
        let log = logs
            .open
            .entry(run_id.to_owned())
            .or_insert_with(|| RunLog {
                first: 1,
                ..RunLog::default()
            });
        log.events.push_back(event);
        if log.events.len() > LOG_MAX_EVENTS {
            log.events.pop_front();
            log.first += 1;
        }
        log.grew.notify_waiters();
        Box::pin(async { Ok(()) })
    }

    fn close_log<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<(), CoordError>> {
        let mut logs = lock(&self.logs);
        if let Some(log) = logs.open.get_mut(run_id) {
            if log.closed_at.is_none() {
                log.closed_at = Some(Instant::now());
                log.grew.notify_waiters();
                logs.closed.push_back((Instant::now(), run_id.to_owned()));
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn follow(
        &self,
        run_id: &str,
        after: u64,
    ) -> BoxStream<'static, Result<LoggedEvent, CoordError>> {
        let logs = self.logs.clone();
        let run_id = run_id.to_owned();
        stream::unfold(after, move |next_after| {
            let logs = logs.clone();
            let run_id = run_id.clone();
            async move {
                loop {
                    let grew = {
                        let logs = lock(&logs);
                        let log = logs.open.get(&run_id)?;
                        let pos = (next_after + 1).max(log.first);
                        let index = (pos - log.first) as usize;
                        if let Some(event) = log.events.get(index) {
                            return Some((Ok((pos, event.clone())), pos));
                        }
                        if log.closed_at.is_some() {
                            return None;
                        }
                        let grew = log.grew.clone();
                        // Registered before the lock is released: no append is missed.
                        let mut notified = Box::pin(grew.notified_owned());
                        notified.as_mut().enable();
                        notified
                    };
                    grew.await;
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_gets_the_log_from_a_position_then_live_until_it_closes() {
        let local = Local::new();
        local.append("r", Bytes::from_static(b"a")).await.unwrap();
        local.append("r", Bytes::from_static(b"b")).await.unwrap();
        let mut all = local.follow("r", 0);
        let mut later = local.follow("r", 1);
        assert_eq!(
            all.next().await.unwrap().unwrap(),
            (1, Bytes::from_static(b"a"))
        );
        assert_eq!(later.next().await.unwrap().unwrap().0, 2);
        let writer = local.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writer.append("r", Bytes::from_static(b"c")).await.unwrap();
            writer.close_log("r").await.unwrap();
        });
        let rest: Vec<u64> = all.map(|e| e.unwrap().0).collect().await;
        assert_eq!(rest, vec![2, 3]);
        assert!(local.follow("nothing", 0).next().await.is_none());
    }

    #[tokio::test]
    async fn leases_parked_values_and_notices() {
        let local = Local::new();
        let info = TaskInfo {
            app_id: "app".into(),
            owner: None,
        };
        local.lease_task("t", &info, LEASE_TTL).await.unwrap();
        assert_eq!(local.task("t").await.unwrap(), Some(info.clone()));
        local
            .lease_task("old", &info, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(local.task("old").await.unwrap(), None, "an expired lease");
        local.end_task("t").await.unwrap();
        assert_eq!(local.task("t").await.unwrap(), None);
        local.park("k", "v".into(), LEASE_TTL).await.unwrap();
        assert_eq!(local.take("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(local.take("k").await.unwrap(), None, "taken once");
        let mut notices = local.notices();
        let stop = Notice::Stop {
            task_id: "t".into(),
        };
        local.notify(&stop).await.unwrap();
        assert_eq!(notices.next().await, Some(stop));
    }
}
