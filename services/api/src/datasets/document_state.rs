//! Reading and changing documents already stored: list, detail, delete, the indexing status
//! of a batch, and the enable/disable/archive actions.

use http::Request;
use serde_json::{json, Value};
use weir_layers::Body;

use super::{dataset_gate, doc_metadata_list, document_json, no_content, ok, page_limit};
use crate::knowledge::{messages, status, KnowledgeError};
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::store::Store;
use crate::util::now;
use crate::HandlerResult;

pub(super) async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let q = query_pairs(&req);
    let (page, limit, take) = page_limit(&q, 1)?;
    let keyword = query_param(&q, "keyword").filter(|k| !k.is_empty());
    let status_filter = query_param(&q, "status").filter(|k| !k.is_empty());
    let (rows, total) = state
        .store()
        .documents_page(
            &call.dataset.id,
            keyword.as_deref(),
            status_filter.as_deref(),
            page,
            take,
        )
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for doc in &rows {
        data.push(document_json(&state, &call.dataset, doc).await?);
    }
    let has_more = data.len() as i64 == limit;
    Ok(ok(
        &json!({"data": data, "has_more": has_more, "limit": limit, "total": total, "page": page}),
    ))
}

pub(super) async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let q = query_pairs(&req);
    let mode = query_param(&q, "metadata").unwrap_or_else(|| "all".into());
    if !matches!(mode.as_str(), "all" | "only" | "without") {
        return Err(
            KnowledgeError::InvalidMetadata(format!("Invalid metadata value: {mode}")).into(),
        );
    }
    let store = state.store();
    let d = &call.dataset;
    let doc = call
        .document(&state, &id, messages::DOCUMENT_NOT_FOUND)
        .await?;
    let metadata = doc_metadata_list(&state, d, &doc).await?;
    if mode == "only" {
        return Ok(ok(
            &json!({"id": doc.id, "doc_type": null, "doc_metadata": metadata}),
        ));
    }
    let rule_json = |r: Option<crate::store::RuleRow>| {
        r.map_or(json!({}), |r| {
            json!({"id": r.id, "dataset_id": r.dataset_id, "mode": r.mode,
                "rules": serde_json::from_str::<Value>(&r.rules).unwrap_or(Value::Null)})
        })
    };
    let dataset_rule = rule_json(store.latest_rule(&d.id).await?);
    let doc_rule = match &doc.process_rule_id {
        Some(id) => rule_json(store.rule(id).await?),
        None => json!({}),
    };
    let upload = match &doc.upload_file_id {
        Some(id) => store.upload_file(&doc.workspace_id, id).await?,
        None => None,
    };
    let (segments, _) = store.segment_progress(&doc.id).await?;
    let mut v = json!({
        "id": doc.id, "position": doc.position, "data_source_type": doc.data_source_type,
        "data_source_info": upload.as_ref().map_or(json!({}), |f| json!({"upload_file": {"id": f.id, "name": f.name,
            "size": f.size, "extension": f.extension, "mime_type": f.mime_type, "created_by": f.created_by,
            "created_at": f.created_at}})),
        "dataset_process_rule_id": doc.process_rule_id, "dataset_process_rule": dataset_rule,
        "document_process_rule": doc_rule, "name": doc.name, "created_from": doc.created_from,
        "created_by": d.workspace_id, "created_at": doc.created_at, "tokens": doc.tokens,
        "indexing_status": doc.indexing_status, "completed_at": doc.completed_at, "updated_at": doc.updated_at,
        "indexing_latency": doc.indexing_latency, "error": doc.error, "enabled": doc.enabled,
        "disabled_at": doc.disabled_at, "disabled_by": doc.disabled_at.map(|_| d.workspace_id.clone()),
        "archived": doc.archived, "segment_count": segments,
        "average_segment_length": if segments > 0 { doc.word_count / segments } else { 0 },
        "hit_count": store.document_hits(&doc.id).await?, "display_status": super::display_status(&doc),
        "doc_form": doc.doc_form, "doc_language": doc.doc_language, "summary_index_status": null,
        "need_summary": false,
    });
    if mode == "all" {
        v["doc_type"] = Value::Null;
        v["doc_metadata"] = metadata;
    }
    Ok(ok(&v))
}

