//! Chunks (segments) of a document and the child chunks of hierarchical documents: create,
//! list, detail, update, delete. New and changed chunks are embedded and indexed at once.

use std::future::Future;

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, Body, BoxError};

use super::{
    child_json, dataset_gate, no_content, ok, page_limit, segment_json, DatasetCall, DATASET_KEY,
};
use crate::knowledge::indexer::{child_row, embed, segment_row};
use crate::knowledge::vector::Node;
use crate::knowledge::{
    content_hash, keywords, messages, split, status, word_count, KnowledgeError,
};
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::store::{ChildChunkRow, DocumentRow, SegmentRow, Store};
use crate::util::now;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let dd = &["dataset_id", "document_id"];
    let dds = &["dataset_id", "document_id", "segment_id"];
    let ddsc = &["dataset_id", "document_id", "segment_id", "child_chunk_id"];
    let base = "/v1/datasets/{dataset_id}/documents/{document_id}/segments";
    vec![
        Route::new(Method::POST, base, DATASET_KEY, handler(state, create)).uuids(dd),
        Route::new(Method::GET, base, DATASET_KEY, handler(state, list)).uuids(dd),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            DATASET_KEY,
            handler(state, detail),
        )
        .uuids(dds),
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            DATASET_KEY,
            handler(state, update),
        )
        .uuids(dds),
        Route::new(
            Method::DELETE,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
            DATASET_KEY,
            handler(state, delete),
        )
        .uuids(dds),
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
            DATASET_KEY,
            handler(state, create_child),
        )
        .uuids(dds),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
            DATASET_KEY,
            handler(state, list_children),
        )
        .uuids(dds),
        Route::new(
            Method::PATCH,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
            DATASET_KEY,
            handler(state, update_child),
        )
        .uuids(ddsc),
        Route::new(
            Method::DELETE,
            "/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
            DATASET_KEY,
            handler(state, delete_child),
        )
        .uuids(ddsc),
    ]
}

/// The gate and the path's document. The future does not borrow the request.
fn document_in_path(
    state: &AppState,
    req: &Request<Body>,
) -> impl Future<Output = Result<(DatasetCall, DocumentRow), BoxError>> + Send + 'static {
    let gate = dataset_gate(state, req);
    let (state, document_id) = (state.clone(), path_param(req, "document_id"));
    async move {
        let call = gate.await?;
        let doc = call
            .document(&state, &document_id, messages::DOCUMENT_NOT_FOUND)
            .await?;
        Ok((call, doc))
    }
}

/// The gate, the path's document and the path's chunk of it. The future does not borrow
/// the request.
fn segment_in_path(
    state: &AppState,
    req: &Request<Body>,
) -> impl Future<Output = Result<(DatasetCall, DocumentRow, SegmentRow), BoxError>> + Send + 'static
{
    let document = document_in_path(state, req);
    let (state, segment_id) = (state.clone(), path_param(req, "segment_id").to_lowercase());
    async move {
        let (call, doc) = document.await?;
        let seg = state
            .store()
            .segment(&doc.id, &segment_id)
            .await?
            .ok_or_else(|| KnowledgeError::not_found(messages::SEGMENT_NOT_FOUND))?;
        Ok((call, doc, seg))
    }
}

fn high_quality(call: &DatasetCall) -> bool {
    call.dataset.indexing_technique.as_deref() == Some("high_quality")
}

