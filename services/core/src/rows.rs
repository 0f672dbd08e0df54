//! Rows the store keeps that other crates read and write through the repository traits of
//! [`crate::knowledge`] and [`crate::files`], and the node executions a run records: plain
//! data, no database types.

use serde::Serialize;
use serde_json::Value;

/// An uploaded file.
#[derive(Clone, Debug, Default)]
pub struct UploadFileRow {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// App it was uploaded through.
    pub app_id: Option<String>,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// Extension, lower case, without dot.
    pub extension: String,
    /// MIME type as sent.
    pub mime_type: String,
    /// Storage key under the data directory.
    pub storage_key: String,
    /// Uploader (end user id).
    pub created_by: String,
    /// Created.
    pub created_at: i64,
}

/// A dataset as stored.
#[derive(Clone, Debug)]
pub struct DatasetRow {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Name (unique in the workspace).
    pub name: String,
    /// Description.
    pub description: String,
    /// `vendor`.
    pub provider: String,
    /// `only_me`, `all_team_members`, `partial_members`.
    pub permission: String,
    /// Set by the first document.
    pub data_source_type: Option<String>,
    /// `high_quality`, `economy` or unset.
    pub indexing_technique: Option<String>,
    /// Embedding model name.
    pub embedding_model: Option<String>,
    /// Embedding provider.
    pub embedding_model_provider: Option<String>,
    /// Stored retrieval model (JSON text).
    pub retrieval_model: Option<String>,
    /// `text_model`, `hierarchical_model`, `qa_model` or unset.
    pub doc_form: Option<String>,
    /// Service API access.
    pub enable_api: bool,
    /// Built-in metadata fields on.
    pub built_in_field_enabled: bool,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

/// Counters of a dataset.
#[derive(Clone, Debug, Default)]
pub struct DatasetCounts {
    /// All documents.
    pub documents: i64,
    /// Completed, enabled, not archived.
    pub available: i64,
    /// Sum of documents' word counts.
    pub words: i64,
}

/// A process rule as stored.
#[derive(Clone, Debug)]
pub struct RuleRow {
    /// Id.
    pub id: String,
    /// Dataset.
    pub dataset_id: String,
    /// Mode.
    pub mode: String,
    /// Rules (JSON text).
    pub rules: String,
}

/// A document as stored.
#[derive(Clone, Debug, Default)]
pub struct DocumentRow {
    /// Id.
    pub id: String,
    /// Dataset.
    pub dataset_id: String,
    /// Workspace.
    pub workspace_id: String,
    /// 1-based order of creation in the dataset.
    pub position: i64,
    /// Batch of the creating call.
    pub batch: String,
    /// Name.
    pub name: String,
    /// `upload_file`.
    pub data_source_type: String,
    /// The source file.
    pub upload_file_id: Option<String>,
    /// The process rule it was indexed with.
    pub process_rule_id: Option<String>,
    /// `text_model`, `hierarchical_model`.
    pub doc_form: String,
    /// Language.
    pub doc_language: String,
    /// `api`.
    pub created_from: String,
    /// Pipeline status.
    pub indexing_status: String,
    /// Failure text.
    pub error: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Archived.
    pub archived: bool,
    /// Paused.
    pub is_paused: bool,
    /// Characters.
    pub word_count: i64,
    /// Embedding tokens.
    pub tokens: i64,
    /// Metadata values (JSON map text).
    pub doc_metadata: Option<String>,
    /// Stage timestamps.
    pub processing_started_at: Option<i64>,
    /// Parsing done.
    pub parsing_completed_at: Option<i64>,
    /// Cleaning done.
    pub cleaning_completed_at: Option<i64>,
    /// Splitting done.
    pub splitting_completed_at: Option<i64>,
    /// Completed.
    pub completed_at: Option<i64>,
    /// Failed at.
    pub stopped_at: Option<i64>,
    /// Paused at.
    pub paused_at: Option<i64>,
    /// Disabled at.
    pub disabled_at: Option<i64>,
    /// Archived at.
    pub archived_at: Option<i64>,
    /// Seconds of indexing.
    pub indexing_latency: Option<f64>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

/// A segment (chunk) as stored.
#[derive(Clone, Debug, Default)]
pub struct SegmentRow {
    /// Id.
    pub id: String,
    /// Dataset.
    pub dataset_id: String,
    /// Document.
    pub document_id: String,
    /// 1-based position in the document.
    pub position: i64,
    /// Text.
    pub content: String,
    /// QA answer.
    pub answer: Option<String>,
    /// Characters.
    pub word_count: i64,
    /// Embedding tokens.
    pub tokens: i64,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Index node id.
    pub index_node_id: String,
    /// Content hash.
    pub index_node_hash: String,
    /// Times retrieved by apps.
    pub hit_count: i64,
    /// Enabled.
    pub enabled: bool,
    /// `waiting`, `indexing`, `completed`, `error`, `re_segment`.
    pub status: String,
    /// Failure text.
    pub error: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Indexing started.
    pub indexing_at: Option<i64>,
    /// Indexed.
    pub completed_at: Option<i64>,
    /// Disabled at.
    pub disabled_at: Option<i64>,
    /// Failed at.
    pub stopped_at: Option<i64>,
}

/// A child chunk as stored.
#[derive(Clone, Debug, Default)]
pub struct ChildChunkRow {
    /// Id.
    pub id: String,
    /// Parent segment.
    pub segment_id: String,
    /// Document.
    pub document_id: String,
    /// Dataset.
    pub dataset_id: String,
    /// 1-based position in the segment.
    pub position: i64,
    /// Text.
    pub content: String,
    /// Characters.
    pub word_count: i64,
    /// `automatic` or `customized`.
    pub kind: String,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

/// A segment to store, with its embedding and children.
#[derive(Clone, Debug, Default)]
pub struct NewSegment {
    /// The row.
    pub row: SegmentRow,
    /// Its embedding (high_quality, text documents).
    pub embedding: Option<Vec<f32>>,
    /// Children with their embeddings (hierarchical documents).
    pub children: Vec<(ChildChunkRow, Option<Vec<f32>>)>,
}

/// A vector retrieval may return: segment or child chunk, with its embedding.
#[derive(Clone, Debug)]
pub struct IndexedChunk {
    /// Segment or child chunk id.
    pub id: String,
    /// Its segment.
    pub segment_id: String,
    /// Its document.
    pub document_id: String,
    /// The vector.
    pub embedding: Vec<f32>,
}

/// A chunk a vector search found: segment or child chunk, with its cosine similarity.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorHit {
    /// Segment or child chunk id.
    pub id: String,
    /// Its segment.
    pub segment_id: String,
    /// Its document.
    pub document_id: String,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// One node execution, as events and storage show it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeRecord {
    /// Execution id.
    pub id: String,
    /// Node id.
    pub node_id: String,
    /// Node type.
    pub node_type: String,
    /// Title.
    pub title: String,
    /// 1-based start order.
    pub index: u32,
    /// Always null (as Dify 1.14 sends it).
    pub predecessor_node_id: Option<String>,
    /// Inputs (`null` until finished).
    pub inputs: Option<Value>,
    /// Process data.
    pub process_data: Option<Value>,
    /// Outputs.
    pub outputs: Option<Value>,
    /// `running`, `succeeded`, `failed`, `exception`, `stopped`.
    pub status: &'static str,
    /// Error text.
    pub error: Option<String>,
    /// Seconds.
    pub elapsed_time: f64,
    /// Usage summary.
    pub execution_metadata: Option<Value>,
    /// Started, Unix seconds.
    pub created_at: i64,
    /// Finished, Unix seconds.
    pub finished_at: Option<i64>,
    /// Iteration container.
    pub iteration_id: Option<String>,
    /// Loop container.
    pub loop_id: Option<String>,
    /// Round inside a container.
    #[serde(skip)]
    pub round: Option<usize>,
}

/// A vector as stored: little-endian `f32`s.
pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from its stored bytes.
pub fn decode_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