pub(super) async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = call
        .document(&state, &id, messages::DOCUMENT_NOT_EXISTS)
        .await?;
    if doc.archived {
        return Err(KnowledgeError::ArchivedImmutable.into());
    }
    if matches!(
        doc.indexing_status.as_str(),
        status::PARSING | status::CLEANING | status::SPLITTING | status::INDEXING
    ) {
        return Err(KnowledgeError::DocumentIndexing.into());
    }
    store.delete_document(&doc.id).await?;
    if let Some(file) = match &doc.upload_file_id {
        Some(f) => store.upload_file(&doc.workspace_id, f).await?,
        None => None,
    } {
        let _ = state.runtime().blobs().delete(&file.storage_key).await;
    }
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(no_content())
}

pub(super) async fn indexing_status(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let batch = path_param(&req, "document_id");
    let store = state.store();
    let docs = store.documents_in_batch(&call.dataset.id, &batch).await?;
    if docs.is_empty() {
        return Err(KnowledgeError::not_found(messages::DOCUMENTS_NOT_FOUND).into());
    }
    let mut data = Vec::with_capacity(docs.len());
    for doc in docs {
        let (total, done) = store.segment_progress(&doc.id).await?;
        let shown = if doc.is_paused {
            status::PAUSED
        } else {
            doc.indexing_status.as_str()
        };
        data.push(json!({"id": doc.id, "indexing_status": shown,
            "processing_started_at": doc.processing_started_at, "parsing_completed_at": doc.parsing_completed_at,
            "cleaning_completed_at": doc.cleaning_completed_at, "splitting_completed_at": doc.splitting_completed_at,
            "completed_at": doc.completed_at, "paused_at": doc.paused_at, "error": doc.error,
            "stopped_at": doc.stopped_at, "completed_segments": done, "total_segments": total}));
    }
    Ok(ok(&json!({"data": data})))
}

/// The document status actions.
pub const ACTIONS: [&str; 4] = ["enable", "disable", "archive", "un_archive"];

pub(super) async fn status_action(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let action = path_param(&req, "action");
    let body = json_object(req).await?;
    if !ACTIONS.contains(&action.as_str()) {
        return Err(KnowledgeError::InvalidAction(format!(
            "Invalid action: {action}. Must be one of {ACTIONS:?}"
        ))
        .into());
    }
    let ids: Vec<String> = match body.get("document_ids") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_lowercase)
            .collect(),
        _ => return Err(KnowledgeError::invalid("document_ids is required").into()),
    };
    let store = state.store();
    let docs = store.documents_by_ids(&call.dataset.id, &ids).await?;
    // All-or-nothing: validate every document first.
    if action == "disable" {
        if let Some(d) = docs.iter().find(|d| {
            d.enabled && (d.indexing_status != status::COMPLETED || d.completed_at.is_none())
        }) {
            return Err(KnowledgeError::InvalidAction(format!(
                "Document: {} is not completed.",
                d.name
            ))
            .into());
        }
    }
    let ts = now();
    let mut stmts = Vec::new();
    for mut doc in docs {
        let changed = match action.as_str() {
            "enable" if !doc.enabled => {
                doc.enabled = true;
                doc.disabled_at = None;
                true
            }
            "disable" if doc.enabled => {
                doc.enabled = false;
                doc.disabled_at = Some(ts);
                true
            }
            "archive" if !doc.archived => {
                doc.archived = true;
                doc.archived_at = Some(ts);
                true
            }
            "un_archive" if doc.archived => {
                doc.archived = false;
                doc.archived_at = None;
                true
            }
            _ => false,
        };
        if changed {
            doc.updated_at = ts;
            stmts.push(Store::save_document_stmt(&doc));
        }
    }
    if !stmts.is_empty() {
        store.apply(stmts).await?;
        state.knowledge().indexes.invalidate(&call.dataset.id).await;
    }
    Ok(ok(&json!({"result": "success"})))
}
