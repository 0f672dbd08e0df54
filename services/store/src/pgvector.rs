//! Vectors every instance sees: on Postgres with the pgvector extension, chunk embeddings
//! are also kept in a `vec` column of `segments` and `child_chunks`, searched by cosine
//! distance with an HNSW index per embedding size (a partial expression index, as one
//! column holds every dataset's vectors). The `embedding` bytes stay the record; `vec` is
//! filled by the same transaction that writes them, and backfilled when a store starts.
//! Without the extension (or on SQLite) retrieval uses the in-process index.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use sqlx::Row;
use weir_core::rows::VectorHit;

use super::retrieval::AVAILABLE;
use super::write::VectorWrite;
use super::{Backend, Result, Stmt, Store, StoreError};

/// The largest embedding pgvector's HNSW index takes; larger ones are scanned exactly.
pub const HNSW_MAX_DIMS: usize = 2000;
/// The largest embedding pgvector's `vector` type holds; larger ones stay in-process.
pub const VECTOR_MAX_DIMS: usize = 16_000;
/// The oldest pgvector with iterative index scans (filtered searches that keep `k` rows).
const MIN_VERSION: (u32, u32) = (0, 8);
/// Candidates an HNSW search keeps (`hnsw.ef_search`), as the in-process graph does.
pub const EF_SEARCH: usize = 128;
/// Rows a backfill batch converts.
const BACKFILL_BATCH: i64 = 500;
/// Serialises schema changes between instances starting together.
const SCHEMA_LOCK: i64 = 0x0077_6569_7276_6563; // "weirvec"
/// The tables that hold embeddings.
const TABLES: [&str; 2] = ["segments", "child_chunks"];

/// Whether a Postgres store keeps vectors in pgvector (`[database] pgvector`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PgVectorMode {
    /// When the extension can be created (the default).
    #[default]
    Auto,
    /// Always; a store without the extension does not open.
    On,
    /// Never: every instance keeps its own index.
    Off,
}

/// Whether this store uses pgvector, and the embedding sizes that have their index.
#[derive(Debug, Default)]
pub(crate) struct Vectors {
    enabled: AtomicBool,
    indexed: Mutex<HashSet<usize>>,
}

/// pgvector's text form of a vector, or `None` for one it refuses (empty, too long, NaN,
/// infinite) or that has no direction to compare (all zeros).
fn literal(values: &[f32]) -> Option<String> {
    if values.is_empty()
        || values.len() > VECTOR_MAX_DIMS
        || !values.iter().all(|v| v.is_finite())
        || values.iter().all(|v| *v == 0.0)
    {
        return None;
    }
    let parts: Vec<String> = values.iter().map(f32::to_string).collect();
    Some(format!("[{}]", parts.join(",")))
}

/// Whether pgvector `version` (`0.8.6`) has what weir uses.
fn supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major_minor = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major_minor >= MIN_VERSION
}

/// The statement that sets (or clears) the `vec` of a row.
fn set_vec(table: &str, id: &str, values: &[f32]) -> Stmt {
    match literal(values) {
        Some(text) => Stmt::new(
            format!("UPDATE {table} SET vec = CAST($1 AS vector) WHERE id = $2"),
            crate::vals![text, id],
        ),
        None => Stmt::new(
            format!("UPDATE {table} SET vec = NULL WHERE id = $1"),
            crate::vals![id],
        ),
    }
}

impl Store {
    /// Whether retrieval searches vectors in the database.
    pub fn vectors_in_database(&self) -> bool {
        self.vectors.enabled.load(Ordering::Relaxed)
    }

