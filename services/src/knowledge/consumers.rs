//! How apps use knowledge: the `dataset_configs` of easy-UI apps and the `knowledge-retrieval`
//! node of workflows both name datasets and how to search them; [`retrieve_for_app`] searches
//! them, pools and cuts the results, and counts the hits. Citations (`retriever_resources`)
//! and node results are shaped here.

use serde_json::{json, Map, Value};
use weir_layers::BoxError;

use super::retrieve::{self, Hit, MetadataFilter, Settings};
use super::{documents_metadata, keywords};
use crate::state::AppState;
use crate::store::DatasetRow;

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
                .map_or(retrieve::DEFAULT_TOP_K, |k| k as usize),
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
                .map_or(retrieve::DEFAULT_TOP_K, |k| k as usize),
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

/// A hit with the dataset it came from.
#[derive(Clone, Debug)]
pub struct AppHit {
    /// The dataset.
    pub dataset: DatasetRow,
    /// The hit.
    pub hit: Hit,
}

/// Searches an app's datasets for `query`: `multiple` searches all with their own settings
/// and pools the results (reranked by the app's model when set); `single` searches the
/// dataset whose name and description share the most terms with the query (first on ties).
/// Missing datasets and datasets without available documents are skipped.
pub async fn retrieve_for_app(
    state: &AppState,
    workspace_id: &str,
    cfg: &DatasetConfig,
    query: &str,
) -> Result<Vec<AppHit>, BoxError> {
    if query.trim().is_empty() {
        return Ok(Vec::new());
    }
    let store = state.store();
    let mut datasets = Vec::new();
    for id in &cfg.dataset_ids {
        if let Some(d) = store.dataset(workspace_id, id).await? {
            if store.dataset_counts(&d.id).await?.available > 0 {
                datasets.push(d);
            }
        }
    }
    if cfg.single && datasets.len() > 1 {
        let terms = keywords::terms(query);
        let best = datasets
            .iter()
            .enumerate()
            .max_by_key(|(i, d)| {
                let about = keywords::terms(&format!("{} {}", d.name, d.description));
                let hits = terms.iter().filter(|t| about.contains(t)).count();
                (hits, usize::MAX - i)
            })
            .map(|(i, _)| i)
            .unwrap_or(0);
        datasets = vec![datasets.swap_remove(best)];
    }
    let mut pooled = Vec::new();
    for d in datasets {
        let mut settings = Settings::of_dataset(&d);
        if cfg.filter.is_some() {
            settings.filter = cfg.filter.clone();
        }
        if !cfg.single {
            settings.top_k = settings.top_k.max(cfg.top_k);
        }
        for hit in retrieve::retrieve(state, &d, query, &settings).await? {
            pooled.push(AppHit {
                dataset: d.clone(),
                hit,
            });
        }
    }
    if !cfg.single {
        if let Some((provider, model)) = &cfg.rerank {
            if let Ok(client) = state.providers().get(provider, model) {
                let texts: Vec<String> = pooled
                    .iter()
                    .map(|h| h.hit.segment.content.clone())
                    .collect();
                if !texts.is_empty() {
                    let ranked = client.rerank(model, query, &texts, texts.len()).await?;
                    for (i, score) in ranked {
                        if let Some(h) = pooled.get_mut(i) {
                            h.hit.score = score;
                        }
                    }
                }
            }
        }
        pooled.sort_by(|a, b| b.hit.score.total_cmp(&a.hit.score));
        if let Some(t) = cfg.score_threshold {
            pooled.retain(|h| h.hit.score >= t);
        }
        pooled.truncate(cfg.top_k);
    }
    let ids: Vec<String> = pooled.iter().map(|h| h.hit.segment.id.clone()).collect();
    store.count_hits(&ids).await?;
    Ok(pooled)
}

/// The context text of app hits: best first, one per line.
pub fn context(hits: &[AppHit]) -> String {
    let plain: Vec<Hit> = hits.iter().map(|h| h.hit.clone()).collect();
    retrieve::context_text(&plain)
}

/// `retriever_resources` of a message: citations, best first, 1-based positions.
pub fn resources(hits: &[AppHit], retriever_from: &str) -> Vec<Value> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| {
            let meta = documents_metadata(&h.dataset, &h.hit.document);
            json!({
                "position": i + 1, "dataset_id": h.dataset.id, "dataset_name": h.dataset.name,
                "document_id": h.hit.document.id, "document_name": h.hit.document.name,
                "data_source_type": h.hit.document.data_source_type, "segment_id": h.hit.segment.id,
                "retriever_from": retriever_from, "score": h.hit.score, "content": h.hit.segment.content,
                "doc_metadata": if meta.is_empty() { Value::Null } else { Value::Object(meta) },
                "summary": null, "files": null, "title": null, "page": null,
            })
        })
        .collect()
}

/// The `result` of a knowledge-retrieval node.
pub fn node_result(hits: &[AppHit]) -> Vec<Value> {
    hits.iter()
        .enumerate()
        .map(|(i, h)| {
            let (s, d) = (&h.hit.segment, &h.hit.document);
            let meta = documents_metadata(&h.dataset, d);
            let children: Vec<Value> = h
                .hit
                .child_chunks
                .iter()
                .map(|(c, score)| json!({"id": c.id, "content": c.content, "position": c.position, "score": score}))
                .collect();
            let content = match &s.answer {
                Some(a) if !a.is_empty() => format!("question:{} \nanswer:{}", s.content, a),
                _ => s.content.clone(),
            };
            json!({
                "metadata": {"_source": "knowledge", "position": i + 1, "dataset_id": h.dataset.id,
                    "dataset_name": h.dataset.name, "document_id": d.id, "document_name": d.name,
                    "data_source_type": d.data_source_type, "segment_id": s.id, "retriever_from": "workflow",
                    "score": h.hit.score, "child_chunks": children, "segment_hit_count": s.hit_count + 1,
                    "segment_word_count": s.word_count, "segment_position": s.position,
                    "segment_index_node_hash": s.index_node_hash,
                    "doc_metadata": if meta.is_empty() { Value::Null } else { Value::Object(meta) }},
                "title": d.name, "content": content, "files": null, "summary": null,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
