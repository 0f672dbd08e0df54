//! Re-attachable run streams: a streaming workflow run writes each event to its log in the
//! [`Coordination`] (memory in one process, Redis Streams across instances), so a second
//! connection — here or on another instance — can replay it and follow it live. With
//! shared coordination the run also holds a lease; [`reap_orphans`] fails the runs whose
//! instance died (their lease ran out) and ends their logs, so no reader waits for ever.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use weir_core::coordination::{Coordination, TaskInfo, LEASE_TTL};
use weir_core::events::names;
use weir_store::WorkflowRunRow;

use crate::service::Runtime;

/// The error a run gets when its instance stopped before it ended.
pub const ORPHANED: &str = "The instance running this workflow stopped before it finished.";

/// The lease key of a run.
fn lease_key(run_id: &str) -> String {
    format!("run:{run_id}")
}

/// A running run's log; closing it (on drop) lets readers reach its end.
pub struct RunLog {
    coord: Arc<dyn Coordination>,
    run_id: String,
    lease: Option<tokio::task::JoinHandle<()>>,
}

impl RunLog {
    /// Opens the log of `run_id` (a run of `app_id`), leasing the run when instances share
    /// coordination.
    pub fn open(coord: &Arc<dyn Coordination>, run_id: &str, app_id: &str) -> RunLog {
        let lease = coord.is_shared().then(|| {
            let (coord, key) = (coord.clone(), lease_key(run_id));
            let info = TaskInfo {
                app_id: app_id.to_owned(),
                owner: None,
            };
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(LEASE_TTL / 3);
                loop {
                    tick.tick().await;
                    if let Err(e) = coord.lease_task(&key, &info, LEASE_TTL).await {
                        tracing::warn!(error = %e, key, "cannot renew a run lease");
                    }
                }
            })
        });
        RunLog {
            coord: coord.clone(),
            run_id: run_id.to_owned(),
            lease,
        }
    }

    /// Appends an event (a failure is logged: the run goes on for its own client).
    pub async fn append(&self, event: &Bytes) {
        if let Err(e) = self.coord.append(&self.run_id, event.clone()).await {
            tracing::warn!(error = %e, run_id = self.run_id, "an event missed the run's log");
        }
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        let lease = self.lease.take();
        if let Some(l) = &lease {
            l.abort();
        }
        let (coord, run_id) = (self.coord.clone(), std::mem::take(&mut self.run_id));
        tokio::spawn(async move {
            if let Err(e) = coord.close_log(&run_id).await {
                tracing::warn!(error = %e, run_id, "a run's log stays open until it expires");
            }
            if lease.is_some() {
                let _ = coord.end_task(&lease_key(&run_id)).await;
            }
        });
    }
}

/// The `workflow_finished` event of a stored run (JSON, unframed).
pub fn finished_event(run: &WorkflowRunRow, session: Option<&str>) -> Value {
    let outputs: Value = run
        .outputs
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(json!({}));
    let mut event = Map::new();
    event.insert("event".into(), names::WORKFLOW_FINISHED.into());
    if let Some(c) = &run.conversation_id {
        event.insert("conversation_id".into(), c.clone().into());
    }
    if let Some(m) = &run.message_id {
        event.insert("message_id".into(), m.clone().into());
    }
    event.insert("task_id".into(), run.id.clone().into());
    event.insert("workflow_run_id".into(), run.id.clone().into());
    event.insert(
        "data".into(),
        json!({
            "id": run.id, "workflow_id": run.workflow_id, "status": run.status, "outputs": outputs,
            "error": run.error, "elapsed_time": run.elapsed_time, "total_tokens": run.total_tokens,
            "total_steps": run.total_steps,
            "created_by": {"id": run.created_by_end_user_id, "user": session},
            "created_at": run.created_at, "finished_at": run.finished_at,
            "exceptions_count": run.exceptions_count, "files": [],
        }),
    );
    Value::Object(event)
}

/// How often an instance looks for orphaned runs.
pub const REAP_EVERY: Duration = Duration::from_secs(5);

/// Fails the runs left `running` by an instance that is gone, and ends their logs with
/// their `workflow_finished`: in one process, the runs a previous process left (once, at
/// start); with shared coordination, runs whose lease ran out (every [`REAP_EVERY`]).
pub fn reap_orphans(runtime: &Arc<Runtime>) {
    let weak = Arc::downgrade(runtime);
    let started = now();
    tokio::spawn(async move {
        loop {
            let Some(rt) = weak.upgrade() else { return };
            let shared = rt.coord().is_shared();
            // A run younger than a lease may not have taken its lease yet.
            let before = if shared {
                now() - LEASE_TTL.as_secs() as i64
            } else {
                started
            };
            if let Err(e) = reap_once(&rt, before, shared).await {
                tracing::warn!(error = %e, "cannot look for orphaned runs");
            }
            drop(rt);
            if !shared {
                return;
            }
            tokio::time::sleep(REAP_EVERY).await;
            if Weak::strong_count(&weak) == 0 {
                return;
            }
        }
    });
}

async fn reap_once(rt: &Runtime, before: i64, shared: bool) -> Result<(), weir_core::BoxError> {
    for run in rt.store().running_runs(before, 100).await? {
        if shared && rt.coord().task(&lease_key(&run.id)).await?.is_some() {
            continue;
        }
        if rt
            .store()
            .fail_running_run(&run.id, ORPHANED, now())
            .await?
        {
            tracing::warn!(
                run_id = run.id,
                app_id = run.app_id,
                "failed a run whose instance stopped"
            );
            if let Some(done) = rt.store().run(&run.app_id, &run.id).await? {
                let event = finished_event(&done, None).to_string();
                rt.coord().append(&run.id, Bytes::from(event)).await?;
                rt.coord().close_log(&run.id).await?;
            }
        }
    }
    Ok(())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
