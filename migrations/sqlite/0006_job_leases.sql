-- Periodic background jobs (retention) run by one instance at a time: the instance that
-- claims a due job holds its lease while it works and renews it; a lease whose instance
-- died runs out and another instance takes the job over. last_done_at spaces the runs.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_done_at BIGINT NOT NULL DEFAULT 0
);
-- Retention deletes runs by age across apps.
CREATE INDEX workflow_runs_created ON workflow_runs(created_at);
