//! Retrieval from a dataset: `semantic_search` (the vector index), `full_text_search` (the
//! database's own engine), `hybrid_search` (both, merged by weighted score or a rerank model),
//! `keyword_search` (economy datasets), then reranking, the score threshold and `top_k`, within
//! the documents a metadata filter selects. The same data gives the same results.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use weir_core::BoxError;

use super::keywords;
use super::vector::{DatasetIndex, Node};
use super::{messages, KnowledgeError};
use crate::Knowledge;
use weir_core::rows::{ChildChunkRow, DatasetRow, DocumentRow, SegmentRow};

pub use weir_core::knowledge::{Condition, MetadataFilter, DEFAULT_TOP_K};

/// The retrieval model of a dataset that stores none (`retrieval_model_dict`).
pub fn stored_default() -> Value {
    json!({"search_method": "semantic_search", "reranking_enable": false,
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "top_k": 2, "score_threshold_enabled": false})
}

/// The retrieval model stored with a dataset's first high-quality document.
pub fn first_document_default() -> Value {
    json!({"search_method": "semantic_search", "reranking_enable": false,
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "top_k": DEFAULT_TOP_K, "score_threshold_enabled": false, "score_threshold": null})
}

/// The effective settings of one retrieval.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `semantic_search`, `full_text_search`, `hybrid_search`, `keyword_search`.
    pub search_method: String,
    /// Results at most.
    pub top_k: usize,
    /// Drop results below this.
    pub score_threshold: Option<f64>,
    /// Rerank with (provider, model).
    pub rerank: Option<(String, String)>,
    /// Hybrid: weighted score instead of the rerank model.
    pub weighted: Option<(f64, f64)>,
    /// Documents to search by metadata.
    pub filter: Option<MetadataFilter>,
}

impl Settings {
    /// Reads a RetrievalModel object (missing keys take defaults; wrong types are refused).
    pub fn parse(v: &Value) -> Result<Settings, KnowledgeError> {
        let method = match v.get("search_method") {
            None | Some(Value::Null) => "semantic_search".to_owned(),
            Some(Value::String(m))
                if matches!(
                    m.as_str(),
                    "semantic_search" | "full_text_search" | "hybrid_search" | "keyword_search"
                ) =>
            {
                m.clone()
            }
            Some(_) => {
                return Err(KnowledgeError::invalid(
                    "search_method must be one of keyword_search, semantic_search, full_text_search, hybrid_search",
                ))
            }
        };
        let top_k = match v.get("top_k") {
            None | Some(Value::Null) => DEFAULT_TOP_K,
            Some(t) => t
                .as_u64()
                .ok_or_else(|| KnowledgeError::invalid("top_k must be an integer"))?
                as usize,
        };
        let threshold_on = v
            .get("score_threshold_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let score_threshold = if threshold_on {
            Some(
                v.get("score_threshold")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            )
        } else {
            None
        };
        let rerank_on = v
            .get("reranking_enable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || v.get("reranking_mode").and_then(Value::as_str) == Some("reranking_model")
                && method == "hybrid_search";
        let rerank = v.get("reranking_model").and_then(|m| {
            let provider = m
                .get("reranking_provider_name")
                .or_else(|| m.get("provider"))
                .and_then(Value::as_str)?;
            let model = m
                .get("reranking_model_name")
                .or_else(|| m.get("model"))
                .and_then(Value::as_str)?;
            (!provider.is_empty() && !model.is_empty())
                .then(|| (provider.to_owned(), model.to_owned()))
        });
        let weighted = (v.get("reranking_mode").and_then(Value::as_str) == Some("weighted_score"))
            .then(|| {
                let w = v.get("weights").cloned().unwrap_or(Value::Null);
                let vector = w
                    .pointer("/vector_setting/vector_weight")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.7);
                let keyword = w
                    .pointer("/keyword_setting/keyword_weight")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0 - vector);
                (vector, keyword)
            });
        Ok(Settings {
            search_method: method,
            top_k,
            score_threshold,
            rerank: if rerank_on && weighted.is_none() {
                rerank
            } else {
                None
            },
            weighted,
            filter: MetadataFilter::parse(v.get("metadata_filtering_conditions")),
        })
    }

    /// The settings a dataset retrieves with: its stored model, or the default.
    pub fn of_dataset(d: &DatasetRow) -> Settings {
        let stored = d
            .retrieval_model
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or_else(first_document_default);
        Settings::parse(&stored).unwrap_or_else(|_| {
            Settings::parse(&first_document_default()).expect("the default parses")
        })
    }
}

/// One retrieved chunk.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The segment (for hierarchical documents, the parent).
    pub segment: SegmentRow,
    /// Its document.
    pub document: DocumentRow,
    /// The score (best child's, for hierarchical documents).
    pub score: f64,
    /// Matching children with their scores.
    pub child_chunks: Vec<(ChildChunkRow, f64)>,
}

