//! The one write path of the store: writes are statements as data ([`Stmt`]), applied
//! atomically per call by [`Writer`].
//!
//! On SQLite a single writer thread owns one connection (SQLite admits one writer at a
//! time) and applies whatever calls are queued in one transaction — group commit — with a
//! savepoint per call, so a failing call rolls back alone. The queue is bounded: a full
//! queue is [`StoreError::Busy`] at once, not an ever-growing backlog. Statements run on that thread
//! without a round trip per statement, which is what makes SQLite writes cheap. On Postgres
//! each call is a transaction on the pool.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use sqlx::AnyPool;
use tokio::sync::oneshot;

use super::{Result, StoreError};

/// Calls a SQLite batch commits together at most.
pub const MAX_BATCH: usize = 512;

/// A bound value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Float.
    Real(f64),
    /// Bytes.
    Blob(Vec<u8>),
    /// NULL of a text column.
    NullText,
    /// NULL of an integer column.
    NullInt,
    /// NULL of a float column.
    NullReal,
    /// NULL of a bytes column.
    NullBlob,
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Int(i64::from(v))
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Real(v)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Val::NullText, Val::from)
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().map_or(Val::NullText, Val::from)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::NullText, Val::Text)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Val::NullInt, Val::Int)
    }
}
impl From<&Option<i64>> for Val {
    fn from(v: &Option<i64>) -> Self {
        Val::from(*v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Blob(v)
    }
}
impl From<Option<Vec<u8>>> for Val {
    fn from(v: Option<Vec<u8>>) -> Self {
        v.map_or(Val::NullBlob, Val::Blob)
    }
}
impl From<Option<f64>> for Val {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Val::NullReal, Val::Real)
    }
}

/// Values of a statement, converted with `Val::from`.
#[macro_export]
macro_rules! vals {
    ($($v:expr),* $(,)?) => { vec![$($crate::write::Val::from($v)),*] };
}

/// One statement with `$1…$n` placeholders and their values.
#[derive(Clone, Debug)]
pub struct Stmt {
    /// SQL.
    pub sql: Cow<'static, str>,
    /// Values of `$1…$n`.
    pub params: Vec<Val>,
    /// The embedding this statement stores, for a store that also keeps it in pgvector.
    pub vector: Option<VectorWrite>,
}

/// An embedding a statement writes to `table`'s row `id` (see [`crate::pgvector`]).
#[derive(Clone, Debug)]
pub struct VectorWrite {
    /// `segments` or `child_chunks`.
    pub table: &'static str,
    /// The row.
    pub id: String,
    /// The embedding.
    pub values: Vec<f32>,
}

impl Stmt {
    /// A statement.
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<Val>) -> Stmt {
        Stmt {
            sql: sql.into(),
            params,
            vector: None,
        }
    }

    /// This statement, noting that it stores `values` as the embedding of `table`'s row `id`.
    pub fn with_vector(mut self, table: &'static str, id: &str, values: Option<&[f32]>) -> Stmt {
        self.vector = values.map(|v| VectorWrite {
            table,
            id: id.to_owned(),
            values: v.to_vec(),
        });
        self
    }
}

type Reply = oneshot::Sender<Result<Vec<u64>>>;

struct Job {
    stmts: Vec<Stmt>,
    reply: Reply,
}

/// How often the SQLite checkpointer copies the WAL back into the database.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Where writes go.
#[derive(Debug)]
pub enum Writer {
    /// The SQLite writer thread (and its checkpointer, stopped when this drops).
    Sqlite(mpsc::SyncSender<JobBox>, Checkpointer),
    /// A Postgres pool.
    Pool(AnyPool),
}

/// Runs WAL checkpoints on a thread of its own, so that the writer never waits on the
/// checkpoint's copying and fsync (SQLite would run them inside a writer's commit).
#[derive(Debug)]
pub struct Checkpointer(Arc<AtomicBool>);

