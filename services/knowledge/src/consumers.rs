//! How apps use knowledge: the `dataset_configs` of easy-UI apps and the `knowledge-retrieval`
//! node of workflows both name datasets and how to search them; [`retrieve_for_app`] searches
//! them, pools and cuts the results, and counts the hits. Citations (`retriever_resources`)
//! and node results are shaped here.

use serde_json::{json, Value};
use weir_core::BoxError;

use super::retrieve::{self, Hit, Settings};
use super::{documents_metadata, keywords};
use crate::Knowledge;
use weir_core::rows::DatasetRow;

pub use weir_core::knowledge::DatasetConfig;

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
    kb: &Knowledge,
    workspace_id: &str,
    cfg: &DatasetConfig,
    query: &str,
) -> Result<Vec<AppHit>, BoxError> {
    if query.trim().is_empty() {
        return Ok(Vec::new());
    }
    let store = kb.repo();
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
        for hit in retrieve::retrieve(kb, &d, query, &settings).await? {
            pooled.push(AppHit {
                dataset: d.clone(),
                hit,
            });
        }
    }
    if !cfg.single {
        if let Some((provider, model)) = &cfg.rerank {
            if let Ok(client) = kb.models().get(provider, model) {
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
