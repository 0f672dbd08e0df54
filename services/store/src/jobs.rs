//! Leases of background work, so that one instance does each piece once: periodic jobs
//! (`job_leases`) and knowledge indexing (`indexing_claims`). On Postgres a claim locks the
//! row with `FOR UPDATE SKIP LOCKED` (a second instance claiming at the same moment skips
//! it rather than waits); on SQLite, with one writer, a conditional update does the same.
//! And what the retention job deletes.

use sqlx::Row;

use super::{Backend, Result, Stmt, Store};

/// A table of leases: its name and key column.
struct Leases {
    table: &'static str,
    key: &'static str,
}

/// Job leases.
const JOBS: Leases = Leases {
    table: "job_leases",
    key: "name",
};
/// Indexing claims.
const INDEXING: Leases = Leases {
    table: "indexing_claims",
    key: "document_id",
};

impl Store {
    /// Takes (or renews) the lease on row `key` of `leases` for `instance` until `until`,
    /// unless another instance's lease is live at `now`, and — given `due_before` — unless
    /// the row last finished after it. True when taken.
    async fn claim_lease(
        &self,
        leases: &Leases,
        key: &str,
        instance: &str,
        now: i64,
        until: i64,
        due_before: Option<i64>,
    ) -> Result<bool> {
        let Leases { table, key: column } = leases;
        // $1 key, $2 now, $3 instance, $4 until, $5 due_before (when given).
        let due = if due_before.is_some() {
            "AND last_done_at <= $5"
        } else {
            ""
        };
        let free = format!("{column} = $1 AND (lease_until < $2 OR claimed_by = $3) {due}");
        let take = format!("UPDATE {table} SET claimed_by = $3, lease_until = $4 WHERE {free}");
        let create = Stmt::new(
            format!(
                "INSERT INTO {table} ({column}, claimed_by, lease_until) VALUES ($1, '', 0) \
                 ON CONFLICT ({column}) DO NOTHING"
            ),
            crate::vals![key],
        );
        let mut params = crate::vals![key, now, instance, until];
        if let Some(d) = due_before {
            params.push(d.into());
        }
        if self.backend == Backend::Sqlite {
            let changed = self.apply(vec![create, Stmt::new(take, params)]).await?;
            return Ok(changed.get(1).copied().unwrap_or(0) > 0);
        }
        self.apply(vec![create]).await?;
        let mut tx = self.pool.begin().await?;
        let pick = format!(
            "SELECT {column}, CAST($4 AS BIGINT) AS until FROM {table} WHERE {free} \
             FOR UPDATE SKIP LOCKED"
        );
        let found = crate::write::bind_all(sqlx::query(&pick), &params)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        crate::write::bind_all(sqlx::query(&take), &params)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claims job `name` for `instance` until `until` when it is due — no live lease at
    /// `now`, and its last run finished at or before `due_before`. True when claimed.
    pub async fn claim_job(
        &self,
        name: &str,
        instance: &str,
        now: i64,
        until: i64,
        due_before: i64,
    ) -> Result<bool> {
        self.claim_lease(&JOBS, name, instance, now, until, Some(due_before))
            .await
    }

    /// Claims a document's indexing for `instance` until `until`, unless another
    /// instance's claim is live at `now`; renews the claim when `instance` holds it. True
    /// when claimed.
    pub async fn claim_document(
        &self,
        document_id: &str,
        instance: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        self.claim_lease(&INDEXING, document_id, instance, now, until, None)
            .await
    }

    /// Extends `instance`'s lease of job `name`; false when it no longer holds it.
    pub async fn renew_job(&self, name: &str, instance: &str, until: i64) -> Result<bool> {
        let changed = self
            .apply(vec![Stmt::new(
                "UPDATE job_leases SET lease_until = $3 WHERE name = $1 AND claimed_by = $2",
                crate::vals![name, instance, until],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// Ends `instance`'s run of job `name`, finished at `now`.
    pub async fn finish_job(&self, name: &str, instance: &str, now: i64) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE job_leases SET lease_until = 0, last_done_at = $3 \
             WHERE name = $1 AND claimed_by = $2",
            crate::vals![name, instance, now],
        )])
        .await?;
        Ok(())
    }

    /// When job `name` last finished (0: never).
    pub async fn job_last_done(&self, name: &str) -> Result<i64> {
        let row = sqlx::query("SELECT last_done_at FROM job_leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("last_done_at")?,
            None => 0,
        })
    }

