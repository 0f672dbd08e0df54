//! The retention job: deletes workflow runs older than `[retention] workflow_run_days`,
//! once per `every_s` across all instances. Every instance checks each minute (or each
//! interval, when shorter) whether the job is due and claims it with a lease in the
//! database; the claimant renews the lease while it deletes in batches. An instance that
//! dies mid-job leaves its lease to run out, and the next due check anywhere takes over.

use std::sync::{Arc, Weak};
use std::time::Duration;

use weir_core::util::now;

use crate::service::Runtime;

/// The job's name in `job_leases`.
pub const JOB: &str = "retention:workflow_runs";
/// A claim's lease; renewed after every batch.
pub const JOB_TTL: Duration = Duration::from_secs(60);
/// Runs deleted per statement.
const BATCH: i64 = 500;
/// The longest wait between two checks.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Starts the retention job when a retention is configured.
pub fn start(runtime: &Arc<Runtime>) {
    let settings = runtime.settings().retention.clone();
    if settings.workflow_run_days == 0 {
        return;
    }
    let every = Duration::from_secs(settings.every_s.max(1));
    let weak = Arc::downgrade(runtime);
    let instance = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_if_due(&weak, &instance, every).await {
                tracing::warn!(error = %e, job = JOB, "the retention job failed");
            }
            tokio::time::sleep(every.min(CHECK_EVERY)).await;
            if Weak::strong_count(&weak) == 0 {
                return;
            }
        }
    });
}

/// Runs the job here if it is due and this instance claims it; the runs deleted.
async fn run_if_due(
    weak: &Weak<Runtime>,
    instance: &str,
    every: Duration,
) -> Result<Option<u64>, weir_core::BoxError> {
    let Some(rt) = weak.upgrade() else {
        return Ok(None);
    };
    let store = rt.store();
    let ttl = JOB_TTL.as_secs() as i64;
    let t = now();
    if !store
        .claim_job(JOB, instance, t, t + ttl, t - every.as_secs() as i64)
        .await?
    {
        return Ok(None);
    }
    let days = i64::from(rt.settings().retention.workflow_run_days);
    let before = now() - days * 86_400;
    let mut deleted = 0;
    loop {
        let n = store.delete_runs_before(before, BATCH).await?;
        deleted += n;
        if n < BATCH as u64 {
            break;
        }
        if !store.renew_job(JOB, instance, now() + ttl).await? {
            tracing::warn!(
                job = JOB,
                "lost the retention lease; another instance goes on"
            );
            return Ok(Some(deleted));
        }
    }
    store.finish_job(JOB, instance, now()).await?;
    tracing::info!(
        job = JOB,
        instance,
        deleted,
        days,
        "retention: deleted old workflow runs"
    );
    Ok(Some(deleted))
}