/// The vector index of a dataset, loaded from the store if needed.
pub async fn with_index<T>(
    kb: &Knowledge,
    dataset_id: &str,
    f: impl FnOnce(&DatasetIndex) -> T,
) -> Result<T, BoxError> {
    let slot = kb.indexes.slot(dataset_id);
    {
        let guard = slot.read().await;
        if let Some(index) = guard.as_ref() {
            return Ok(f(index));
        }
    }
    let mut guard = slot.write().await;
    if guard.is_none() {
        let vectors = kb.repo().indexable_vectors(dataset_id).await?;
        // Building the graph is CPU work: off the async workers.
        let index = tokio::task::spawn_blocking(move || {
            DatasetIndex::build(vectors.into_iter().map(|c| {
                (
                    Node {
                        id: c.id,
                        segment_id: c.segment_id,
                        document_id: c.document_id,
                    },
                    c.embedding,
                )
            }))
        })
        .await?;
        *guard = Some(index);
    }
    Ok(f(guard.as_ref().expect("loaded above")))
}

/// The `k` vectors of a dataset nearest to `q` among the documents `allow` admits (listed in
/// `allowed` when filtered): searched by the database when it can (pgvector), by the
/// in-process index otherwise.
async fn nearest(
    kb: &Knowledge,
    dataset_id: &str,
    q: &[f32],
    k: usize,
    allowed: Option<&HashSet<String>>,
    allow: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<(Node, f32)>, BoxError> {
    let documents: Option<Vec<String>> = allowed.map(|a| a.iter().cloned().collect());
    if let Some(hits) = kb
        .repo()
        .nearest(dataset_id, q, k, documents.as_deref())
        .await?
    {
        return Ok(hits
            .into_iter()
            .map(|h| {
                let node = Node {
                    id: h.id,
                    segment_id: h.segment_id,
                    document_id: h.document_id,
                };
                (node, h.score)
            })
            .collect());
    }
    with_index(kb, dataset_id, |index| {
        index.search(q, k, false, &|n: &Node| allow(&n.document_id))
    })
    .await
}

/// Embeds a query with the dataset's embedding model.
pub async fn embed_query(
    kb: &Knowledge,
    dataset: &DatasetRow,
    query: &str,
) -> Result<Vec<f32>, BoxError> {
    let (provider, model) = match (&dataset.embedding_model_provider, &dataset.embedding_model) {
        (Some(p), Some(m)) => (p.clone(), m.clone()),
        _ => return Err(KnowledgeError::NoModel(messages::NO_RETRIEVAL_MODEL).into()),
    };
    let client = kb
        .models()
        .get(&provider, &model)
        .map_err(|_| KnowledgeError::NoModel(messages::NO_RETRIEVAL_MODEL))?;
    let (mut vectors, _) = client.embeddings(&model, &[query.to_owned()]).await?;
    vectors
        .pop()
        .ok_or_else(|| KnowledgeError::NoModel(messages::NO_RETRIEVAL_MODEL).into())
}

/// Documents a filter admits (`None`: all of them).
async fn admitted(
    kb: &Knowledge,
    dataset: &DatasetRow,
    filter: Option<&MetadataFilter>,
) -> Result<Option<HashSet<String>>, BoxError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let docs = kb.repo().documents_of(&dataset.id).await?;
    Ok(Some(
        docs.iter()
            .filter(|d| filter.matches(&super::documents_metadata(dataset, d)))
            .map(|d| d.id.clone())
            .collect(),
    ))
}

