//! Workflow runs and their node executions. A run is inserted when it starts and finished,
//! with all its node executions, in one transaction when it ends.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Stmt, Store};
use weir_core::rows::NodeRecord;

/// A workflow run as stored.
#[derive(Clone, Debug)]
pub struct WorkflowRunRow {
    /// Id.
    pub id: String,
    /// App.
    pub app_id: String,
    /// Workflow version.
    pub workflow_id: String,
    /// `workflow` or `chat` (advanced-chat).
    pub kind: String,
    /// Conversation (chatflows).
    pub conversation_id: Option<String>,
    /// Message (chatflows).
    pub message_id: Option<String>,
    /// `running`, `succeeded`, `failed`, `stopped`, `partial-succeeded`.
    pub status: String,
    /// Inputs with `sys.*` (JSON text).
    pub inputs: String,
    /// Outputs (JSON text).
    pub outputs: Option<String>,
    /// Error text.
    pub error: Option<String>,
    /// Seconds.
    pub elapsed_time: f64,
    /// Tokens.
    pub total_tokens: i64,
    /// Nodes run.
    pub total_steps: i64,
    /// Nodes absorbed by error strategies.
    pub exceptions_count: i64,
    /// The caller.
    pub created_by_end_user_id: Option<String>,
    /// Started.
    pub created_at: i64,
    /// Finished.
    pub finished_at: Option<i64>,
}

/// A run in the logs, with its caller's session id.
#[derive(Clone, Debug)]
pub struct RunLogRow {
    /// The run.
    pub run: WorkflowRunRow,
    /// The caller's `user` string.
    pub session_id: Option<String>,
    /// Whether the caller is `DEFAULT-USER`.
    pub is_anonymous: bool,
}

/// Filters of `GET /workflows/logs`.
#[derive(Clone, Debug, Default)]
pub struct RunLogFilter {
    /// Status.
    pub status: Option<String>,
    /// Text in inputs/outputs, the session id, or the run id.
    pub keyword: Option<String>,
    /// Created before (Unix seconds).
    pub before: Option<i64>,
    /// Created after.
    pub after: Option<i64>,
    /// Caller's session id.
    pub session_id: Option<String>,
}

const COLUMNS: &str =
    "r.id, r.app_id, r.workflow_id, r.type, r.conversation_id, r.message_id, r.status, r.inputs, \
    r.outputs, r.error, r.elapsed_time, r.total_tokens, r.total_steps, r.exceptions_count, \
    r.created_by_end_user_id, r.created_at, r.finished_at";

fn run_row(r: &AnyRow) -> sqlx::Result<WorkflowRunRow> {
    Ok(WorkflowRunRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        workflow_id: r.try_get("workflow_id")?,
        kind: r.try_get("type")?,
        conversation_id: r.try_get("conversation_id")?,
        message_id: r.try_get("message_id")?,
        status: r.try_get("status")?,
        inputs: r.try_get("inputs")?,
        outputs: r.try_get("outputs")?,
        error: r.try_get("error")?,
        elapsed_time: r.try_get("elapsed_time")?,
        total_tokens: r.try_get("total_tokens")?,
        total_steps: r.try_get("total_steps")?,
        exceptions_count: r.try_get("exceptions_count")?,
        created_by_end_user_id: r.try_get("created_by_end_user_id")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn opt_json(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|x| x.to_string())
}

/// The statement that records one node execution of a run.
fn node_stmt(r: &WorkflowRunRow, n: &NodeRecord) -> Stmt {
    Stmt::new(
        "INSERT INTO workflow_node_executions (id, workflow_run_id, app_id, node_id, node_type, title, idx, \
         predecessor_node_id, iteration_id, loop_id, inputs, process_data, outputs, status, error, elapsed_time, \
         execution_metadata, created_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        crate::vals![&n.id, &r.id, &r.app_id, &n.node_id, &n.node_type, &n.title, i64::from(n.index),
            &n.predecessor_node_id, &n.iteration_id, &n.loop_id, opt_json(&n.inputs),
            opt_json(&n.process_data), opt_json(&n.outputs), n.status, &n.error, n.elapsed_time,
            opt_json(&n.execution_metadata), n.created_at, n.finished_at],
    )
}

impl Store {
    /// Records a run that started.
    pub async fn insert_run(&self, r: &WorkflowRunRow) -> Result<()> {
        self.apply(vec![Self::insert_run_stmt(r)]).await?;
        Ok(())
    }

