//! weir's database behind one [`Store`]: SQLite by default (WAL, foreign keys on), Postgres
//! when the URL says so. Queries are written once in the SQL both understand (`$N`
//! parameters, text ids, integer timestamps) and run through sqlx's `Any` driver; each backend
//! has its own migration folder at the workspace root. The store implements the knowledge
//! repository of `weir-core`, and [`LocalBlobs`] keeps uploads' bytes in the data directory.
#![warn(missing_docs)]

mod accounts;
mod apps;
mod conversations;
mod credentials;
mod datasets;
mod documents;
mod end_users;
mod feedback;
mod files;
mod jobs;
mod knowledge_repo;
mod local_blobs;
mod logs;
mod messages;
mod pgvector;
mod query;
mod retrieval;
mod runs;
pub mod scratch;
mod sites;
mod web;
pub mod write;

pub use local_blobs::LocalBlobs;
pub use logs::{ConversationLog, FeedbackAuthor, LogFilter, MessageFeedback, StatMessage};
pub use pgvector::PgVectorMode;

pub use accounts::{AccountRow, MembershipRow, NewAccount, ProfileChange};
pub use apps::{AppFilter, AppRow, NewApp, NewWorkflow, WorkflowRow};
pub use conversations::{
    ConversationRow, ConversationSort, ConversationVariableRow, NewConversation,
};
pub use credentials::{KeyKind, KeyListing, KeyRow, TokenRow};
pub use datasets::{MetadataFieldRow, TagRow};
pub use end_users::EndUserRow;
pub use feedback::FeedbackRow;
pub use messages::{HistoryTurn, MessageFileRow, MessageOutcome, MessageRow, NewMessage};
pub use runs::{RunLogFilter, RunLogRow, WorkflowRunRow};
pub use sites::{AppEdit, SiteRow};
pub use weir_core::rows::{
    ChildChunkRow, DatasetCounts, DatasetRow, DocumentRow, IndexedChunk, NewSegment, RuleRow,
    SegmentRow, UploadFileRow,
};
pub use write::{Stmt, Val, Writer};

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row};

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// A store failure: the database is unreachable, a migration failed, or a query failed.
/// Constraint violations and saturation are told apart from other failures, so that the
/// error table can answer them (409/400 and 503) instead of a 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database url {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// A unique constraint refused the write: the name or key is taken.
    #[error("already exists ({0})")]
    Conflict(String),
    /// The database is saturated: no connection came within the wait, the write queue is
    /// full, or the file stayed locked.
    #[error("the database is busy")]
    Busy,
    /// A database error.
    #[error(transparent)]
    Db(sqlx::Error),
    /// A migration error.
    #[error(transparent)]
    Migrate(sqlx::migrate::MigrateError),
    /// `[database] pgvector = "on"`, and the extension cannot be created.
    #[error("[database] pgvector = \"on\" but the vector extension cannot be created: {0}")]
    NoPgVector(String),
    /// The SQLite writer failed (the statement's error, or the writer is gone).
    #[error("database write failed: {0}")]
    Writer(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(d.message().to_owned())
            }
            // SQLite answers a lock held past its busy timeout with SQLITE_BUSY (5).
            sqlx::Error::Database(d) if d.code().as_deref() == Some("5") => StoreError::Busy,
            other => StoreError::Db(other),
        }
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Turns a store conflict into the domain's own error (a duplicate name, say).
pub trait OrConflict<T> {
    /// `Err(Conflict)` becomes `conflict()`; other errors pass through.
    fn or_conflict<E>(
        self,
        conflict: impl FnOnce() -> E,
    ) -> std::result::Result<T, weir_core::BoxError>
    where
        E: Into<weir_core::BoxError>;
}

