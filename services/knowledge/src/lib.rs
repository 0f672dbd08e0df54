//! weir's knowledge bases: extraction ([`extract`]), chunking ([`split`]), keyword extraction ([`keywords`]), embeddings and
//! the in-process vector index ([`vector`]), the background indexer ([`indexer`]) and
//! retrieval ([`retrieve`]). The datasets API and the app consumers build on these.
#![warn(missing_docs)]

pub mod consumers;
pub mod extract;
pub mod indexer;
pub mod keywords;
pub mod retrieve;
pub mod split;
pub mod vector;

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use weir_core::blob::BlobStore;
use weir_core::knowledge::{DatasetConfig, KnowledgeRepo, Retrieval};
use weir_core::model::Models;
use weir_core::rows::{DatasetRow, DocumentRow};
use weir_core::settings::KnowledgeSettings;
use weir_core::{BoxError, BoxFuture};

/// Document indexing statuses, in pipeline order.
pub mod status {
    /// Queued.
    pub const WAITING: &str = "waiting";
    /// Extracting text.
    pub const PARSING: &str = "parsing";
    /// Cleaning.
    pub const CLEANING: &str = "cleaning";
    /// Chunking.
    pub const SPLITTING: &str = "splitting";
    /// Embedding and storing chunks.
    pub const INDEXING: &str = "indexing";
    /// Done.
    pub const COMPLETED: &str = "completed";
    /// Failed.
    pub const ERROR: &str = "error";
    /// Paused (reported; weir never pauses by itself).
    pub const PAUSED: &str = "paused";
    /// Statuses a document may be left in when the server stops: resumed on start.
    pub const UNFINISHED: [&str; 5] = [WAITING, PARSING, CLEANING, SPLITTING, INDEXING];
}

/// Messages of the knowledge API (Dify's texts).
pub mod messages {
    /// 404 of the dataset gate.
    pub const DATASET_NOT_FOUND: &str = "Dataset not found.";
    /// 403 of the dataset gate.
    pub const DATASET_API_DISABLED: &str = "Dataset api access is not enabled.";
    /// 404 document (most routes).
    pub const DOCUMENT_NOT_FOUND: &str = "Document not found.";
    /// 404 document (update by text or file: Dify's message has no full stop).
    pub const DOCUMENT_TO_UPDATE_NOT_FOUND: &str = "Document not found";
    /// 404 document (delete).
    pub const DOCUMENT_NOT_EXISTS: &str = "Document Not Exists.";
    /// 404 segment.
    pub const SEGMENT_NOT_FOUND: &str = "Segment not found.";
    /// 404 child chunk.
    pub const CHILD_CHUNK_NOT_FOUND: &str = "Child chunk not found.";
    /// 404 indexing-status batch.
    pub const DOCUMENTS_NOT_FOUND: &str = "Documents not found.";
    /// 404 tag.
    pub const TAG_NOT_FOUND: &str = "Tag not found";
    /// 400 duplicate tag name.
    pub const TAG_NAME_TAKEN: &str = "Tag name already exists";
    /// 400 duplicate metadata name.
    pub const METADATA_NAME_TAKEN: &str = "Metadata name already exists.";
    /// 404 chunk creation on an unfinished document.
    pub const DOCUMENT_NOT_COMPLETED: &str = "Document is not completed.";
    /// 404 chunk creation on a disabled document.
    pub const DOCUMENT_DISABLED: &str = "Document is disabled.";
    /// 400 no embedding model.
    pub const NO_EMBEDDING_MODEL: &str =
        "No Embedding Model available. Please configure a valid provider in the Settings -> Model Provider.";
    /// 400 no embedding or rerank model at retrieval.
    pub const NO_RETRIEVAL_MODEL: &str = "No Embedding Model or Reranking Model available. Please configure a valid provider in the Settings -> Model Provider.";
    /// 409 duplicate dataset name.
    pub const DATASET_NAME_DUPLICATE: &str =
        "The dataset name already exists. Please modify your dataset name.";
    /// 400 retrieve before anything is indexed.
    pub const DATASET_NOT_INITIALIZED: &str =
        "The dataset is still being initialized or indexing. Please wait a moment.";
    /// 403 deleting an archived document.
    pub const ARCHIVED_DOCUMENT_IMMUTABLE: &str = "The archived document is not editable.";
    /// 400 deleting a document being indexed.
    pub const DOCUMENT_INDEXING: &str = "Cannot delete document during indexing.";
    /// 400 update of a document that is not available.
    pub const DOCUMENT_NOT_AVAILABLE: &str = "Document is not available";
}

/// A knowledge-domain refusal, mapped to HTTP in the one error table.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// 404 `not_found` with this text.
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// 403 `forbidden` with this text.
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// 400 `invalid_param` with this text.
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// 409 `dataset_name_duplicate`.
    #[error("{}", messages::DATASET_NAME_DUPLICATE)]
    NameDuplicate,
    /// 400 `dataset_not_initialized`.
    #[error("{}", messages::DATASET_NOT_INITIALIZED)]
    NotInitialized,
    /// 403 `archived_document_immutable`.
    #[error("{}", messages::ARCHIVED_DOCUMENT_IMMUTABLE)]
    ArchivedImmutable,
    /// 400 `document_indexing`.
    #[error("{}", messages::DOCUMENT_INDEXING)]
    DocumentIndexing,
    /// 400 `invalid_action` with this text.
    #[error("{0}")]
    InvalidAction(String),
    /// 400 `invalid_metadata` with this text.
    #[error("{0}")]
    InvalidMetadata(String),
    /// 400 `provider_not_initialize` with this text.
    #[error("{0}")]
    NoModel(&'static str),
}