/// The body Dify answers a malformed chunk list with: 400 `{"error": …}`.
fn schema_error(text: &str) -> http::Response<Body> {
    body::json(StatusCode::BAD_REQUEST, &json!({"error": text}))
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, doc) = document_in_path(&state, &req).await?;
    let body = json_object(req).await?;
    if doc.indexing_status != status::COMPLETED {
        return Err(KnowledgeError::not_found(messages::DOCUMENT_NOT_COMPLETED).into());
    }
    if !doc.enabled {
        return Err(KnowledgeError::not_found(messages::DOCUMENT_DISABLED).into());
    }
    let Some(items) = body.get("segments").and_then(Value::as_array) else {
        return Ok(schema_error("segments: Field required"));
    };
    let max = state.settings().knowledge.max_segments_per_request;
    if max > 0 && items.len() > max {
        return Err(
            KnowledgeError::invalid(format!("Exceeded maximum segments limit of {max}.")).into(),
        );
    }
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(content) = item.get("content").and_then(Value::as_str) else {
            return Ok(schema_error(&format!(
                "segments.{i}.content: Field required"
            )));
        };
        if content.trim().is_empty() {
            return Err(KnowledgeError::invalid("Content is empty").into());
        }
        let keywords: Option<Vec<String>> =
            item.get("keywords").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        let answer = item
            .get("answer")
            .and_then(Value::as_str)
            .map(str::to_owned);
        parsed.push((content.to_owned(), answer, keywords));
    }
    let store = state.store();
    let mut position = store.next_segment_position(&doc.id).await?;
    let hq = high_quality(&call);
    let mut rows = Vec::with_capacity(parsed.len());
    let counts = if hq {
        split::tokens_off_thread(parsed.iter().map(|p| p.0.clone()).collect()).await
    } else {
        vec![0; parsed.len()]
    };
    for ((content, answer, kws), tokens) in parsed.into_iter().zip(counts) {
        let mut row = segment_row(&doc, position, content, answer, tokens);
        if let Some(k) = kws {
            row.keywords = k;
        }
        position += 1;
        rows.push(row);
    }
    let mut stmts = Vec::new();
    let mut added = Vec::new();
    let embeddings = if hq && !rows.is_empty() {
        let texts: Vec<String> = rows.iter().map(|r| r.content.clone()).collect();
        match embed(state.knowledge(), &call.dataset, &texts).await {
            Ok((v, _)) => Some(v),
            Err(e) => {
                // Stored disabled with the error, as Dify does.
                let text = e.to_string();
                for r in &mut rows {
                    r.enabled = false;
                    r.status = status::ERROR.into();
                    r.error = Some(text.clone());
                }
                None
            }
        }
    } else {
        None
    };
    for (i, r) in rows.iter().enumerate() {
        let e = embeddings.as_ref().map(|v| v[i].clone());
        if let Some(v) = &e {
            added.push((
                Node {
                    id: r.id.clone(),
                    segment_id: r.id.clone(),
                    document_id: doc.id.clone(),
                },
                v.clone(),
            ));
        }
        stmts.push(Store::insert_segment_stmt(r, e.as_deref()));
    }
    let mut doc = doc;
    doc.word_count += rows.iter().map(|r| r.word_count).sum::<i64>();
    doc.tokens += rows.iter().map(|r| r.tokens).sum::<i64>();
    doc.updated_at = now();
    stmts.push(Store::save_document_stmt(&doc));
    store.apply(stmts).await?;
    if doc.doc_form != "hierarchical_model" && !doc.archived {
        state
            .knowledge()
            .indexes
            .update(&call.dataset.id, &[], added)
            .await;
    }
    let data: Vec<Value> = rows.iter().map(|r| segment_json(&doc, r, &[])).collect();
    Ok(ok(&json!({"data": data, "doc_form": doc.doc_form})))
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, doc) = document_in_path(&state, &req).await?;
    let q = query_pairs(&req);
    let (page, limit, take) = page_limit(&q, 0)?;
    let statuses: Vec<String> = q
        .iter()
        .filter(|(k, v)| k == "status" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let keyword = query_param(&q, "keyword").filter(|k| !k.is_empty());
    let store = state.store();
    let (rows, total) = store
        .segments_page(&doc.id, &statuses, keyword.as_deref(), page, take)
        .await?;
    let children = children_of(&state, &doc, &rows).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|s| segment_json(&doc, s, &children))
        .collect();
    let has_more = data.len() as i64 == limit;
    Ok(ok(
        &json!({"data": data, "doc_form": doc.doc_form, "total": total, "has_more": has_more,
        "limit": limit, "page": page}),
    ))
}

/// Child chunks shown with segments: hierarchical documents with paragraph parents only.
async fn children_of(
    state: &AppState,
    doc: &DocumentRow,
    rows: &[SegmentRow],
) -> Result<Vec<ChildChunkRow>, BoxError> {
    if doc.doc_form != "hierarchical_model" {
        return Ok(Vec::new());
    }
    let full_doc = match &doc.process_rule_id {
        Some(id) => state
            .store()
            .rule(id)
            .await?
            .is_some_and(|r| r.rules.contains("\"parent_mode\":\"full-doc\"")),
        None => false,
    };
    if full_doc {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    Ok(state.store().child_chunks_of(&ids).await?)
}

async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, doc, seg) = segment_in_path(&state, &req).await?;
    let children = children_of(&state, &doc, std::slice::from_ref(&seg)).await?;
    Ok(ok(
        &json!({"data": segment_json(&doc, &seg, &children), "doc_form": doc.doc_form}),
    ))
}

