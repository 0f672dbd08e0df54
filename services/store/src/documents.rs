//! Knowledge documents, their segments (chunks) and child chunks.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Filter;
use super::write::Val;
use super::{flag, Result, Stmt, Store};
use weir_core::rows::{ChildChunkRow, DocumentRow, NewSegment, SegmentRow};
use weir_core::util::now;

const DOCUMENT_COLUMNS: &str = "id, dataset_id, workspace_id, position, batch, name, data_source_type, \
    upload_file_id, process_rule_id, doc_form, doc_language, created_from, indexing_status, error, enabled, \
    archived, is_paused, word_count, tokens, doc_metadata, processing_started_at, parsing_completed_at, \
    cleaning_completed_at, splitting_completed_at, completed_at, stopped_at, paused_at, disabled_at, \
    archived_at, indexing_latency, created_at, updated_at";

fn document_row(r: &AnyRow) -> sqlx::Result<DocumentRow> {
    Ok(DocumentRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        workspace_id: r.try_get("workspace_id")?,
        position: r.try_get("position")?,
        batch: r.try_get("batch")?,
        name: r.try_get("name")?,
        data_source_type: r.try_get("data_source_type")?,
        upload_file_id: r.try_get("upload_file_id")?,
        process_rule_id: r.try_get("process_rule_id")?,
        doc_form: r.try_get("doc_form")?,
        doc_language: r.try_get("doc_language")?,
        created_from: r.try_get("created_from")?,
        indexing_status: r.try_get("indexing_status")?,
        error: r.try_get("error")?,
        enabled: flag(r.try_get("enabled")?),
        archived: flag(r.try_get("archived")?),
        is_paused: flag(r.try_get("is_paused")?),
        word_count: r.try_get("word_count")?,
        tokens: r.try_get("tokens")?,
        doc_metadata: r.try_get("doc_metadata")?,
        processing_started_at: r.try_get("processing_started_at")?,
        parsing_completed_at: r.try_get("parsing_completed_at")?,
        cleaning_completed_at: r.try_get("cleaning_completed_at")?,
        splitting_completed_at: r.try_get("splitting_completed_at")?,
        completed_at: r.try_get("completed_at")?,
        stopped_at: r.try_get("stopped_at")?,
        paused_at: r.try_get("paused_at")?,
        disabled_at: r.try_get("disabled_at")?,
        archived_at: r.try_get("archived_at")?,
        indexing_latency: r.try_get("indexing_latency")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const SEGMENT_COLUMNS: &str = "id, dataset_id, document_id, position, content, answer, word_count, tokens, \
    keywords, index_node_id, index_node_hash, hit_count, enabled, status, error, created_at, updated_at, \
    indexing_at, completed_at, disabled_at, stopped_at";

fn segment_row(r: &AnyRow) -> sqlx::Result<SegmentRow> {
    let keywords: String = r.try_get("keywords")?;
    Ok(SegmentRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        document_id: r.try_get("document_id")?,
        position: r.try_get("position")?,
        content: r.try_get("content")?,
        answer: r.try_get("answer")?,
        word_count: r.try_get("word_count")?,
        tokens: r.try_get("tokens")?,
        keywords: serde_json::from_str(&keywords).unwrap_or_default(),
        index_node_id: r.try_get("index_node_id")?,
        index_node_hash: r.try_get("index_node_hash")?,
        hit_count: r.try_get("hit_count")?,
        enabled: flag(r.try_get("enabled")?),
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        indexing_at: r.try_get("indexing_at")?,
        completed_at: r.try_get("completed_at")?,
        disabled_at: r.try_get("disabled_at")?,
        stopped_at: r.try_get("stopped_at")?,
    })
}

const CHILD_COLUMNS: &str =
    "id, segment_id, document_id, dataset_id, position, content, word_count, type, created_at, updated_at";

fn child_row(r: &AnyRow) -> sqlx::Result<ChildChunkRow> {
    Ok(ChildChunkRow {
        id: r.try_get("id")?,
        segment_id: r.try_get("segment_id")?,
        document_id: r.try_get("document_id")?,
        dataset_id: r.try_get("dataset_id")?,
        position: r.try_get("position")?,
        content: r.try_get("content")?,
        word_count: r.try_get("word_count")?,
        kind: r.try_get("type")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// The statement that stores a document (insert or full update).
    pub fn save_document_stmt(d: &DocumentRow) -> Stmt {
        Stmt::new(
            "INSERT INTO documents (id, dataset_id, workspace_id, position, batch, name, data_source_type, \
             upload_file_id, process_rule_id, doc_form, doc_language, created_from, indexing_status, error, enabled, \
             archived, is_paused, word_count, tokens, doc_metadata, processing_started_at, parsing_completed_at, \
             cleaning_completed_at, splitting_completed_at, completed_at, stopped_at, paused_at, disabled_at, \
             archived_at, indexing_latency, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32) \
             ON CONFLICT (id) DO UPDATE SET batch = $5, name = $6, upload_file_id = $8, process_rule_id = $9, \
             doc_form = $10, doc_language = $11, indexing_status = $13, error = $14, enabled = $15, archived = $16, \
             is_paused = $17, word_count = $18, tokens = $19, doc_metadata = $20, processing_started_at = $21, \
             parsing_completed_at = $22, cleaning_completed_at = $23, splitting_completed_at = $24, \
             completed_at = $25, stopped_at = $26, paused_at = $27, disabled_at = $28, archived_at = $29, \
             indexing_latency = $30, updated_at = $32",
            crate::vals![&d.id, &d.dataset_id, &d.workspace_id, d.position, &d.batch, &d.name,
                &d.data_source_type, &d.upload_file_id, &d.process_rule_id, &d.doc_form, &d.doc_language,
                &d.created_from, &d.indexing_status, &d.error, d.enabled, d.archived, d.is_paused,
                d.word_count, d.tokens, &d.doc_metadata, d.processing_started_at, d.parsing_completed_at,
                d.cleaning_completed_at, d.splitting_completed_at, d.completed_at, d.stopped_at, d.paused_at,
                d.disabled_at, d.archived_at, d.indexing_latency, d.created_at, d.updated_at],
        )
    }

    /// Stores a document (insert or full update).
    pub async fn save_document(&self, d: &DocumentRow) -> Result<()> {
        self.apply(vec![Self::save_document_stmt(d)]).await?;
        Ok(())
    }

    /// The next document position of a dataset.
    pub async fn next_document_position(&self, dataset_id: &str) -> Result<i64> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(position) FROM documents WHERE dataset_id = $1")
                .bind(dataset_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(max.unwrap_or(0) + 1)
    }

    /// A document of a dataset.
    pub async fn document(&self, dataset_id: &str, id: &str) -> Result<Option<DocumentRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1 AND dataset_id = $2"
        ))
        .bind(id)
        .bind(dataset_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(document_row).transpose()?)
    }

    /// An enabled upload document of a dataset with this name (the same-name rule).
    pub async fn document_named(
        &self,
        dataset_id: &str,
        name: &str,
    ) -> Result<Option<DocumentRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE dataset_id = $1 AND name = $2 AND enabled = 1 \
             AND data_source_type = 'upload_file' ORDER BY created_at LIMIT 1"
        ))
        .bind(dataset_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(document_row).transpose()?)
    }

    /// Documents of a dataset by id (unknown ids skipped).
    pub async fn documents_by_ids(
        &self,
        dataset_id: &str,
        ids: &[String],
    ) -> Result<Vec<DocumentRow>> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(d) = self.document(dataset_id, id).await? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Every document of a dataset.
    pub async fn documents_of(&self, dataset_id: &str) -> Result<Vec<DocumentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE dataset_id = $1 ORDER BY position"
        ))
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(document_row).collect::<sqlx::Result<_>>()?)
    }

    /// A page of a dataset's documents, newest first, by name substring and display status.
    pub async fn documents_page(
        &self,
        dataset_id: &str,
        keyword: Option<&str>,
        display_status: Option<&str>,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<DocumentRow>, i64)> {
        let mut filter =
            Filter::new("dataset_id = $1", crate::vals![dataset_id]).contains("name", keyword);
        if let Some(s) = display_status {
            filter = filter.and(match s {
                "queuing" => "indexing_status = 'waiting'",
                "indexing" => "indexing_status IN ('parsing', 'cleaning', 'splitting', 'indexing') AND is_paused = 0",
                "paused" => "is_paused = 1 AND indexing_status NOT IN ('completed', 'error', 'waiting')",
                "error" => "indexing_status = 'error'",
                "available" => "indexing_status = 'completed' AND archived = 0 AND enabled = 1",
                "disabled" => "indexing_status = 'completed' AND archived = 0 AND enabled = 0",
                "archived" => "indexing_status = 'completed' AND archived = 1",
                _ => "1 = 0",
            });
        }
        let (rows, total) = self
            .page_rows(
                DOCUMENT_COLUMNS,
                "documents",
                filter,
                "created_at DESC, position DESC",
                (page, limit),
            )
            .await?;
        Ok((
            rows.iter().map(document_row).collect::<sqlx::Result<_>>()?,
            total,
        ))
    }

    /// The documents of a batch.
    pub async fn documents_in_batch(
        &self,
        dataset_id: &str,
        batch: &str,
    ) -> Result<Vec<DocumentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE dataset_id = $1 AND batch = $2 ORDER BY position"
        ))
        .bind(dataset_id)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(document_row).collect::<sqlx::Result<_>>()?)
    }

    /// Documents left mid-pipeline (by a stop or a crash), oldest first.
    pub async fn unfinished_documents(&self) -> Result<Vec<DocumentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE indexing_status IN \
             ('waiting', 'parsing', 'cleaning', 'splitting', 'indexing') ORDER BY created_at, position"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(document_row).collect::<sqlx::Result<_>>()?)
    }

    /// Unfinished documents no live claim holds (unclaimed, or their claim ran out by
    /// `now`), oldest first, at most `limit`.
    pub async fn unclaimed_documents(&self, now: i64, limit: i64) -> Result<Vec<DocumentRow>> {
        let columns = DOCUMENT_COLUMNS
            .split(", ")
            .map(|c| format!("d.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM documents d LEFT JOIN indexing_claims c ON c.document_id = d.id \
             WHERE d.indexing_status IN ('waiting', 'parsing', 'cleaning', 'splitting', 'indexing') \
             AND (c.lease_until IS NULL OR c.lease_until < $1) ORDER BY d.created_at, d.position LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(document_row).collect::<sqlx::Result<_>>()?)
    }

    /// Gives a claim back.
    pub async fn release_document(&self, document_id: &str, instance: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM indexing_claims WHERE document_id = $1 AND claimed_by = $2",
            crate::vals![document_id, instance],
        )])
        .await?;
        Ok(())
    }

    /// Segment and child-chunk counts of a document: (total excluding `re_segment`,
    /// completed).
    pub async fn segment_progress(&self, document_id: &str) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, \
             CAST(COALESCE(SUM(CASE WHEN completed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS done \
             FROM segments WHERE document_id = $1 AND status <> 're_segment'",
        )
        .bind(document_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("total")?, row.try_get("done")?))
    }

    /// Statements that replace a document's chunks with `segments` (with their embeddings
    /// and children) and store the document row: one atomic call, so a chunk is never
    /// stored twice.
    pub fn replace_chunks_stmts(doc: &DocumentRow, segments: &[NewSegment]) -> Vec<Stmt> {
        let mut stmts = vec![Stmt::new(
            "DELETE FROM segments WHERE document_id = $1",
            crate::vals![&doc.id],
        )];
        for s in segments {
            stmts.push(Self::insert_segment_stmt(&s.row, s.embedding.as_deref()));
            for (c, e) in &s.children {
                stmts.push(Self::insert_child_stmt(c, e.as_deref()));
            }
        }
        stmts.push(Self::save_document_stmt(doc));
        stmts
    }

    /// The statement that inserts a segment.
    pub fn insert_segment_stmt(s: &SegmentRow, embedding: Option<&[f32]>) -> Stmt {
        Stmt::new(
            "INSERT INTO segments (id, dataset_id, document_id, position, content, answer, word_count, tokens, \
             keywords, index_node_id, index_node_hash, hit_count, enabled, status, error, embedding, created_at, \
             updated_at, indexing_at, completed_at, disabled_at, stopped_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
            crate::vals![&s.id, &s.dataset_id, &s.document_id, s.position, &s.content, &s.answer, s.word_count,
                s.tokens, serde_json::to_string(&s.keywords).unwrap_or_else(|_| "[]".into()), &s.index_node_id,
                &s.index_node_hash, s.hit_count, s.enabled, &s.status, &s.error,
                embedding.map(weir_core::rows::encode_vector), s.created_at, s.updated_at, s.indexing_at,
                s.completed_at, s.disabled_at, s.stopped_at],
        )
        .with_vector("segments", &s.id, embedding)
    }

    /// The statement that updates a segment (and its embedding when given).
    pub fn update_segment_stmt(s: &SegmentRow, embedding: Option<&[f32]>) -> Stmt {
        let base = "UPDATE segments SET content = $1, answer = $2, word_count = $3, tokens = $4, keywords = $5, \
             index_node_hash = $6, enabled = $7, status = $8, error = $9, updated_at = $10, completed_at = $11, \
             disabled_at = $12, hit_count = $13";
        let mut params = crate::vals![
            &s.content,
            &s.answer,
            s.word_count,
            s.tokens,
            serde_json::to_string(&s.keywords).unwrap_or_else(|_| "[]".into()),
            &s.index_node_hash,
            s.enabled,
            &s.status,
            &s.error,
            s.updated_at,
            s.completed_at,
            s.disabled_at,
            s.hit_count
        ];
        let sql = match embedding {
            Some(e) => {
                params.push(Val::Blob(weir_core::rows::encode_vector(e)));
                params.push(s.id.clone().into());
                format!("{base}, embedding = $14 WHERE id = $15")
            }
            None => {
                params.push(s.id.clone().into());
                format!("{base} WHERE id = $14")
            }
        };
        Stmt::new(sql, params).with_vector("segments", &s.id, embedding)
    }

    /// The statement that inserts a child chunk.
    pub fn insert_child_stmt(c: &ChildChunkRow, embedding: Option<&[f32]>) -> Stmt {
        Stmt::new(
            "INSERT INTO child_chunks (id, segment_id, document_id, dataset_id, position, content, word_count, type, \
             embedding, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            crate::vals![&c.id, &c.segment_id, &c.document_id, &c.dataset_id, c.position, &c.content,
                c.word_count, &c.kind, embedding.map(weir_core::rows::encode_vector), c.created_at, c.updated_at],
        )
        .with_vector("child_chunks", &c.id, embedding)
    }

    /// The statement that deletes a chunk (its child chunks go with it).
    pub fn delete_segment_stmt(id: &str) -> Stmt {
        Stmt::new("DELETE FROM segments WHERE id = $1", crate::vals![id])
    }

    /// The statement that deletes a child chunk.
    pub fn delete_child_stmt(id: &str) -> Stmt {
        Stmt::new("DELETE FROM child_chunks WHERE id = $1", crate::vals![id])
    }

    /// The statement that deletes every child chunk of a chunk.
    pub fn delete_children_stmt(segment_id: &str) -> Stmt {
        Stmt::new(
            "DELETE FROM child_chunks WHERE segment_id = $1",
            crate::vals![segment_id],
        )
    }

    /// Deletes a document with its chunks.
    pub async fn delete_document(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM documents WHERE id = $1",
            crate::vals![id],
        )])
        .await?;
        Ok(())
    }

    /// A page of a document's segments by position, optionally by status and content substring.
    pub async fn segments_page(
        &self,
        document_id: &str,
        statuses: &[String],
        keyword: Option<&str>,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<SegmentRow>, i64)> {
        let filter = Filter::new(
            "document_id = $1 AND status <> 're_segment'",
            crate::vals![document_id],
        )
        .any_of("status IN ({})", statuses)
        .contains("content", keyword);
        let (rows, total) = self
            .page_rows(
                SEGMENT_COLUMNS,
                "segments",
                filter,
                "position, id",
                (page, limit),
            )
            .await?;
        Ok((
            rows.iter().map(segment_row).collect::<sqlx::Result<_>>()?,
            total,
        ))
    }

    /// A segment of a document.
    pub async fn segment(&self, document_id: &str, id: &str) -> Result<Option<SegmentRow>> {
        let row = sqlx::query(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = $1 AND document_id = $2"
        ))
        .bind(id)
        .bind(document_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(segment_row).transpose()?)
    }

    /// Segments by id, in no particular order.
    pub async fn segments_by_ids(&self, ids: &[String]) -> Result<Vec<SegmentRow>> {
        let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE id IN ({{}})");
        let rows = self.rows_in(&sql, ids).await?;
        Ok(rows.iter().map(segment_row).collect::<sqlx::Result<_>>()?)
    }

    /// The next segment position of a document.
    pub async fn next_segment_position(&self, document_id: &str) -> Result<i64> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(position) FROM segments WHERE document_id = $1")
                .bind(document_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(max.unwrap_or(0) + 1)
    }

    /// The child chunks of segments, by position within each batch of segments.
    pub async fn child_chunks_of(&self, segment_ids: &[String]) -> Result<Vec<ChildChunkRow>> {
        let sql = format!(
            "SELECT {CHILD_COLUMNS} FROM child_chunks WHERE segment_id IN ({{}}) ORDER BY position, id"
        );
        let rows = self.rows_in(&sql, segment_ids).await?;
        Ok(rows.iter().map(child_row).collect::<sqlx::Result<_>>()?)
    }

    /// A page of a segment's child chunks, optionally by content substring.
    pub async fn child_chunks_page(
        &self,
        segment_id: &str,
        keyword: Option<&str>,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<ChildChunkRow>, i64)> {
        let filter =
            Filter::new("segment_id = $1", crate::vals![segment_id]).contains("content", keyword);
        let (rows, total) = self
            .page_rows(
                CHILD_COLUMNS,
                "child_chunks",
                filter,
                "position, id",
                (page, limit),
            )
            .await?;
        Ok((
            rows.iter().map(child_row).collect::<sqlx::Result<_>>()?,
            total,
        ))
    }

    /// A child chunk of a segment.
    pub async fn child_chunk(&self, segment_id: &str, id: &str) -> Result<Option<ChildChunkRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CHILD_COLUMNS} FROM child_chunks WHERE id = $1 AND segment_id = $2"
        ))
        .bind(id)
        .bind(segment_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(child_row).transpose()?)
    }

    /// Marks a document's segments as being re-split.
    pub fn resegment_stmt(document_id: &str) -> Stmt {
        Stmt::new(
            "UPDATE segments SET status = 're_segment', updated_at = $1 WHERE document_id = $2",
            crate::vals![now(), document_id],
        )
    }
}