impl Checkpointer {
    fn start(path: &str) -> Result<Checkpointer> {
        let conn = rusqlite::Connection::open(path).map_err(sqlite_error)?;
        conn.execute_batch("PRAGMA busy_timeout = 10000;")
            .map_err(sqlite_error)?;
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        std::thread::Builder::new()
            .name("weir-sqlite-checkpoint".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(Checkpointer(running))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A queued call (opaque).
pub struct JobBox(Job);

impl std::fmt::Debug for JobBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobBox")
    }
}

impl Writer {
    /// Starts the SQLite writer thread on the database file at `path`, queueing at most
    /// `queue` calls.
    pub fn sqlite(path: &str, queue: usize) -> Result<Writer> {
        let conn = rusqlite::Connection::open(path).map_err(sqlite_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
             PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
             PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(sqlite_error)?;
        let checkpointer = Checkpointer::start(path)?;
        conn.set_prepared_statement_cache_capacity(128);
        let (tx, rx) = mpsc::sync_channel::<JobBox>(queue.max(1));
        std::thread::Builder::new()
            .name("weir-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(Writer::Sqlite(tx, checkpointer))
    }

    /// Applies `stmts` atomically; returns the rows each changed.
    pub async fn apply(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>> {
        match self {
            Writer::Sqlite(queue, _) => {
                let (reply, answer) = oneshot::channel();
                queue
                    .try_send(JobBox(Job { stmts, reply }))
                    .map_err(|e| match e {
                        mpsc::TrySendError::Full(_) => StoreError::Busy,
                        mpsc::TrySendError::Disconnected(_) => {
                            StoreError::Writer("the writer thread stopped".into())
                        }
                    })?;
                answer
                    .await
                    .map_err(|_| StoreError::Writer("the writer thread stopped".into()))?
            }
            Writer::Pool(pool) => {
                let mut tx = pool.begin().await?;
                let mut changed = Vec::with_capacity(stmts.len());
                for s in &stmts {
                    let q = bind_all(sqlx::query(&s.sql), &s.params);
                    changed.push(q.execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
                Ok(changed)
            }
        }
    }
}

/// Binds values to a sqlx query in order (reads with filters built at run time use it too).
pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Val],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in params {
        q = match v {
            Val::Text(t) => q.bind(t.as_str()),
            Val::Int(i) => q.bind(*i),
            Val::Real(f) => q.bind(*f),
            Val::Blob(b) => q.bind(b.as_slice()),
            Val::NullBlob => q.bind(None::<Vec<u8>>),
            Val::NullText => q.bind(None::<String>),
            Val::NullInt => q.bind(None::<i64>),
            // sqlx 0.8's Any driver swaps the float widths of typed NULLs on Postgres
            // (a NULL f64 goes out as float4, and the cached statement then refuses a real
            // f64): an f32 NULL goes out as float8.
            Val::NullReal => q.bind(None::<f32>),
        };
    }
    q
}

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    classify(&e)()
}

/// How to report a SQLite failure (once per waiting call): unique violations are
/// conflicts, a lock held past the busy timeout is saturation, the rest is a write error.
fn classify(e: &rusqlite::Error) -> impl Fn() -> StoreError {
    use rusqlite::ffi::ErrorCode;
    const UNIQUE: i32 = 2067;
    const PRIMARY_KEY: i32 = 1555;
    let text = e.to_string();
    let kind = match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(f.extended_code, UNIQUE | PRIMARY_KEY) =>
        {
            1
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            2
        }
        _ => 0,
    };
    move || match kind {
        1 => StoreError::Conflict(text.clone()),
        2 => StoreError::Busy,
        _ => StoreError::Writer(text.clone()),
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Val::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Val::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Val::Real(f) => ToSqlOutput::Owned(Value::Real(*f)),
            Val::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Val::NullText | Val::NullInt | Val::NullReal | Val::NullBlob => {
                ToSqlOutput::Owned(Value::Null)
            }
        })
    }
}

fn execute(conn: &rusqlite::Connection, s: &Stmt) -> rusqlite::Result<u64> {
    let mut st = conn.prepare_cached(&s.sql)?;
    for (i, v) in s.params.iter().enumerate() {
        if let Some(index) = st.parameter_index(&format!("${}", i + 1))? {
            st.raw_bind_parameter(index, v)?;
        }
    }
    Ok(st.raw_execute()? as u64)
}

/// Runs one call's statements; a call of several runs under a savepoint.
fn run_call(conn: &rusqlite::Connection, stmts: &[Stmt]) -> rusqlite::Result<Vec<u64>> {
    if stmts.len() == 1 {
        return Ok(vec![execute(conn, &stmts[0])?]);
    }
    conn.execute_batch("SAVEPOINT call")?;
    let done: rusqlite::Result<Vec<u64>> = stmts.iter().map(|s| execute(conn, s)).collect();
    if done.is_err() && !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK TO call")?;
    }
    if !conn.is_autocommit() {
        conn.execute_batch("RELEASE call")?;
    }
    done
}

fn writer_loop(conn: rusqlite::Connection, rx: mpsc::Receiver<JobBox>) {
    while let Ok(JobBox(first)) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(JobBox(job)) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let error = classify(&e);
            for job in batch {
                let _ = job.reply.send(Err(error()));
            }
            continue;
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut aborted = None;
        for job in &batch {
            let r = run_call(&conn, &job.stmts);
            if r.is_err() && conn.is_autocommit() {
                // The error rolled the whole transaction back (I/O, full disk…).
                aborted = r.as_ref().err().map(classify);
                break;
            }
            results.push(r.map_err(sqlite_error));
        }
        let committed = match aborted {
            Some(error) => Err(error),
            None => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                classify(&e)
            }),
        };
        match committed {
            Ok(()) => {
                for (job, r) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(error) => {
                for job in batch {
                    let _ = job.reply.send(Err(error()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> String {
        let dir =
            std::env::temp_dir().join(format!("weir-writer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("w.db").display().to_string()
    }

    #[tokio::test]
    async fn calls_are_atomic_and_fail_alone() {
        let path = temp_db();
        let w = Writer::sqlite(&path, 1024).unwrap();
        w.apply(vec![Stmt::new(
            "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, x REAL)",
            vec![],
        )])
        .await
        .unwrap();
        let insert = |id: &str, n: Option<i64>| {
            Stmt::new(
                "INSERT INTO t (id, n, x) VALUES ($1, $2, $3)",
                vals![id, n, 1.5],
            )
        };
        // Many calls at once share batches; a failing call does not take the others down.
        let mut calls = Vec::new();
        for i in 0..200 {
            let stmts = if i == 100 {
                vec![insert("dup", Some(1)), insert("dup", Some(2))]
            } else {
                vec![insert(&format!("r{i}"), Some(i))]
            };
            calls.push(w.apply(stmts));
        }
        let results = futures_util::future::join_all(calls).await;
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert!(results[100].is_err());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            count, 199,
            "the failing call's first insert was rolled back with it"
        );
        let changed = w
            .apply(vec![Stmt::new(
                "UPDATE t SET n = $1 WHERE n >= $2",
                vals![None::<i64>, 190],
            )])
            .await
            .unwrap();
        assert_eq!(changed, vec![10]);
    }
}