    /// Deletes up to `limit` finished workflow runs created before `before`, with their
    /// node executions; returns how many runs went.
    pub async fn delete_runs_before(&self, before: i64, limit: i64) -> Result<u64> {
        let pick = "SELECT id FROM workflow_runs WHERE created_at < $1 AND status <> 'running' \
                    ORDER BY created_at, id LIMIT $2";
        let changed = self
            .apply(vec![
                Stmt::new(
                    format!(
                        "DELETE FROM workflow_node_executions WHERE workflow_run_id IN ({pick})"
                    ),
                    crate::vals![before, limit],
                ),
                Stmt::new(
                    format!("DELETE FROM workflow_runs WHERE id IN ({pick})"),
                    crate::vals![before, limit],
                ),
            ])
            .await?;
        Ok(changed.get(1).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{scratch_stores, test_app};
    use crate::WorkflowRunRow;
    use weir_core::util::new_id;

    #[tokio::test]
    async fn a_due_job_is_claimed_once_renewed_finished_and_taken_over_after_its_lease() {
        for db in scratch_stores().await {
            let store = &db.store;
            // Both instances find it due at 100; one gets it.
            assert!(store.claim_job("j", "a", 100, 160, 90).await.unwrap());
            assert!(!store.claim_job("j", "b", 100, 160, 90).await.unwrap());
            assert!(store.renew_job("j", "a", 200).await.unwrap());
            assert!(!store.renew_job("j", "b", 200).await.unwrap());
            // a dies: its lease runs out at 200 and b takes the job over.
            assert!(!store.claim_job("j", "b", 150, 210, 140).await.unwrap());
            assert!(store.claim_job("j", "b", 201, 260, 191).await.unwrap());
            assert!(!store.renew_job("j", "a", 300).await.unwrap());
            store.finish_job("j", "b", 220).await.unwrap();
            assert_eq!(store.job_last_done("j").await.unwrap(), 220);
            // Not due again until its interval has passed since 220.
            assert!(!store.claim_job("j", "a", 230, 290, 170).await.unwrap());
            assert!(store.claim_job("j", "a", 300, 360, 240).await.unwrap());
            assert_eq!(store.job_last_done("other").await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn a_document_is_claimed_by_one_instance_renewed_and_taken_over() {
        for db in scratch_stores().await {
            let store = &db.store;
            assert!(store.claim_document("d", "a", 100, 130).await.unwrap());
            assert!(!store.claim_document("d", "b", 101, 131).await.unwrap());
            assert!(store.claim_document("d", "a", 110, 140).await.unwrap());
            assert!(!store.claim_document("d", "b", 139, 169).await.unwrap());
            assert!(store.claim_document("d", "b", 141, 171).await.unwrap());
            store.release_document("d", "b").await.unwrap();
            assert!(store.claim_document("d", "a", 142, 172).await.unwrap());
        }
    }

    #[tokio::test]
    async fn retention_deletes_old_finished_runs_with_their_nodes_in_batches() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (_, app) = test_app(store, "workflow").await;
            let mut ids = Vec::new();
            for (age, status) in [
                (10, "succeeded"),
                (9, "failed"),
                (8, "running"),
                (1, "succeeded"),
            ] {
                let run = WorkflowRunRow {
                    id: new_id(),
                    app_id: app.clone(),
                    workflow_id: new_id(),
                    kind: "workflow".into(),
                    conversation_id: None,
                    message_id: None,
                    status: status.into(),
                    inputs: "{}".into(),
                    outputs: None,
                    error: None,
                    elapsed_time: 0.0,
                    total_tokens: 0,
                    total_steps: 0,
                    exceptions_count: 0,
                    created_by_end_user_id: None,
                    created_at: 1000 - age,
                    finished_at: None,
                };
                store.insert_run(&run).await.unwrap();
                ids.push(run.id);
            }
            // Older than 995: two finished runs, one per batch; the running one stays.
            assert_eq!(store.delete_runs_before(995, 1).await.unwrap(), 1);
            assert_eq!(store.delete_runs_before(995, 1).await.unwrap(), 1);
            assert_eq!(store.delete_runs_before(995, 1).await.unwrap(), 0);
            let mut left = Vec::new();
            for id in &ids {
                left.push(store.run(&app, id).await.unwrap().is_some());
            }
            assert_eq!(left, [false, false, true, true]);
        }
    }
}