impl<T> OrConflict<T> for Result<T> {
    fn or_conflict<E>(
        self,
        conflict: impl FnOnce() -> E,
    ) -> std::result::Result<T, weir_core::BoxError>
    where
        E: Into<weir_core::BoxError>,
    {
        match self {
            Ok(v) => Ok(v),
            Err(StoreError::Conflict(_)) => Err(conflict().into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// How a store is opened (`[database]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default)]
pub struct StoreOptions {
    /// Connections of a Postgres pool.
    pub max_connections: u32,
    /// Longest wait for a pooled connection before answering 503, seconds.
    pub acquire_timeout_s: u64,
    /// Writes a SQLite store queues before answering 503.
    pub write_queue: usize,
    /// Whether Postgres keeps vectors in pgvector (`auto`, `on`, `off`).
    pub pgvector: PgVectorMode,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: POSTGRES_CONNECTIONS,
            acquire_timeout_s: 10,
            write_queue: 10_000,
            pgvector: PgVectorMode::Auto,
        }
    }
}

macro_rules! migrations {
    ($dir:literal: $($version:literal $name:literal),* $(,)?) => {
        vec![$(Migration::new(
            $version,
            Cow::Borrowed($name),
            MigrationType::Simple,
            Cow::Borrowed(include_str!(concat!("../../../migrations/", $dir, "/", $name, ".sql"))),
            false,
        )),*]
    };
}

fn migrator(backend: Backend) -> Migrator {
    let migrations = match backend {
        Backend::Sqlite => {
            migrations!("sqlite": 1 "0001_init", 2 "0002_knowledge", 3 "0003_unique_names", 4 "0004_console", 5 "0005_indexing_claims", 6 "0006_job_leases")
        }
        Backend::Postgres => {
            migrations!("postgres": 1 "0001_init", 2 "0002_knowledge", 3 "0003_unique_names", 4 "0004_console", 5 "0005_indexing_claims", 6 "0006_job_leases")
        }
    };
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// The database. Reads go through `pool`; every write goes through [`Store::apply`] (see
/// [`mod@write`]): on SQLite one writer thread with group commit — SQLite admits one writer at
/// a time, and writers contending for its file lock would sleep in its busy handler.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    writer: Arc<Writer>,
    backend: Backend,
    vectors: Arc<pgvector::Vectors>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` — created if missing — or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// [`Store::connect`] with these options.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let connect = AnyConnectOptions::from_str(&url)?;
        let acquire = Duration::from_secs(options.acquire_timeout_s.max(1));
        let open = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(acquire)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                                 PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(connect.clone())
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // The pool first: it creates the file and switches it to WAL.
                let pool = open(SQLITE_READERS).await?;
                let path = sqlite_path(&url);
                (pool, Writer::sqlite(&path, options.write_queue)?)
            }
            Backend::Postgres => {
                let pool = open(options.max_connections.max(1)).await?;
                (pool.clone(), Writer::Pool(pool))
            }
        };
        Ok(Store {
            pool,
            writer: Arc::new(writer),
            backend,
            vectors: Default::default(),
        })
    }

    /// Connects and runs pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with these options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store> {
        let store = Self::connect_with(url, options).await?;
        store.migrate().await?;
        store.prepare_vectors(options.pgvector).await?;
        Ok(store)
    }

    /// Runs pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        migrator(self.backend)
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(())
    }

    /// Applies write statements atomically; returns the rows each changed.
    pub async fn apply(&self, stmts: Vec<write::Stmt>) -> Result<Vec<u64>> {
        let asked = stmts.len();
        let stmts = self.with_vectors(stmts).await?;
        let mut changed = self.writer.apply(stmts).await?;
        changed.truncate(asked);
        Ok(changed)
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The id of the workspace named `name`.
    pub async fn workspace_id(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM workspaces WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A workspace by id.
    pub async fn workspace(&self, id: &str) -> Result<Option<WorkspaceRow>> {
        let row = sqlx::query("SELECT id, name, status, created_at FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(WorkspaceRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            status: r.try_get("status")?,
            created_at: r.try_get("created_at")?,
        }))
    }

    /// The id of the default workspace (made by the first migration).
    pub async fn default_workspace_id(&self) -> Result<String> {
        Ok(self
            .workspace_id(DEFAULT_WORKSPACE)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?)
    }
}

/// A workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `normal` or `archived`.
    pub status: String,
    /// Created, Unix seconds.
    pub created_at: i64,
}

/// The file path of a `sqlite://path?options` URL.
fn sqlite_path(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// Read connections of a SQLite store.
pub const SQLITE_READERS: u32 = 8;
/// Connections of a Postgres store.
pub const POSTGRES_CONNECTIONS: u32 = 16;

/// The workspace every app, key and token belongs to until several are supported.
pub const DEFAULT_WORKSPACE: &str = "default";

/// A boolean column (stored as an integer on both backends).
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

pub mod testing;

/// Store errors travel as [`weir_core::BoxError`] through the repository traits.
pub(crate) fn boxed(e: StoreError) -> weir_core::BoxError {
    Box::new(e)
}