impl KnowledgeError {
    /// 400 `invalid_param`.
    pub fn invalid(m: impl Into<Cow<'static, str>>) -> Self {
        KnowledgeError::Invalid(m.into())
    }

    /// 404 `not_found`.
    pub fn not_found(m: impl Into<Cow<'static, str>>) -> Self {
        KnowledgeError::NotFound(m.into())
    }
}

/// A segment's `word_count`: characters, as Dify counts them.
pub fn word_count(text: &str) -> i64 {
    text.chars().count() as i64
}

/// The index node hash of a chunk's content.
pub fn content_hash(text: &str) -> String {
    weir_core::util::sha256_hex(text)
}

/// The name shown as a knowledge owner (weir has no accounts: a dataset key acts as the
/// workspace's owner).
pub const OWNER_NAME: &str = "Owner";

/// Built-in metadata fields, in Dify's order: (name, type).
pub const BUILT_IN_FIELDS: [(&str, &str); 5] = [
    ("document_name", "string"),
    ("uploader", "string"),
    ("upload_date", "time"),
    ("last_update_date", "time"),
    ("source", "string"),
];

/// A document's metadata values: its custom ones, plus the built-in ones when the dataset
/// has them on.
pub fn documents_metadata(dataset: &DatasetRow, doc: &DocumentRow) -> Map<String, Value> {
    let mut meta: Map<String, Value> = doc
        .doc_metadata
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    if dataset.built_in_field_enabled {
        meta.insert("document_name".into(), doc.name.clone().into());
        meta.insert("uploader".into(), OWNER_NAME.into());
        meta.insert("upload_date".into(), doc.created_at.into());
        meta.insert("last_update_date".into(), doc.updated_at.into());
        meta.insert("source".into(), source_label(&doc.data_source_type).into());
    }
    meta
}

/// The built-in `source` value of a data source type.
pub fn source_label(data_source_type: &str) -> &'static str {
    match data_source_type {
        "notion_import" => "notion",
        "website_crawl" => "website",
        _ => "file_upload",
    }
}

/// Turns an error into the text a client may see (the api's error table, given at
/// construction): indexing failures are stored on documents with it.
pub type Describe = fn(&(dyn std::error::Error + 'static)) -> String;

/// Knowledge bases as a service: the vector indexes, the indexing queue and its workers,
/// and what they reach — the repository, the models, the blob store.
pub struct Knowledge {
    /// Per-dataset vector indexes.
    pub indexes: vector::VectorIndexes,
    /// The indexing queue.
    pub queue: indexer::Queue,
    /// Datasets deleted since the start: their indexing jobs end quietly.
    deleted: std::sync::Mutex<std::collections::HashSet<String>>,
    repo: Arc<dyn KnowledgeRepo>,
    models: Arc<dyn Models>,
    blobs: Arc<dyn BlobStore>,
    settings: KnowledgeSettings,
    describe: Describe,
}

impl Knowledge {
    /// Knowledge bases over a repository, models and blobs.
    pub fn new(
        repo: Arc<dyn KnowledgeRepo>,
        models: Arc<dyn Models>,
        blobs: Arc<dyn BlobStore>,
        settings: KnowledgeSettings,
        describe: Describe,
    ) -> Arc<Self> {
        Arc::new(Knowledge {
            indexes: Default::default(),
            queue: Default::default(),
            deleted: Default::default(),
            repo,
            models,
            blobs,
            settings,
            describe,
        })
    }

    /// The repository.
    pub fn repo(&self) -> &dyn KnowledgeRepo {
        &*self.repo
    }

    /// The model clients.
    pub fn models(&self) -> &dyn Models {
        &*self.models
    }

    /// Where source files' bytes are.
    pub fn blobs(&self) -> &dyn BlobStore {
        &*self.blobs
    }

    /// `[knowledge]` settings.
    pub fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    /// The text a client may see for an error.
    pub fn describe(&self, err: &(dyn std::error::Error + 'static)) -> String {
        (self.describe)(err)
    }

    /// Ends the queued and running indexing of a deleted dataset (at their next step).
    pub fn cancel_dataset(&self, dataset_id: &str) {
        self.deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dataset_id.to_owned());
    }

    /// Whether a dataset was deleted.
    pub fn is_cancelled(&self, dataset_id: &str) -> bool {
        self.deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(dataset_id)
    }
}

impl Retrieval for Knowledge {
    fn retrieve<'a>(
        &'a self,
        workspace_id: &'a str,
        config: &'a DatasetConfig,
        query: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Value>, BoxError>> {
        Box::pin(async move {
            let hits = consumers::retrieve_for_app(self, workspace_id, config, query).await?;
            Ok(consumers::node_result(&hits))
        })
    }
}
