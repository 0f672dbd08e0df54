//! `POST /datasets/{dataset_id}/retrieve` (and its `hit-testing` alias): test retrieval
//! with the dataset's retrieval model or the one the request gives.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::Body;

use super::{dataset_gate, ok, DATASET_KEY};
use crate::knowledge::retrieve::{self as retrieval, Settings};
use crate::knowledge::KnowledgeError;
use crate::request::json_object;
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// Longest query.
pub const MAX_QUERY_CHARS: usize = 250;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    [
        "/v1/datasets/{dataset_id}/retrieve",
        "/v1/datasets/{dataset_id}/hit-testing",
    ]
    .into_iter()
    .map(|p| {
        Route::new(Method::POST, p, DATASET_KEY, handler(state, retrieve)).uuids(&["dataset_id"])
    })
    .collect()
}

async fn retrieve(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body = json_object(req).await?;
    let query = match body.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(q)) => q.clone(),
        Some(_) => return Err(KnowledgeError::invalid("query must be a string").into()),
    };
    let has_attachments = body
        .get("attachment_ids")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if query.trim().is_empty() && !has_attachments {
        return Err(KnowledgeError::invalid("Query or attachment_ids is required").into());
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(KnowledgeError::invalid(format!(
            "Query cannot exceed {MAX_QUERY_CHARS} characters."
        ))
        .into());
    }
    let d = &call.dataset;
    let settings = match body.get("retrieval_model").filter(|v| !v.is_null()) {
        Some(v) => Settings::parse(v)?,
        None => Settings::of_dataset(d),
    };
    let (total, _) = state
        .store()
        .dataset_counts(&d.id)
        .await
        .map(|c| (c.available, c.documents))?;
    if total == 0 {
        return Err(KnowledgeError::NotInitialized.into());
    }
    let hits = retrieval::retrieve(state.knowledge(), d, &query, &settings).await?;
    let records: Vec<Value> = hits
        .iter()
        .map(|h| {
            let s = &h.segment;
            let meta = crate::knowledge::documents_metadata(d, &h.document);
            json!({
                "segment": {"id": s.id, "position": s.position, "document_id": s.document_id, "content": s.content,
                    "sign_content": s.content, "answer": s.answer, "word_count": s.word_count, "tokens": s.tokens,
                    "keywords": s.keywords, "index_node_id": s.index_node_id, "index_node_hash": s.index_node_hash,
                    "hit_count": s.hit_count, "enabled": s.enabled, "disabled_at": s.disabled_at, "disabled_by": null,
                    "status": s.status, "created_by": d.workspace_id, "created_at": s.created_at,
                    "indexing_at": s.indexing_at, "completed_at": s.completed_at, "error": s.error,
                    "stopped_at": s.stopped_at,
                    "document": {"id": h.document.id, "data_source_type": h.document.data_source_type,
                        "name": h.document.name, "doc_type": null,
                        "doc_metadata": if meta.is_empty() { Value::Null } else { Value::Object(meta) }}},
                "child_chunks": h.child_chunks.iter().map(|(c, score)| json!({"id": c.id, "content": c.content,
                    "position": c.position, "score": score})).collect::<Vec<_>>(),
                "score": h.score, "tsne_position": null, "files": [], "summary": null,
            })
        })
        .collect();
    Ok(ok(
        &json!({"query": {"content": query}, "records": records}),
    ))
}