    /// Sets pgvector up on Postgres as `mode` says: the extension, the `vec` columns, the
    /// backfill of embeddings stored without them, and the indexes.
    pub(crate) async fn prepare_vectors(&self, mode: PgVectorMode) -> Result<()> {
        if self.backend != Backend::Postgres || mode == PgVectorMode::Off {
            return Ok(());
        }
        let refuse = |why: String| {
            if mode == PgVectorMode::On {
                return Err(StoreError::NoPgVector(why));
            }
            tracing::info!(reason = %why, "pgvector is not used: each instance keeps its own vector index");
            Ok(())
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut *tx)
            .await
        {
            return refuse(e.to_string());
        }
        let version: String =
            sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                .fetch_one(&mut *tx)
                .await?;
        if !supported(&version) {
            return refuse(format!(
                "pgvector {version} is older than {}.{} (no iterative index scans)",
                MIN_VERSION.0, MIN_VERSION.1
            ));
        }
        for table in TABLES {
            // ALTER TABLE locks the table even when the column exists: only when missing.
            let has: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = $1 AND column_name = 'vec'",
            )
            .bind(table)
            .fetch_one(&mut *tx)
            .await?;
            if has == 0 {
                sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN vec vector"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = 'segments' AND indexname LIKE 'segments_vec_%'",
        )
        .fetch_all(&self.pool)
        .await?;
        self.indexed().extend(
            names
                .iter()
                .filter_map(|n| n.strip_prefix("segments_vec_")?.parse::<usize>().ok()),
        );
        let mut dims = HashSet::new();
        for table in TABLES {
            dims.extend(self.backfill(table).await?);
        }
        for d in dims {
            self.ensure_vector_index(d).await?;
        }
        self.vectors.enabled.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Fills `vec` for rows stored while pgvector was not in use; the sizes it wrote.
    async fn backfill(&self, table: &str) -> Result<HashSet<usize>> {
        let mut dims = HashSet::new();
        let mut after = String::new();
        loop {
            let rows = sqlx::query(&format!(
                "SELECT id, embedding FROM {table} WHERE vec IS NULL AND embedding IS NOT NULL \
                 AND id > $1 ORDER BY id LIMIT {BACKFILL_BATCH}"
            ))
            .bind(&after)
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else {
                return Ok(dims);
            };
            after = last.try_get("id")?;
            let mut stmts = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get("id")?;
                let bytes: Vec<u8> = r.try_get("embedding")?;
                let values = weir_core::rows::decode_vector(&bytes);
                if literal(&values).is_some() {
                    dims.insert(values.len());
                    stmts.push(set_vec(table, &id, &values));
                }
            }
            if !stmts.is_empty() {
                self.writer.apply(stmts).await?;
            }
        }
    }

