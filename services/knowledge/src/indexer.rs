//! The indexing pipeline, on the server's own task pool: a queue of documents, worked by a
//! few tasks, each document going waiting → parsing → cleaning → splitting → indexing →
//! completed | error. A document's chunks are replaced in one store call at the end, so a
//! document interrupted at any point (a stop, a crash) is simply indexed again: nothing is
//! left half-indexed and no chunk is stored twice.
//!
//! Several instances may share the database: a worker first claims its document (a lease in
//! the store, renewed while it works) and leaves it alone when another instance's claim is
//! live, so each document is indexed once. Every instance sweeps for unfinished documents
//! no live claim holds — at start, and every [`SWEEP_EVERY`] — which takes over the work
//! of an instance that died.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use weir_core::BoxError;

use super::split::{self, ProcessRule};
use super::vector::Node;
use super::{content_hash, keywords, status, word_count};
use crate::Knowledge;
use weir_core::rows::{ChildChunkRow, DatasetRow, DocumentRow, NewSegment, SegmentRow};
use weir_core::util::{new_id, now};

/// A document to index.
#[derive(Clone, Debug)]
pub struct Job {
    /// Its dataset.
    pub dataset_id: String,
    /// The document.
    pub document_id: String,
}

/// How long a claim on a document lasts unless renewed; its worker renews it every third.
pub const CLAIM_TTL: Duration = Duration::from_secs(30);
/// How often an instance looks for unfinished documents nobody works on.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The queue of documents to index.
pub struct Queue {
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    /// Documents queued here and not yet done, with how many times (a sweep skips them).
    queued: Mutex<HashMap<String, usize>>,
    /// This instance, as its claims name it.
    instance: String,
}

impl Queue {
    /// An empty queue (its workers start with [`start`]).
    pub fn new() -> Queue {
        let (tx, rx) = mpsc::unbounded_channel();
        Queue {
            tx,
            rx: Mutex::new(Some(rx)),
            queued: Mutex::default(),
            instance: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Queues a document.
    pub fn push(&self, dataset_id: &str, document_id: &str) {
        *self
            .queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(document_id.to_owned())
            .or_default() += 1;
        let _ = self.tx.send(Job {
            dataset_id: dataset_id.to_owned(),
            document_id: document_id.to_owned(),
        });
    }

    /// Queues a document found by a sweep, unless it is queued here already.
    fn push_unqueued(&self, dataset_id: &str, document_id: &str) {
        let queued = self
            .queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(document_id);
        if !queued {
            self.push(dataset_id, document_id);
        }
    }

    fn done(&self, document_id: &str) {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = queued.get_mut(document_id) {
            *n -= 1;
            if *n == 0 {
                queued.remove(document_id);
            }
        }
    }
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

/// Starts the workers (once) and queues the documents a previous run left unfinished.
pub async fn start(kb: Arc<Knowledge>) -> Result<(), BoxError> {
    let Some(rx) = kb.queue.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return Ok(());
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..kb.settings().indexing_workers.max(1) {
        let (kb, rx) = (kb.clone(), rx.clone());
        tokio::spawn(async move {
            loop {
                let job = rx.lock().await.recv().await;
                let Some(job) = job else { break };
                if let Err(e) = claimed(&kb, &job).await {
                    tracing::error!(document = %job.document_id, error = %e, "indexing failed");
                }
                kb.queue.done(&job.document_id);
            }
        });
    }
    sweep(&kb).await?;
    let weak = Arc::downgrade(&kb);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let Some(kb) = weak.upgrade() else { return };
            if let Err(e) = sweep(&kb).await {
                tracing::warn!(error = %e, "cannot look for documents to index");
            }
        }
    });
    Ok(())
}

/// Queues the unfinished documents no live claim holds (left by a stopped run of the
/// server, or by another instance that died).
async fn sweep(kb: &Knowledge) -> Result<(), BoxError> {
    for doc in kb.repo().unclaimed_documents(now(), 100).await? {
        tracing::info!(document = %doc.id, status = %doc.indexing_status, "resuming indexing");
        kb.queue.push_unqueued(&doc.dataset_id, &doc.id);
    }
    Ok(())
}

/// Indexes a document if this instance can claim it, renewing the claim while it works.
async fn claimed(kb: &Arc<Knowledge>, job: &Job) -> Result<(), BoxError> {
    let instance = kb.queue.instance.clone();
    let ttl = CLAIM_TTL.as_secs() as i64;
    let repo = kb.repo();
    if !repo
        .claim_document(&job.document_id, &instance, now(), now() + ttl)
        .await?
    {
        tracing::debug!(document = %job.document_id, "another instance indexes it");
        return Ok(());
    }
    let renewal = {
        let (kb, id, instance) = (kb.clone(), job.document_id.clone(), instance.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CLAIM_TTL / 3).await;
                let renewed = kb
                    .repo()
                    .claim_document(&id, &instance, now(), now() + ttl)
                    .await;
                if let Err(e) = renewed {
                    tracing::warn!(document = %id, error = %e, "cannot renew an indexing claim");
                }
            }
        })
    };
    let result = index_document(kb, job).await;
    renewal.abort();
    repo.release_document(&job.document_id, &instance).await?;
    result
}

