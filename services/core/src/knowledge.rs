//! Knowledge as the rest of weir sees it: how an app or a node configures retrieval
//! ([`DatasetConfig`], [`MetadataFilter`]), the [`Retrieval`] a workflow's
//! knowledge-retrieval node calls, and the [`KnowledgeRepo`] the knowledge crate keeps its
//! datasets, documents and chunks in (the store implements it).

use serde_json::{Map, Value};

use crate::rows::{
    ChildChunkRow, DatasetCounts, DatasetRow, DocumentRow, IndexedChunk, NewSegment, RuleRow,
    SegmentRow, UploadFileRow, VectorHit,
};
use crate::{BoxError, BoxFuture};

/// `top_k` when nothing says otherwise.
pub const DEFAULT_TOP_K: usize = 4;

/// One metadata condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Field name.
    pub name: String,
    /// Operator (Dify's strings).
    pub op: String,
    /// Value.
    pub value: Value,
}

/// A metadata filter: conditions joined by `and` / `or`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetadataFilter {
    /// `and` or `or`.
    pub any: bool,
    /// Conditions.
    pub conditions: Vec<Condition>,
}

impl MetadataFilter {
    /// Parses `metadata_filtering_conditions` (None when absent or empty).
    pub fn parse(v: Option<&Value>) -> Option<MetadataFilter> {
        let v = v.filter(|v| v.is_object())?;
        let conditions: Vec<Condition> = v
            .get("conditions")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|c| {
                Some(Condition {
                    name: c.get("name")?.as_str()?.to_owned(),
                    op: c.get("comparison_operator")?.as_str()?.to_owned(),
                    value: c.get("value").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        if conditions.is_empty() {
            return None;
        }
        Some(MetadataFilter {
            any: v.get("logical_operator").and_then(Value::as_str) == Some("or"),
            conditions,
        })
    }

    /// Whether a document's metadata values match.
    pub fn matches(&self, meta: &Map<String, Value>) -> bool {
        let hit = |c: &Condition| condition_holds(c, meta.get(&c.name));
        if self.any {
            self.conditions.iter().any(hit)
        } else {
            self.conditions.iter().all(hit)
        }
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn condition_holds(c: &Condition, actual: Option<&Value>) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    let text = actual.and_then(as_text);
    let want = as_text(&c.value).unwrap_or_default();
    match c.op.as_str() {
        "empty" => text.as_deref().is_none_or(str::is_empty),
        "not empty" => text.as_deref().is_some_and(|t| !t.is_empty()),
        "contains" => text.is_some_and(|t| t.contains(&want)),
        "not contains" => text.is_none_or(|t| !t.contains(&want)),
        "start with" => text.is_some_and(|t| t.starts_with(&want)),
        "end with" => text.is_some_and(|t| t.ends_with(&want)),
        "is" => text.is_some_and(|t| t == want),
        "is not" => text.is_none_or(|t| t != want),
        "in" | "not in" => {
            let list: Vec<String> = match &c.value {
                Value::Array(a) => a.iter().filter_map(as_text).collect(),
                other => as_text(other)
                    .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
                    .unwrap_or_default(),
            };
            let inside = text.is_some_and(|t| list.contains(&t));
            inside == (c.op == "in")
        }
        op => {
            let (Some(a), Some(b)) = (actual.and_then(as_number), as_number(&c.value)) else {
                return false;
            };
            match op {
                "=" => a == b,
                "≠" => a != b,
                ">" | "after" => a > b,
                "<" | "before" => a < b,
                "≥" => a >= b,
                "≤" => a <= b,
                _ => false,
            }
        }
    }
}

/// How an app searches its datasets.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetConfig {
    /// The datasets, in configuration order.
    pub dataset_ids: Vec<String>,
    /// `single`: one dataset is chosen per query; `multiple`: all are searched.
    pub single: bool,
    /// Results at most (multiple).
    pub top_k: usize,
    /// Drop results below this (multiple).
    pub score_threshold: Option<f64>,
    /// Rerank the pooled results with (provider, model).
    pub rerank: Option<(String, String)>,
    /// Metadata filter (manual filtering mode).
    pub filter: Option<MetadataFilter>,
    /// Completion apps: the input holding the query.
    pub query_variable: Option<String>,
    /// Whether citations are returned.
    pub show_resources: bool,
}

fn enabled_ids(list: Option<&Value>, pick: impl Fn(&Value) -> Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(pick)
        .filter(|d| d.get("enabled").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|d| d.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn rerank_of(v: Option<&Value>, provider_key: &str, model_key: &str) -> Option<(String, String)> {
    let v = v?;
    let p = v.get(provider_key).and_then(Value::as_str)?;
    let m = v.get(model_key).and_then(Value::as_str)?;
    (!p.is_empty() && !m.is_empty()).then(|| (p.to_owned(), m.to_owned()))
}

impl DatasetConfig {
    /// The datasets of an easy-UI `model_config` (`dataset_configs`, or the legacy agent
    /// tools), if any.
    pub fn from_model_config(mc: &Map<String, Value>) -> Option<DatasetConfig> {
        let dc = mc.get("dataset_configs").cloned().unwrap_or(Value::Null);
        let mut ids = enabled_ids(dc.pointer("/datasets/datasets"), |i| i.get("dataset"));
        if ids.is_empty() {
            ids = enabled_ids(mc.get("agent_mode").and_then(|a| a.get("tools")), |i| {
                i.get("dataset")
            });
        }
        if ids.is_empty() {
            return None;
        }
        let threshold_on = dc
            .get("score_threshold_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let manual = dc.get("metadata_filtering_mode").and_then(Value::as_str) == Some("manual");
        Some(DatasetConfig {
            dataset_ids: ids,
            single: dc.get("retrieval_model").and_then(Value::as_str) == Some("single"),
            top_k: dc
                .get("top_k")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_TOP_K, |k| k as usize),
            score_threshold: threshold_on.then(|| {
                dc.get("score_threshold")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
            }),
            rerank: dc
                .get("reranking_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .then(|| {
                    rerank_of(
                        dc.get("reranking_model"),
                        "reranking_provider_name",
                        "reranking_model_name",
                    )
                })
                .flatten(),
            filter: manual
                .then(|| MetadataFilter::parse(dc.get("metadata_filtering_conditions")))
                .flatten(),
            query_variable: mc
                .get("dataset_query_variable")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            show_resources: mc
                .get("retriever_resource")
                .and_then(|r| r.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The configuration of a `knowledge-retrieval` node.
    pub fn from_node(data: &Value) -> DatasetConfig {
        let ids = data
            .get("dataset_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let multi = data
            .get("multiple_retrieval_config")
            .cloned()
            .unwrap_or(Value::Null);
        let manual = data.get("metadata_filtering_mode").and_then(Value::as_str) == Some("manual");
        DatasetConfig {
            dataset_ids: ids,
            single: data.get("retrieval_mode").and_then(Value::as_str) == Some("single"),
            top_k: multi
                .get("top_k")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_TOP_K, |k| k as usize),
            score_threshold: multi.get("score_threshold").and_then(Value::as_f64),
            rerank: (multi
                .get("reranking_enable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                && multi.get("reranking_mode").and_then(Value::as_str) != Some("weighted_score"))
            .then(|| rerank_of(multi.get("reranking_model"), "provider", "model"))
            .flatten(),
            filter: manual
                .then(|| MetadataFilter::parse(data.get("metadata_filtering_conditions")))
                .flatten(),
            query_variable: None,
            show_resources: true,
        }
    }
}

/// A segment's keywords: (segment id, keywords).
pub type KeywordCandidate = (String, Vec<String>);

/// Retrieval for a workflow's knowledge-retrieval node: the node's `result` list.
pub trait Retrieval: Send + Sync {
    /// Searches the datasets of `workspace_id` that `config` names, for `query`.
    fn retrieve<'a>(
        &'a self,
        workspace_id: &'a str,
        config: &'a DatasetConfig,
        query: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Value>, BoxError>>;
}

/// Where knowledge lives: the store's datasets, documents, chunks and their embeddings.
pub trait KnowledgeRepo: Send + Sync {
    /// A dataset of a workspace.
    fn dataset<'a>(
        &'a self,
        workspace_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DatasetRow>, BoxError>>;
    /// Document counters of a dataset.
    fn dataset_counts<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<DatasetCounts, BoxError>>;
    /// A document of a dataset.
    fn document<'a>(
        &'a self,
        dataset_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DocumentRow>, BoxError>>;
    /// Every document of a dataset, by position.
    fn documents_of<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DocumentRow>, BoxError>>;
    /// Documents left unfinished by an earlier run of the server.
    fn unfinished_documents(&self) -> BoxFuture<'_, Result<Vec<DocumentRow>, BoxError>>;
    /// Unfinished documents no live claim holds at `now`, oldest first, at most `limit`.
    fn unclaimed_documents(
        &self,
        now: i64,
        limit: i64,
    ) -> BoxFuture<'_, Result<Vec<DocumentRow>, BoxError>>;
    /// Claims (or renews) a document for `instance` until `until`, unless another
    /// instance's claim is live at `now`. True when claimed.
    fn claim_document<'a>(
        &'a self,
        document_id: &'a str,
        instance: &'a str,
        now: i64,
        until: i64,
    ) -> BoxFuture<'a, Result<bool, BoxError>>;
    /// Gives a claim back.
    fn release_document<'a>(
        &'a self,
        document_id: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Saves a document (insert or update).
    fn save_document<'a>(&'a self, doc: &'a DocumentRow) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Saves a document and replaces its chunks, atomically.
    fn replace_chunks<'a>(
        &'a self,
        doc: &'a DocumentRow,
        segments: &'a [NewSegment],
    ) -> BoxFuture<'a, Result<(), BoxError>>;
    /// A process rule.
    fn rule<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RuleRow>, BoxError>>;
    /// An upload of a workspace (a document's source file).
    fn upload_file<'a>(
        &'a self,
        workspace_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<UploadFileRow>, BoxError>>;
    /// (chunks, chunks completed) of a document.
    fn segment_progress<'a>(
        &'a self,
        document_id: &'a str,
    ) -> BoxFuture<'a, Result<(i64, i64), BoxError>>;
    /// Segments by id.
    fn segments_by_ids<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<SegmentRow>, BoxError>>;
    /// Child chunks of segments.
    fn child_chunks_of<'a>(
        &'a self,
        segment_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ChildChunkRow>, BoxError>>;
    /// Embedded chunks of a dataset's available documents (the vector index's input).
    fn indexable_vectors<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<IndexedChunk>, BoxError>>;
    /// The `k` embedded chunks of a dataset's available documents nearest to `query`, best
    /// first, limited to `documents` when given, when the database searches vectors itself
    /// (pgvector); `Ok(None)` leaves the search to the in-process index.
    fn nearest<'a>(
        &'a self,
        dataset_id: &'a str,
        query: &'a [f32],
        k: usize,
        documents: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Option<Vec<VectorHit>>, BoxError>>;
    /// Keywords of a dataset's available segments: (segment id, keywords).
    fn keyword_candidates<'a>(
        &'a self,
        dataset_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<KeywordCandidate>, BoxError>>;
    /// Full-text matches of a dataset: (segment id, rank), best first.
    fn full_text<'a>(
        &'a self,
        dataset_id: &'a str,
        terms: &'a [String],
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<(String, f64)>, BoxError>>;
    /// Counts one retrieval hit on each segment.
    fn count_hits<'a>(&'a self, segment_ids: &'a [String]) -> BoxFuture<'a, Result<(), BoxError>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_of_apps_and_nodes() {
        let mc: Map<String, Value> = serde_json::from_value(json!({
            "dataset_configs": {"retrieval_model": "multiple", "top_k": 3, "score_threshold_enabled": true,
                "score_threshold": 0.4, "datasets": {"datasets": [
                    {"dataset": {"enabled": true, "id": "d1"}}, {"dataset": {"enabled": false, "id": "d2"}}]}},
            "dataset_query_variable": "topic", "retriever_resource": {"enabled": true}}))
        .unwrap();
        let c = DatasetConfig::from_model_config(&mc).unwrap();
        assert_eq!(c.dataset_ids, ["d1"]);
        assert_eq!(
            (c.top_k, c.score_threshold, c.single),
            (3, Some(0.4), false)
        );
        assert_eq!(c.query_variable.as_deref(), Some("topic"));
        assert!(c.show_resources);
        assert!(DatasetConfig::from_model_config(&Map::new()).is_none());
        let n = DatasetConfig::from_node(
            &json!({"dataset_ids": ["a", "b"], "retrieval_mode": "multiple",
            "multiple_retrieval_config": {"top_k": 2, "reranking_enable": true, "reranking_mode": "reranking_model",
                "reranking_model": {"provider": "openai", "model": "rr"}}}),
        );
        assert_eq!(n.dataset_ids, ["a", "b"]);
        assert_eq!(n.rerank, Some(("openai".into(), "rr".into())));
        assert_eq!(n.top_k, 2);
    }

    #[test]
    fn metadata_conditions() {
        let meta: Map<String, Value> =
            serde_json::from_value(json!({"author": "ana", "year": 2021, "tags": "a,b"})).unwrap();
        let f = |conds: Value, op: &str| {
            MetadataFilter::parse(Some(&json!({"logical_operator": op, "conditions": conds})))
                .unwrap()
        };
        assert!(f(
            json!([{"name": "author", "comparison_operator": "is", "value": "ana"}]),
            "and"
        )
        .matches(&meta));
        assert!(!f(
            json!([{"name": "year", "comparison_operator": "<", "value": 2000}]),
            "and"
        )
        .matches(&meta));
        assert!(f(
            json!([{"name": "year", "comparison_operator": "≥", "value": "2021"},
            {"name": "author", "comparison_operator": "is", "value": "bo"}]),
            "or"
        )
        .matches(&meta));
        assert!(f(
            json!([{"name": "missing", "comparison_operator": "empty"}]),
            "and"
        )
        .matches(&meta));
        assert!(f(
            json!([{"name": "author", "comparison_operator": "in", "value": ["ana", "bo"]}]),
            "and"
        )
        .matches(&meta));
        assert!(MetadataFilter::parse(Some(&json!({"conditions": []}))).is_none());
    }
}