    /// Records a finished run that was never stored while running (a blocking run, whose
    /// id reaches its caller only with its result), with its node executions, at once.
    pub async fn insert_finished_run(
        &self,
        r: &WorkflowRunRow,
        nodes: &[NodeRecord],
    ) -> Result<()> {
        let mut stmts = Vec::with_capacity(1 + nodes.len());
        stmts.push(Self::insert_run_stmt(r));
        stmts.extend(nodes.iter().map(|n| node_stmt(r, n)));
        self.apply(stmts).await?;
        Ok(())
    }

    fn insert_run_stmt(r: &WorkflowRunRow) -> Stmt {
        Stmt::new(
            "INSERT INTO workflow_runs (id, app_id, workflow_id, type, triggered_from, version, conversation_id, \
             message_id, status, inputs, outputs, error, elapsed_time, total_tokens, total_steps, exceptions_count, \
             created_by_end_user_id, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, 'app-run', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            crate::vals![&r.id, &r.app_id, &r.workflow_id, &r.kind, &r.workflow_id, &r.conversation_id, &r.message_id, &r.status, &r.inputs, &r.outputs, &r.error, r.elapsed_time, r.total_tokens, r.total_steps, r.exceptions_count, &r.created_by_end_user_id, r.created_at, r.finished_at],
        )
    }

    /// Records how a run ended, with its node executions, in one transaction.
    pub async fn finish_run(&self, r: &WorkflowRunRow, nodes: &[NodeRecord]) -> Result<()> {
        let mut stmts = Vec::with_capacity(1 + nodes.len());
        stmts.push(Stmt::new(
            "UPDATE workflow_runs SET status = $1, outputs = $2, error = $3, elapsed_time = $4, total_tokens = $5, \
             total_steps = $6, exceptions_count = $7, finished_at = $8 WHERE id = $9",
            crate::vals![&r.status, &r.outputs, &r.error, r.elapsed_time, r.total_tokens, r.total_steps,
                r.exceptions_count, r.finished_at, &r.id],
        ));
        stmts.extend(nodes.iter().map(|n| node_stmt(r, n)));
        self.apply(stmts).await?;
        Ok(())
    }

