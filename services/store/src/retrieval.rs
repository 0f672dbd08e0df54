//! The reads retrieval needs: a dataset's indexable vectors, full-text matches and keyword
//! candidates, and the hit counters retrieval bumps.

use sqlx::Row;

use super::{Backend, Result, Stmt, Store};
use weir_core::rows::IndexedChunk;

/// Retrieval sees chunks of documents that are completed, enabled and not archived, and
/// segments that are completed and enabled.
pub(crate) const AVAILABLE: &str =
    "d.indexing_status = 'completed' AND d.enabled = 1 AND d.archived = 0 \
    AND s.status = 'completed' AND s.enabled = 1";

impl Store {
    /// Every vector of a dataset that retrieval may return: child chunks of hierarchical
    /// documents, segments of the others; in a stable order.
    pub async fn indexable_vectors(&self, dataset_id: &str) -> Result<Vec<IndexedChunk>> {
        let mut out = Vec::new();
        let rows = sqlx::query(&format!(
            "SELECT s.id, s.document_id, s.embedding FROM segments s JOIN documents d ON d.id = s.document_id \
             WHERE s.dataset_id = $1 AND {AVAILABLE} AND s.embedding IS NOT NULL \
             AND d.doc_form <> 'hierarchical_model' ORDER BY s.created_at, s.document_id, s.position"
        ))
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let id: String = r.try_get("id")?;
            let bytes: Vec<u8> = r.try_get("embedding")?;
            out.push(IndexedChunk {
                segment_id: id.clone(),
                id,
                document_id: r.try_get("document_id")?,
                embedding: weir_core::rows::decode_vector(&bytes),
            });
        }
        let rows = sqlx::query(&format!(
            "SELECT c.id, c.segment_id, c.document_id, c.embedding FROM child_chunks c \
             JOIN segments s ON s.id = c.segment_id JOIN documents d ON d.id = c.document_id \
             WHERE c.dataset_id = $1 AND {AVAILABLE} AND c.embedding IS NOT NULL \
             AND d.doc_form = 'hierarchical_model' ORDER BY c.created_at, c.segment_id, c.position"
        ))
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let bytes: Vec<u8> = r.try_get("embedding")?;
            out.push(IndexedChunk {
                id: r.try_get("id")?,
                segment_id: r.try_get("segment_id")?,
                document_id: r.try_get("document_id")?,
                embedding: weir_core::rows::decode_vector(&bytes),
            });
        }
        Ok(out)
    }

    /// Full-text matches of any of `terms` among available segments: (segment id, rank
    /// where higher is better), best first.
    pub async fn full_text(
        &self,
        dataset_id: &str,
        terms: &[String],
        limit: i64,
    ) -> Result<Vec<(String, f64)>> {
        let words: Vec<String> = terms
            .iter()
            .map(|t| {
                t.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let rows = match self.backend {
            Backend::Sqlite => {
                let query = words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                sqlx::query(&format!(
                    "SELECT f.segment_id AS id, -bm25(segments_fts) AS rank FROM segments_fts f \
                     JOIN segments s ON s.id = f.segment_id JOIN documents d ON d.id = s.document_id \
                     WHERE segments_fts MATCH $1 AND f.dataset_id = $2 AND {AVAILABLE} \
                     ORDER BY rank DESC, s.id LIMIT $3"
                ))
                .bind(query)
                .bind(dataset_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                sqlx::query(&format!(
                    "SELECT s.id AS id, CAST(ts_rank(to_tsvector('simple', s.content), to_tsquery('simple', $1)) AS DOUBLE PRECISION) AS rank \
                     FROM segments s JOIN documents d ON d.id = s.document_id \
                     WHERE s.dataset_id = $2 AND {AVAILABLE} AND to_tsvector('simple', s.content) @@ to_tsquery('simple', $1) \
                     ORDER BY rank DESC, s.id LIMIT $3"
                ))
                .bind(words.join(" | "))
                .bind(dataset_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("rank")?)))
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// Keywords of every available segment of a dataset: (segment id, keywords).
    pub async fn keyword_candidates(&self, dataset_id: &str) -> Result<Vec<(String, Vec<String>)>> {
        let rows = sqlx::query(&format!(
            "SELECT s.id, s.keywords FROM segments s JOIN documents d ON d.id = s.document_id \
             WHERE s.dataset_id = $1 AND {AVAILABLE} ORDER BY s.created_at, s.document_id, s.position"
        ))
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let k: String = r.try_get("keywords")?;
                Ok((
                    r.try_get("id")?,
                    serde_json::from_str(&k).unwrap_or_default(),
                ))
            })
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// Counts a retrieval hit on each of these segments.
    pub async fn count_hits(&self, segment_ids: &[String]) -> Result<()> {
        let stmts = segment_ids
            .iter()
            .map(|id| {
                Stmt::new(
                    "UPDATE segments SET hit_count = hit_count + 1 WHERE id = $1",
                    crate::vals![id],
                )
            })
            .collect::<Vec<_>>();
        if !stmts.is_empty() {
            self.apply(stmts).await?;
        }
        Ok(())
    }

    /// Hit counts of documents: sum of their segments'.
    pub async fn document_hits(&self, document_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(hit_count), 0) AS BIGINT) FROM segments WHERE document_id = $1",
        )
        .bind(document_id)
        .fetch_one(&self.pool)
        .await?)
    }
}