    /// Creates the HNSW indexes for embeddings of `dims` values, once.
    async fn ensure_vector_index(&self, dims: usize) -> Result<()> {
        if dims == 0 || dims > HNSW_MAX_DIMS || self.indexed().contains(&dims) {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
        for table in TABLES {
            sqlx::query(&format!(
                "CREATE INDEX IF NOT EXISTS {table}_vec_{dims} ON {table} USING hnsw \
                 ((CAST(vec AS vector({dims}))) vector_cosine_ops) WHERE vector_dims(vec) = {dims}"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.indexed().insert(dims);
        Ok(())
    }

    fn indexed(&self) -> std::sync::MutexGuard<'_, HashSet<usize>> {
        self.vectors
            .indexed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `stmts` followed by the statements that set the `vec` of every embedding they write,
    /// when pgvector is in use (the index for each new embedding size made first).
    pub(crate) async fn with_vectors(&self, mut stmts: Vec<Stmt>) -> Result<Vec<Stmt>> {
        if !self.vectors_in_database() || stmts.iter().all(|s| s.vector.is_none()) {
            return Ok(stmts);
        }
        let dims: HashSet<usize> = stmts
            .iter()
            .filter_map(|s| s.vector.as_ref().map(|v| v.values.len()))
            .collect();
        for d in dims {
            self.ensure_vector_index(d).await?;
        }
        let vectors: Vec<VectorWrite> = stmts.iter_mut().filter_map(|s| s.vector.take()).collect();
        stmts.extend(vectors.iter().map(|v| set_vec(v.table, &v.id, &v.values)));
        Ok(stmts)
    }

    /// The `k` available chunks of a dataset nearest to `query` (cosine similarity, best
    /// first), limited to `documents` when given; `None` when pgvector is not in use.
    pub async fn nearest(
        &self,
        dataset_id: &str,
        query: &[f32],
        k: usize,
        documents: Option<&[String]>,
    ) -> Result<Option<Vec<VectorHit>>> {
        if !self.vectors_in_database() || query.len() > VECTOR_MAX_DIMS {
            return Ok(None);
        }
        let Some(q) = literal(query) else {
            return Ok(Some(Vec::new()));
        };
        let d = query.len();
        let only = if documents.is_some() {
            "AND s.document_id IN (SELECT jsonb_array_elements_text(CAST($4 AS jsonb)))"
        } else {
            ""
        };
        let docs = serde_json::to_string(&documents.unwrap_or_default()).unwrap_or_default();
        // Indexed: the column cast as the HNSW index's expression is. Exact: bare, so that
        // the planner scans the dataset's rows instead.
        let sql = |children: bool, indexed: bool| {
            let col = if children { "c.vec" } else { "s.vec" };
            let left = if indexed {
                format!("CAST({col} AS vector({d}))")
            } else {
                col.to_owned()
            };
            let dist = format!("({left} <=> CAST($2 AS vector({d})))");
            let (ids, from, form) = if children {
                (
                    "c.id, c.segment_id, c.document_id",
                    "child_chunks c JOIN segments s ON s.id = c.segment_id \
                     JOIN documents d ON d.id = c.document_id",
                    "d.doc_form = 'hierarchical_model'",
                )
            } else {
                (
                    "s.id, s.id AS segment_id, s.document_id",
                    "segments s JOIN documents d ON d.id = s.document_id",
                    "d.doc_form <> 'hierarchical_model'",
                )
            };
            format!(
                "SELECT {ids}, CAST(1 - {dist} AS DOUBLE PRECISION) AS score FROM {from} \
                 WHERE {col_ds} = $1 AND {AVAILABLE} AND vector_dims({col}) = {d} AND {form} {only} \
                 ORDER BY {dist} LIMIT $3",
                col_ds = if children { "c.dataset_id" } else { "s.dataset_id" },
            )
        };
        let mut tx = self.pool.begin().await?;
        // Keep scanning the graph until `k` rows pass the filters, in order.
        sqlx::query(&format!(
            "SELECT set_config('hnsw.ef_search', '{EF_SEARCH}', true), \
             set_config('hnsw.iterative_scan', 'strict_order', true)"
        ))
        .execute(&mut *tx)
        .await?;
        let mut hits = Vec::new();
        for children in [false, true] {
            let mut found = Vec::new();
            for indexed in [true, false] {
                let text = sql(children, indexed);
                let mut query = sqlx::query(&text).bind(dataset_id).bind(&q).bind(k as i64);
                if documents.is_some() {
                    query = query.bind(&docs);
                }
                found = query.fetch_all(&mut *tx).await?;
                // The graph's scan has a bound (`hnsw.max_scan_tuples`): when a small dataset in
                // a large index comes back short, scan its rows exactly.
                if found.len() >= k {
                    break;
                }
            }
            for r in found {
                hits.push(VectorHit {
                    id: r.try_get("id")?,
                    segment_id: r.try_get("segment_id")?,
                    document_id: r.try_get("document_id")?,
                    score: r.try_get::<f64, _>("score")? as f32,
                });
            }
        }
        tx.commit().await?;
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        Ok(Some(hits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_what_pgvector_parses_and_odd_vectors_have_none() {
        assert_eq!(
            literal(&[1.0, -0.5, 0.25]).as_deref(),
            Some("[1,-0.5,0.25]")
        );
        assert_eq!(literal(&[]), None);
        assert_eq!(literal(&[1.0, f32::NAN]), None);
        assert_eq!(literal(&[f32::INFINITY]), None);
        assert_eq!(literal(&[0.0, 0.0]), None);
        assert_eq!(literal(&vec![1.0; VECTOR_MAX_DIMS + 1]), None);
        assert!(literal(&vec![1.0; VECTOR_MAX_DIMS]).is_some());
    }

    #[test]
    fn versions_before_iterative_scans_are_not_used() {
        assert!(supported("0.8.6"));
        assert!(supported("0.10.0"));
        assert!(supported("1.0"));
        assert!(!supported("0.7.4"));
        assert!(!supported("0.5.1"));
    }
}