    /// Runs still marked running that started before `before` (Unix seconds), oldest
    /// first, at most `limit`.
    pub async fn running_runs(&self, before: i64, limit: i64) -> Result<Vec<WorkflowRunRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM workflow_runs r WHERE r.status = 'running' AND r.created_at < $1 \
             ORDER BY r.created_at LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(run_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Marks a run that is still running as failed with `error`; false when it had ended.
    pub async fn fail_running_run(&self, id: &str, error: &str, finished_at: i64) -> Result<bool> {
        let changed = self
            .apply(vec![Stmt::new(
                "UPDATE workflow_runs SET status = 'failed', error = $1, finished_at = $2, \
                 elapsed_time = CAST($2 - created_at AS DOUBLE PRECISION) WHERE id = $3 AND status = 'running'",
                crate::vals![error, finished_at, id],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// A run of an app.
    pub async fn run(&self, app_id: &str, id: &str) -> Result<Option<WorkflowRunRow>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM workflow_runs r WHERE r.id = $1 AND r.app_id = $2"
        ))
        .bind(id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(run_row).transpose()?)
    }

    /// Node executions of a run, in start order.
    pub async fn run_node_count(&self, run_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM workflow_node_executions WHERE workflow_run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A page of a workflow app's runs, newest first; returns (rows, total).
    pub async fn run_logs(
        &self,
        app_id: &str,
        f: &RunLogFilter,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<RunLogRow>, i64)> {
        let mut clauses = vec!["r.app_id = $1".to_owned(), "r.type = 'workflow'".to_owned()];
        let mut binds: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut next = 2;
        // Text binds come first, then integers, so placeholders are numbered in order.
        if let Some(s) = &f.status {
            clauses.push(format!("r.status = ${next}"));
            binds.push(s.clone());
            next += 1;
        }
        if let Some(k) = &f.keyword {
            let like = format!("%{}%", k.chars().take(30).collect::<String>());
            clauses.push(format!(
                "(r.inputs LIKE ${a} OR COALESCE(r.outputs, '') LIKE ${a} OR COALESCE(u.session_id, '') LIKE ${a} OR r.id = ${b})",
                a = next,
                b = next + 1
            ));
            binds.push(like);
            binds.push(k.clone());
            next += 2;
        }
        if let Some(s) = &f.session_id {
            clauses.push(format!("u.session_id = ${next}"));
            binds.push(s.clone());
            next += 1;
        }
        if let Some(b) = f.before {
            clauses.push(format!("r.created_at < ${next}"));
            ints.push(b);
            next += 1;
        }
        if let Some(a) = f.after {
            clauses.push(format!("r.created_at > ${next}"));
            ints.push(a);
            next += 1;
        }
        let from = "FROM workflow_runs r LEFT JOIN end_users u ON u.id = r.created_by_end_user_id";
        let cond = clauses.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) {from} WHERE {cond}");
        let mut q = sqlx::query_scalar::<_, i64>(&count_sql).bind(app_id);
        for b in &binds {
            q = q.bind(b);
        }
        for i in &ints {
            q = q.bind(*i);
        }
        let total = q.fetch_one(&self.pool).await?;
        let sql = format!(
            "SELECT {COLUMNS}, u.session_id, u.is_anonymous {from} WHERE {cond} ORDER BY r.created_at DESC, r.id DESC LIMIT ${} OFFSET ${}",
            next,
            next + 1
        );
        let mut q = sqlx::query(&sql).bind(app_id);
        for b in &binds {
            q = q.bind(b);
        }
        for i in &ints {
            q = q.bind(*i);
        }
        let rows = q
            .bind(limit)
            .bind((page - 1) * limit)
            .fetch_all(&self.pool)
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                let anon: Option<i64> = r.try_get("is_anonymous")?;
                Ok(RunLogRow {
                    run: run_row(r)?,
                    session_id: r.try_get("session_id")?,
                    is_anonymous: anon.is_some_and(|a| a != 0),
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok((out, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{scratch_stores, test_app};
    use weir_core::util::{new_id, now};

    fn run(app: &str, user: &str, status: &str) -> WorkflowRunRow {
        WorkflowRunRow {
            id: new_id(),
            app_id: app.into(),
            workflow_id: new_id(),
            kind: "workflow".into(),
            conversation_id: None,
            message_id: None,
            status: status.into(),
            inputs: "{\"text\":\"bike lane\"}".into(),
            outputs: None,
            error: None,
            elapsed_time: 0.0,
            total_tokens: 0,
            total_steps: 0,
            exceptions_count: 0,
            created_by_end_user_id: Some(user.into()),
            created_at: now(),
            finished_at: None,
        }
    }

    #[tokio::test]
    async fn runs_and_logs_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, app) = test_app(store, "workflow").await;
            let ana = store
                .end_user(&ws, &app, "service-api", "ana", false)
                .await
                .unwrap();
            let mut r1 = run(&app, &ana.id, "running");
            store.insert_run(&r1).await.unwrap();
            r1.status = "succeeded".into();
            r1.outputs = Some("{\"summary\":\"ok\"}".into());
            r1.total_steps = 1;
            r1.finished_at = Some(now());
            let rec = NodeRecord {
                id: new_id(),
                node_id: "start".into(),
                node_type: "start".into(),
                title: "Start".into(),
                index: 1,
                predecessor_node_id: None,
                inputs: Some(serde_json::json!({})),
                process_data: None,
                outputs: None,
                status: "succeeded",
                error: None,
                elapsed_time: 0.1,
                execution_metadata: None,
                created_at: now(),
                finished_at: Some(now()),
                iteration_id: None,
                loop_id: None,
                round: None,
            };
            store.finish_run(&r1, &[rec]).await.unwrap();
            store
                .insert_run(&run(&app, &ana.id, "failed"))
                .await
                .unwrap();
            let got = store.run(&app, &r1.id).await.unwrap().unwrap();
            assert_eq!((got.status.as_str(), got.total_steps), ("succeeded", 1));
            assert_eq!(store.run_node_count(&r1.id).await.unwrap(), 1);
            let (rows, total) = store
                .run_logs(&app, &RunLogFilter::default(), 1, 10)
                .await
                .unwrap();
            assert_eq!((rows.len(), total), (2, 2));
            assert_eq!(rows[0].session_id.as_deref(), Some("ana"));
            let f = RunLogFilter {
                status: Some("succeeded".into()),
                keyword: Some("bike".into()),
                session_id: Some("ana".into()),
                after: Some(0),
                ..Default::default()
            };
            let (rows, total) = store.run_logs(&app, &f, 1, 10).await.unwrap();
            assert_eq!((rows.len(), total), (1, 1));
            let (_, total) = store
                .run_logs(
                    &app,
                    &RunLogFilter {
                        keyword: Some("nothing".into()),
                        ..Default::default()
                    },
                    1,
                    10,
                )
                .await
                .unwrap();
            assert_eq!(total, 0);
        }
    }
}
