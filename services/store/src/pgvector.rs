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

/// pgvector's text form of a vector, or `None` for one it refuses (empty, NaN, infinite).
fn literal(values: &[f32]) -> Option<String> {
    if values.is_empty() || !values.iter().all(|v| v.is_finite()) {
        return None;
    }
    let parts: Vec<String> = values.iter().map(f32::to_string).collect();
    Some(format!("[{}]", parts.join(",")))
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut *tx)
            .await
        {
            if mode == PgVectorMode::On {
                return Err(StoreError::NoPgVector(e.to_string()));
            }
            tracing::info!(error = %e, "pgvector is not available: each instance keeps its own vector index");
            return Ok(());
        }
        for table in TABLES {
            sqlx::query(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS vec vector"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        for table in TABLES {
            self.backfill(table).await?;
        }
        let mut dims = HashSet::new();
        for table in TABLES {
            for row in sqlx::query(&format!(
                "SELECT DISTINCT CAST(vector_dims(vec) AS BIGINT) AS dims FROM {table} WHERE vec IS NOT NULL"
            ))
            .fetch_all(&self.pool)
            .await?
            {
                dims.insert(row.try_get::<i64, _>("dims")? as usize);
            }
        }
        for d in dims {
            self.ensure_vector_index(d).await?;
        }
        self.vectors.enabled.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Fills `vec` for rows stored while pgvector was not in use.
    async fn backfill(&self, table: &str) -> Result<()> {
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
                return Ok(());
            };
            after = last.try_get("id")?;
            let mut stmts = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get("id")?;
                let bytes: Vec<u8> = r.try_get("embedding")?;
                let values = weir_core::rows::decode_vector(&bytes);
                if literal(&values).is_some() {
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
        if !self.vectors_in_database() {
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
        let distance =
            |col: &str| format!("(CAST({col} AS vector({d})) <=> CAST($2 AS vector({d})))");
        let segments = format!(
            "SELECT s.id, s.id AS segment_id, s.document_id, CAST(1 - {dist} AS DOUBLE PRECISION) AS score \
             FROM segments s JOIN documents d ON d.id = s.document_id \
             WHERE s.dataset_id = $1 AND {AVAILABLE} AND vector_dims(s.vec) = {d} \
             AND d.doc_form <> 'hierarchical_model' {only} ORDER BY {dist} LIMIT $3",
            dist = distance("s.vec"),
        );
        let children = format!(
            "SELECT c.id, c.segment_id, c.document_id, CAST(1 - {dist} AS DOUBLE PRECISION) AS score \
             FROM child_chunks c JOIN segments s ON s.id = c.segment_id JOIN documents d ON d.id = c.document_id \
             WHERE c.dataset_id = $1 AND {AVAILABLE} AND vector_dims(c.vec) = {d} \
             AND d.doc_form = 'hierarchical_model' {only} ORDER BY {dist} LIMIT $3",
            dist = distance("c.vec"),
        );
        let mut tx = self.pool.begin().await?;
        // Keep scanning the graph until `k` rows pass the filters, in order.
        sqlx::query(&format!(
            "SELECT set_config('hnsw.ef_search', '{EF_SEARCH}', true), \
             set_config('hnsw.iterative_scan', 'strict_order', true)"
        ))
        .execute(&mut *tx)
        .await?;
        let mut hits = Vec::new();
        for sql in [segments, children] {
            let mut query = sqlx::query(&sql).bind(dataset_id).bind(&q).bind(k as i64);
            if documents.is_some() {
                query = query.bind(&docs);
            }
            for r in query.fetch_all(&mut *tx).await? {
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
    }
}