/// The text of a document's source file.
async fn source_text(kb: &Knowledge, doc: &DocumentRow) -> Result<String, String> {
    let file_id = doc
        .upload_file_id
        .as_deref()
        .ok_or("the document has no source file")?;
    let file = kb
        .repo()
        .upload_file(&doc.workspace_id, file_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the source file is gone")?;
    let bytes = kb
        .blobs()
        .read(&file.storage_key)
        .await
        .map_err(|e| format!("cannot read the source file: {e}"))?
        .ok_or("the source file is gone")?;
    let (ext, mime) = (file.extension.clone(), file.mime_type.clone());
    crate::extract::extract_off_thread(bytes, ext, mime)
        .await
        .map_err(|e| e.to_string())
}

/// Embeds texts in batches with the dataset's model: (vectors, tokens).
pub async fn embed(
    kb: &Knowledge,
    dataset: &DatasetRow,
    texts: &[String],
) -> Result<(Vec<Vec<f32>>, u64), BoxError> {
    let (provider, model) = match (&dataset.embedding_model_provider, &dataset.embedding_model) {
        (Some(p), Some(m)) => (p.clone(), m.clone()),
        _ => {
            return Err(super::KnowledgeError::NoModel(super::messages::NO_EMBEDDING_MODEL).into())
        }
    };
    let client = kb
        .models()
        .get(&provider, &model)
        .map_err(|_| super::KnowledgeError::NoModel(super::messages::NO_EMBEDDING_MODEL))?;
    let mut vectors = Vec::with_capacity(texts.len());
    let mut tokens = 0;
    for batch in texts.chunks(kb.settings().embedding_batch.max(1)) {
        let (v, t) = client.embeddings(&model, batch).await?;
        vectors.extend(v);
        tokens += t;
    }
    Ok((vectors, tokens))
}

/// A new segment row for a chunk of a document.
pub fn segment_row(
    doc: &DocumentRow,
    position: i64,
    content: String,
    answer: Option<String>,
    tokens: i64,
) -> SegmentRow {
    let ts = now();
    SegmentRow {
        id: new_id(),
        dataset_id: doc.dataset_id.clone(),
        document_id: doc.id.clone(),
        position,
        word_count: word_count(&content) + answer.as_deref().map_or(0, word_count),
        tokens,
        keywords: keywords::extract(&content),
        index_node_id: new_id(),
        index_node_hash: content_hash(&content),
        content,
        answer,
        hit_count: 0,
        enabled: true,
        status: status::COMPLETED.into(),
        error: None,
        created_at: ts,
        updated_at: ts,
        indexing_at: Some(ts),
        completed_at: Some(ts),
        disabled_at: None,
        stopped_at: None,
    }
}

/// A new child chunk row.
pub fn child_row(seg: &SegmentRow, position: i64, content: String, kind: &str) -> ChildChunkRow {
    let ts = now();
    ChildChunkRow {
        id: new_id(),
        segment_id: seg.id.clone(),
        document_id: seg.document_id.clone(),
        dataset_id: seg.dataset_id.clone(),
        position,
        word_count: word_count(&content),
        content,
        kind: kind.into(),
        created_at: ts,
        updated_at: ts,
    }
}

/// The dataset was deleted while its document was being indexed: the job ends quietly.
#[derive(Debug, thiserror::Error)]
#[error("the dataset was deleted during indexing")]
struct Cancelled;

async fn set_stage(kb: &Knowledge, doc: &mut DocumentRow, stage: &str) -> Result<(), BoxError> {
    if kb.is_cancelled(&doc.dataset_id) {
        return Err(Cancelled.into());
    }
    let store = kb.repo();
    let ts = now();
    match stage {
        status::PARSING => doc.processing_started_at = Some(ts),
        status::CLEANING => doc.parsing_completed_at = Some(ts),
        status::SPLITTING => doc.cleaning_completed_at = Some(ts),
        status::INDEXING => doc.splitting_completed_at = Some(ts),
        _ => {}
    }
    doc.indexing_status = stage.into();
    doc.updated_at = ts;
    store.save_document(doc).await?;
    Ok(())
}

/// Indexes one document end to end; failures end in `error` on the document.
pub async fn index_document(kb: &Knowledge, job: &Job) -> Result<(), BoxError> {
    let store = kb.repo();
    let Some(mut doc) = store.document(&job.dataset_id, &job.document_id).await? else {
        return Ok(());
    };
    let Some(dataset) = store.dataset(&doc.workspace_id, &doc.dataset_id).await? else {
        return Ok(());
    };
    let started = Instant::now();
    match run(kb, &dataset, &mut doc, started).await {
        Ok(()) => Ok(()),
        Err(e)
            if e.is::<Cancelled>()
                || kb.is_cancelled(&doc.dataset_id)
                || store.document(&doc.dataset_id, &doc.id).await?.is_none() =>
        {
            tracing::debug!(document = %doc.id, "indexing ended: the document or its dataset was deleted");
            Ok(())
        }
        Err(e) => {
            let message = kb.describe(&*e);
            doc.indexing_status = status::ERROR.into();
            doc.error = Some(message);
            doc.stopped_at = Some(now());
            doc.updated_at = now();
            store.save_document(&doc).await?;
            Ok(())
        }
    }
}

async fn run(
    kb: &Knowledge,
    dataset: &DatasetRow,
    doc: &mut DocumentRow,
    started: Instant,
) -> Result<(), BoxError> {
    let store = kb.repo();
    let rule = match &doc.process_rule_id {
        Some(id) => match store.rule(id).await? {
            Some(r) => ProcessRule::from_stored(
                &r.mode,
                &serde_json::from_str(&r.rules).unwrap_or(Value::Null),
            ),
            None => ProcessRule::automatic(),
        },
        None => ProcessRule::automatic(),
    };
    rule.check_lengths(kb.settings().max_segmentation_tokens)
        .map_err(super::KnowledgeError::invalid)?;
    set_stage(kb, doc, status::PARSING).await?;
    let text = source_text(kb, doc)
        .await
        .map_err(super::KnowledgeError::invalid)?;
    doc.word_count = word_count(&text);
    set_stage(kb, doc, status::CLEANING).await?;
    set_stage(kb, doc, status::SPLITTING).await?;
    let high_quality = dataset.indexing_technique.as_deref() == Some("high_quality");
    // Splitting and counting tokens of a whole document is CPU work: off the async threads.
    let (chunks, token_counts) = tokio::task::spawn_blocking(move || {
        let chunks = split::chunk(&text, &rule);
        let counts: Vec<i64> = chunks
            .iter()
            .map(|c| {
                if high_quality {
                    split::tokens(&c.content) as i64
                } else {
                    0
                }
            })
            .collect();
        (chunks, counts)
    })
    .await?;
    set_stage(kb, doc, status::INDEXING).await?;

    let hierarchical = doc.doc_form == "hierarchical_model";
    let mut segments: Vec<NewSegment> = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        let tokens = token_counts[i];
        let row = segment_row(doc, i as i64 + 1, c.content.clone(), None, tokens);
        let children = c
            .children
            .iter()
            .enumerate()
            .map(|(j, t)| (child_row(&row, j as i64 + 1, t.clone(), "automatic"), None))
            .collect();
        segments.push(NewSegment {
            row,
            embedding: None,
            children,
        });
    }
    let mut added: Vec<(Node, Vec<f32>)> = Vec::new();
    if high_quality && !segments.is_empty() {
        if hierarchical {
            let texts: Vec<String> = segments
                .iter()
                .flat_map(|s| s.children.iter().map(|(c, _)| c.content.clone()))
                .collect();
            let (vectors, _) = embed(kb, dataset, &texts).await?;
            let mut it = vectors.into_iter();
            for s in &mut segments {
                for (c, e) in &mut s.children {
                    let v = it.next().unwrap_or_default();
                    added.push((
                        Node {
                            id: c.id.clone(),
                            segment_id: s.row.id.clone(),
                            document_id: doc.id.clone(),
                        },
                        v.clone(),
                    ));
                    *e = Some(v);
                }
            }
        } else {
            let texts: Vec<String> = segments.iter().map(|s| s.row.content.clone()).collect();
            let (vectors, _) = embed(kb, dataset, &texts).await?;
            for (s, v) in segments.iter_mut().zip(vectors) {
                added.push((
                    Node {
                        id: s.row.id.clone(),
                        segment_id: s.row.id.clone(),
                        document_id: doc.id.clone(),
                    },
                    v.clone(),
                ));
                s.embedding = Some(v);
            }
        }
    }
    let had_chunks = store.segment_progress(&doc.id).await?.0 > 0;
    let ts = now();
    doc.tokens = segments.iter().map(|s| s.row.tokens).sum();
    doc.indexing_status = status::COMPLETED.into();
    doc.error = None;
    doc.completed_at = Some(ts);
    doc.updated_at = ts;
    doc.indexing_latency = Some(started.elapsed().as_secs_f64());
    store.replace_chunks(doc, &segments).await?;
    let indexes = &kb.indexes;
    if kb.is_cancelled(&doc.dataset_id) {
        return Ok(());
    }
    if had_chunks {
        indexes.invalidate(&doc.dataset_id).await;
    } else if doc.enabled && !doc.archived {
        indexes.update(&doc.dataset_id, &[], added).await;
    }
    Ok(())
}