/// Runs one retrieval.
pub async fn retrieve(
    kb: &Knowledge,
    dataset: &DatasetRow,
    query: &str,
    settings: &Settings,
) -> Result<Vec<Hit>, BoxError> {
    let store = kb.repo();
    let allowed = admitted(kb, dataset, settings.filter.as_ref()).await?;
    if allowed.as_ref().is_some_and(HashSet::is_empty) {
        return Ok(Vec::new());
    }
    let allow = |doc: &str| allowed.as_ref().is_none_or(|a| a.contains(doc));
    let economy = dataset.indexing_technique.as_deref() != Some("high_quality");
    let method = if economy {
        "keyword_search"
    } else {
        settings.search_method.as_str()
    };
    let wide = settings.top_k.max(1) * 4;
    let query_terms = keywords::terms(query);

    // segment id → (score, matching children)
    let mut scored: HashMap<String, (f64, Vec<(String, f64)>)> = HashMap::new();
    let mut semantic: HashMap<String, f64> = HashMap::new();
    let mut children: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    if matches!(method, "semantic_search" | "hybrid_search") {
        let q = embed_query(kb, dataset, query).await?;
        let hits = nearest(kb, &dataset.id, &q, wide * 4, allowed.as_ref(), &allow).await?;
        for (node, score) in hits {
            let score = f64::from(score);
            let best = semantic.entry(node.segment_id.clone()).or_insert(score);
            *best = best.max(score);
            if node.id != node.segment_id {
                children
                    .entry(node.segment_id.clone())
                    .or_default()
                    .push((node.id, score));
            }
        }
    }
    let mut full_text: HashMap<String, f64> = HashMap::new();
    if matches!(method, "full_text_search" | "hybrid_search") {
        for (id, rank) in store
            .full_text(&dataset.id, &query_terms, wide as i64 * 4)
            .await?
        {
            full_text.insert(id, rank / (1.0 + rank.max(0.0)));
        }
    }
    match method {
        "keyword_search" => {
            for (id, kws) in store.keyword_candidates(&dataset.id).await? {
                let s = keywords::score(&query_terms, &kws);
                if s > 0.0 {
                    scored.insert(id, (s, Vec::new()));
                }
            }
        }
        "semantic_search" => {
            for (id, s) in &semantic {
                scored.insert(id.clone(), (*s, children.remove(id).unwrap_or_default()));
            }
        }
        "full_text_search" => {
            for (id, s) in &full_text {
                scored.insert(id.clone(), (*s, Vec::new()));
            }
        }
        _ => {
            let ids: HashSet<&String> = semantic.keys().chain(full_text.keys()).collect();
            for id in ids {
                let v = semantic.get(id).copied().unwrap_or(0.0);
                let k = full_text.get(id).copied().unwrap_or(0.0);
                let s = match settings.weighted {
                    Some((vw, kw)) => vw * v + kw * k,
                    None => v.max(k),
                };
                scored.insert(id.clone(), (s, children.remove(id).unwrap_or_default()));
            }
        }
    }
    // Load what scored, keep what is still retrievable.
    let ids: Vec<String> = scored.keys().cloned().collect();
    let segments = store.segments_by_ids(&ids).await?;
    let mut docs: HashMap<String, DocumentRow> = HashMap::new();
    let mut hits = Vec::new();
    for seg in segments {
        if !allow(&seg.document_id) {
            continue;
        }
        if !docs.contains_key(&seg.document_id) {
            if let Some(d) = store.document(&dataset.id, &seg.document_id).await? {
                docs.insert(d.id.clone(), d);
            }
        }
        let Some(doc) = docs.get(&seg.document_id).cloned() else {
            continue;
        };
        let (score, kids) = scored.remove(&seg.id).unwrap_or((0.0, Vec::new()));
        hits.push((seg, doc, score, kids));
    }
    // Rerank by a model when asked (and the method is not weighted).
    if let Some((provider, model)) = &settings.rerank {
        let client = kb
            .models()
            .get(provider, model)
            .map_err(|_| KnowledgeError::NoModel(messages::NO_RETRIEVAL_MODEL))?;
        let texts: Vec<String> = hits.iter().map(|h| h.0.content.clone()).collect();
        if !texts.is_empty() {
            let ranked = client.rerank(model, query, &texts, texts.len()).await?;
            let by_index: HashMap<usize, f64> = ranked.into_iter().collect();
            for (i, h) in hits.iter_mut().enumerate() {
                h.2 = by_index.get(&i).copied().unwrap_or(0.0);
            }
        }
    }
    hits.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then(a.1.position.cmp(&b.1.position))
            .then(a.0.position.cmp(&b.0.position))
    });
    if let Some(t) = settings.score_threshold {
        hits.retain(|h| h.2 >= t);
    }
    hits.truncate(settings.top_k);
    // Children of hierarchical hits, with their scores.
    let child_ids: Vec<String> = hits.iter().map(|h| h.0.id.clone()).collect();
    let all_children = if hits.iter().any(|h| !h.3.is_empty()) {
        store.child_chunks_of(&child_ids).await?
    } else {
        Vec::new()
    };
    Ok(hits
        .into_iter()
        .map(|(segment, document, score, kids)| {
            let mut child_chunks: Vec<(ChildChunkRow, f64)> = kids
                .iter()
                .filter_map(|(id, s)| {
                    all_children
                        .iter()
                        .find(|c| &c.id == id)
                        .map(|c| (c.clone(), *s))
                })
                .collect();
            child_chunks.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.position.cmp(&b.0.position)));
            Hit {
                segment,
                document,
                score,
                child_chunks,
            }
        })
        .collect())
}

/// The context text of hits as apps inject it: best first, one per line.
pub fn context_text(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| match &h.segment.answer {
            Some(a) if !a.is_empty() => format!("question:{} answer:{}", h.segment.content, a),
            _ => h.segment.content.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_a_retrieval_model() {
        let s = Settings::parse(&json!({"search_method": "hybrid_search", "reranking_enable": false,
            "reranking_mode": "weighted_score", "top_k": 3, "score_threshold_enabled": true, "score_threshold": 0.2,
            "weights": {"vector_setting": {"vector_weight": 0.6}, "keyword_setting": {"keyword_weight": 0.4}}}))
        .unwrap();
        assert_eq!(
            (s.top_k, s.score_threshold, s.weighted, s.rerank),
            (3, Some(0.2), Some((0.6, 0.4)), None)
        );
        let r = Settings::parse(&json!({"search_method": "semantic_search", "reranking_enable": true,
            "reranking_model": {"reranking_provider_name": "openai", "reranking_model_name": "rr"}, "top_k": 2}))
        .unwrap();
        assert_eq!(r.rerank, Some(("openai".into(), "rr".into())));
        assert!(Settings::parse(&json!({"search_method": "fuzzy"})).is_err());
    }
}