async fn update(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, doc, mut seg) = segment_in_path(&state, &req).await?;
    let body = json_object(req).await?;
    let Some(patch) = body.get("segment").and_then(Value::as_object).cloned() else {
        return Err(KnowledgeError::invalid("segment is required").into());
    };
    let store = state.store();
    let indexes = &state.knowledge().indexes;
    let ts = now();
    let enabled = patch.get("enabled").and_then(Value::as_bool);
    if enabled == Some(false) && seg.enabled {
        seg.enabled = false;
        seg.disabled_at = Some(ts);
        seg.updated_at = ts;
        store
            .apply(vec![Store::update_segment_stmt(&seg, None)])
            .await?;
        indexes.invalidate(&call.dataset.id).await;
        return Ok(ok(
            &json!({"data": segment_json(&doc, &seg, &[]), "doc_form": doc.doc_form}),
        ));
    }
    if !seg.enabled && enabled != Some(true) {
        return Err(KnowledgeError::invalid("Can't update disabled segment").into());
    }
    seg.enabled = true;
    seg.disabled_at = None;
    let old_words = seg.word_count;
    let content_changed = match patch.get("content").and_then(Value::as_str) {
        Some(c) if c != seg.content => {
            if c.trim().is_empty() {
                return Err(KnowledgeError::invalid("Content is empty").into());
            }
            seg.content = c.to_owned();
            true
        }
        _ => false,
    };
    if let Some(a) = patch.get("answer").and_then(Value::as_str) {
        seg.answer = Some(a.to_owned());
    }
    if let Some(k) = patch.get("keywords").and_then(Value::as_array) {
        seg.keywords = k
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    } else if content_changed {
        seg.keywords = keywords::extract(&seg.content);
    }
    seg.word_count = word_count(&seg.content) + seg.answer.as_deref().map_or(0, word_count);
    seg.index_node_hash = content_hash(&seg.content);
    seg.updated_at = ts;
    seg.status = status::COMPLETED.into();
    seg.error = None;
    let hq = high_quality(&call);
    let mut stmts = Vec::new();
    let mut embedding = None;
    if hq && content_changed {
        seg.tokens = split::tokens_off_thread(vec![seg.content.clone()])
            .await
            .pop()
            .unwrap_or(0);
        match embed(
            state.knowledge(),
            &call.dataset,
            std::slice::from_ref(&seg.content),
        )
        .await
        {
            Ok((mut v, _)) => embedding = v.pop(),
            Err(e) => {
                seg.enabled = false;
                seg.status = status::ERROR.into();
                seg.error = Some(e.to_string());
            }
        }
    }
    let regenerate = patch
        .get("regenerate_child_chunks")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut children = Vec::new();
    if doc.doc_form == "hierarchical_model" && (regenerate || content_changed) {
        let sub = match &doc.process_rule_id {
            Some(id) => store.rule(id).await?.and_then(|r| {
                let rule =
                    split::ProcessRule::from_stored(&r.mode, &serde_json::from_str(&r.rules).ok()?);
                rule.subchunk
            }),
            None => None,
        };
        if let Some(sub) = sub {
            stmts.push(Store::delete_children_stmt(&seg.id));
            let texts = split::split(&seg.content, &sub);
            let vectors = if hq && !texts.is_empty() {
                Some(embed(state.knowledge(), &call.dataset, &texts).await?.0)
            } else {
                None
            };
            for (i, t) in texts.into_iter().enumerate() {
                let c = child_row(&seg, i as i64 + 1, t, "automatic");
                let e = vectors.as_ref().map(|v| v[i].clone());
                stmts.push(Store::insert_child_stmt(&c, e.as_deref()));
                children.push(c);
            }
        }
    }
    stmts.insert(0, Store::update_segment_stmt(&seg, embedding.as_deref()));
    let mut doc = doc;
    doc.word_count += seg.word_count - old_words;
    doc.updated_at = ts;
    stmts.push(Store::save_document_stmt(&doc));
    store.apply(stmts).await?;
    indexes.invalidate(&call.dataset.id).await;
    let shown = if children.is_empty() {
        children_of(&state, &doc, std::slice::from_ref(&seg)).await?
    } else {
        children
    };
    Ok(ok(
        &json!({"data": segment_json(&doc, &seg, &shown), "doc_form": doc.doc_form}),
    ))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, mut doc, seg) = segment_in_path(&state, &req).await?;
    doc.word_count = (doc.word_count - seg.word_count).max(0);
    doc.tokens = (doc.tokens - seg.tokens).max(0);
    doc.updated_at = now();
    state
        .store()
        .apply(vec![
            Store::delete_segment_stmt(&seg.id),
            Store::save_document_stmt(&doc),
        ])
        .await?;
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(no_content())
}

/// A child chunk's embedding (high-quality datasets); failures are 400 with the model's text.
async fn embed_child(
    state: &AppState,
    call: &DatasetCall,
    text: &str,
) -> Result<Option<Vec<f32>>, BoxError> {
    if !high_quality(call) {
        return Ok(None);
    }
    let (mut v, _) = embed(state.knowledge(), &call.dataset, &[text.to_owned()])
        .await
        .map_err(|e| KnowledgeError::invalid(e.to_string()))?;
    Ok(v.pop())
}

fn child_content(body: &Map<String, Value>) -> Result<String, KnowledgeError> {
    match body.get("content").and_then(Value::as_str) {
        Some(c) if !c.trim().is_empty() => Ok(c.to_owned()),
        _ => Err(KnowledgeError::invalid("content is required")),
    }
}

async fn create_child(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, _, seg) = segment_in_path(&state, &req).await?;
    let content = child_content(&json_object(req).await?)?;
    let store = state.store();
    let position = store.child_chunks_page(&seg.id, None, 1, 1).await?.1 + 1;
    let c = child_row(&seg, position, content, "customized");
    let embedding = embed_child(&state, &call, &c.content).await?;
    store
        .apply(vec![Store::insert_child_stmt(&c, embedding.as_deref())])
        .await?;
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(ok(&json!({"data": child_json(&c)})))
}

async fn list_children(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, _, seg) = segment_in_path(&state, &req).await?;
    let q = query_pairs(&req);
    let (page, _, take) = page_limit(&q, 1)?;
    let keyword = query_param(&q, "keyword").filter(|k| !k.is_empty());
    let (rows, total) = state
        .store()
        .child_chunks_page(&seg.id, keyword.as_deref(), page, take)
        .await?;
    let total_pages = (total + take - 1) / take;
    Ok(ok(
        &json!({"data": rows.iter().map(child_json).collect::<Vec<_>>(), "total": total,
        "total_pages": total_pages, "page": page, "limit": take}),
    ))
}

async fn child(state: &AppState, seg: &SegmentRow, id: String) -> Result<ChildChunkRow, BoxError> {
    let id = id.to_lowercase();
    Ok(state
        .store()
        .child_chunk(&seg.id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::CHILD_CHUNK_NOT_FOUND))?)
}

async fn update_child(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, _, seg) = segment_in_path(&state, &req).await?;
    let mut c = child(&state, &seg, path_param(&req, "child_chunk_id")).await?;
    c.content = child_content(&json_object(req).await?)?;
    c.word_count = word_count(&c.content);
    c.kind = "customized".into();
    c.updated_at = now();
    let embedding = embed_child(&state, &call, &c.content).await?;
    state
        .store()
        .apply(vec![
            Store::delete_child_stmt(&c.id),
            Store::insert_child_stmt(&c, embedding.as_deref()),
        ])
        .await?;
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(ok(&json!({"data": child_json(&c)})))
}

async fn delete_child(state: AppState, req: Request<Body>) -> HandlerResult {
    let (call, _, seg) = segment_in_path(&state, &req).await?;
    let c = child(&state, &seg, path_param(&req, "child_chunk_id")).await?;
    state
        .store()
        .apply(vec![Store::delete_child_stmt(&c.id)])
        .await?;
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(no_content())
}
