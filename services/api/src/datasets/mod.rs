//! The knowledge API (`/v1/datasets…`, dataset keys): knowledge bases, documents, chunks,
//! retrieval, tags, metadata and the models list. Every `{dataset_id}` route passes the
//! dataset gate first (404 unknown or foreign, 403 API access off).

pub mod bases;
mod document_config;
mod document_files;
mod document_state;
pub mod documents;
pub mod metadata;
pub mod retrieve;
pub mod segments;
pub mod tags;

use http::Request;
use serde_json::{json, Map, Value};
use weir_layers::auth::AuthContext;
use weir_layers::{AuthKind, Body, BoxError, RouteMeta};

use super::context;
use super::request::{path_param, query_param};
use super::Route;
use crate::knowledge::{
    messages, retrieve as retrieval, KnowledgeError, BUILT_IN_FIELDS, OWNER_NAME,
};
use crate::state::AppState;
use crate::store::{ChildChunkRow, DatasetRow, DocumentRow, SegmentRow, UploadFileRow};
use weir_core::model::Models;

/// Route facts of the knowledge API.
pub const DATASET_KEY: RouteMeta = RouteMeta::auth(AuthKind::DatasetKey);
/// Largest page of a list.
pub const MAX_LIMIT: i64 = 100;

/// Every route of the knowledge API.
pub fn routes(state: &AppState) -> Vec<Route> {
    let mut routes = bases::routes(state);
    routes.extend(documents::routes(state));
    routes.extend(segments::routes(state));
    routes.extend(retrieve::routes(state));
    routes.extend(tags::routes(state));
    routes.extend(metadata::routes(state));
    routes
}

/// A knowledge route's caller and the dataset of its path, after the gate.
pub struct DatasetCall {
    /// The key's context.
    pub ctx: AuthContext,
    /// The dataset.
    pub dataset: DatasetRow,
}

impl DatasetCall {
    /// The dataset's document `id` (any case), or 404 with `missing`.
    pub async fn document(
        &self,
        state: &AppState,
        id: &str,
        missing: &'static str,
    ) -> Result<DocumentRow, BoxError> {
        state
            .store()
            .document(&self.dataset.id, &id.to_lowercase())
            .await?
            .ok_or_else(|| KnowledgeError::not_found(missing).into())
    }
}

/// The dataset gate: the path's dataset in the key's workspace (404), its API switched on
/// (403). The future does not borrow the request.
pub fn dataset_gate(
    state: &AppState,
    req: &Request<Body>,
) -> impl std::future::Future<Output = Result<DatasetCall, BoxError>> + Send + 'static {
    let ctx = context::auth(req).cloned();
    let id = path_param(req, "dataset_id");
    let state = state.clone();
    async move {
        let ctx = ctx?;
        let dataset = state
            .store()
            .dataset(&ctx.workspace_id, &id.to_lowercase())
            .await?
            .ok_or_else(|| KnowledgeError::not_found(messages::DATASET_NOT_FOUND))?;
        if !dataset.enable_api {
            return Err(KnowledgeError::Forbidden(messages::DATASET_API_DISABLED.into()).into());
        }
        Ok(DatasetCall { ctx, dataset })
    }
}

/// `page` and `limit` of a list (`limit` as requested, items capped at [`MAX_LIMIT`]).
pub fn page_limit(
    q: &[(String, String)],
    min_limit: i64,
) -> Result<(i64, i64, i64), KnowledgeError> {
    let int = |name: &str, default: i64| -> Result<i64, KnowledgeError> {
        match query_param(q, name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map_err(|_| KnowledgeError::invalid(format!("{name} must be an integer"))),
        }
    };
    let page = int("page", 1)?;
    let limit = int("limit", 20)?;
    if page < 1 {
        return Err(KnowledgeError::invalid(
            "page must be greater than or equal to 1",
        ));
    }
    if limit < min_limit {
        return Err(KnowledgeError::invalid(format!(
            "limit must be greater than or equal to {min_limit}"
        )));
    }
    Ok((page, limit, limit.clamp(1, MAX_LIMIT)))
}

pub use crate::reply::{no_content, ok};

/// A dataset as the API shows it.
pub async fn dataset_json(
    state: &AppState,
    d: &DatasetRow,
    detail: bool,
) -> Result<Value, BoxError> {
    let store = state.store();
    let counts = store.dataset_counts(&d.id).await?;
    let tags: Vec<Value> = store
        .dataset_tags(&d.id)
        .await?
        .into_iter()
        .map(|t| json!({"id": t.id, "name": t.name, "type": t.kind}))
        .collect();
    let mut doc_metadata: Vec<Value> = store
        .metadata_fields(&d.id)
        .await?
        .into_iter()
        .map(|f| json!({"id": f.id, "name": f.name, "type": f.kind}))
        .collect();
    if d.built_in_field_enabled {
        doc_metadata.extend(
            BUILT_IN_FIELDS
                .iter()
                .map(|(n, t)| json!({"id": "built-in", "name": n, "type": t})),
        );
    }
    let mut retrieval: Value = d
        .retrieval_model
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(retrieval::stored_default);
    if detail && d.indexing_technique.as_deref() != Some("high_quality") {
        retrieval["search_method"] = "keyword_search".into();
    }
    let embedding_available = match (
        &d.indexing_technique,
        &d.embedding_model_provider,
        &d.embedding_model,
    ) {
        (Some(t), Some(p), Some(m)) if t == "high_quality" => state.providers().get(p, m).is_ok(),
        (Some(t), _, _) if t == "high_quality" => false,
        _ => true,
    };
    Ok(json!({
        "id": d.id, "name": d.name, "description": d.description, "provider": d.provider,
        "permission": d.permission, "data_source_type": d.data_source_type,
        "indexing_technique": d.indexing_technique,
        "app_count": store.dataset_app_count(&d.workspace_id, &d.id).await?,
        "document_count": counts.documents, "word_count": counts.words,
        "created_by": d.workspace_id, "author_name": OWNER_NAME, "created_at": d.created_at,
        "updated_by": d.workspace_id, "updated_at": d.updated_at,
        "embedding_model": d.embedding_model, "embedding_model_provider": d.embedding_model_provider,
        "embedding_available": embedding_available, "retrieval_model_dict": retrieval,
        "summary_index_setting": null, "tags": tags, "doc_form": d.doc_form,
        "external_knowledge_info": null, "external_retrieval_model": null,
        "doc_metadata": doc_metadata, "built_in_field_enabled": d.built_in_field_enabled,
        "pipeline_id": null, "runtime_mode": "general", "chunk_structure": null, "icon_info": null,
        "is_published": false, "total_documents": counts.documents,
        "total_available_documents": counts.available, "enable_api": d.enable_api,
        "is_multimodal": false, "maintainer": OWNER_NAME,
    }))
}

/// `display_status` of a document.
pub fn display_status(d: &DocumentRow) -> &'static str {
    match d.indexing_status.as_str() {
        "waiting" => "queuing",
        s if d.is_paused && !matches!(s, "completed" | "error" | "waiting") => "paused",
        "parsing" | "cleaning" | "splitting" | "indexing" => "indexing",
        "error" => "error",
        _ if d.archived => "archived",
        _ if d.enabled => "available",
        _ => "disabled",
    }
}

/// The upload detail of a document's source file.
fn upload_detail(f: &UploadFileRow) -> Value {
    json!({"id": f.id, "name": f.name, "size": f.size, "extension": f.extension, "mime_type": f.mime_type,
        "created_by": f.created_by, "created_at": f.created_at})
}

/// A document's metadata as a list of `{id, name, type, value}`; `null` for a document
/// without any (as Dify sends it).
pub async fn doc_metadata_list(
    state: &AppState,
    d: &DatasetRow,
    doc: &DocumentRow,
) -> Result<Value, BoxError> {
    let values = crate::knowledge::documents_metadata(d, doc);
    if values.is_empty() {
        return Ok(Value::Null);
    }
    let mut out = Vec::new();
    for f in state.store().metadata_fields(&d.id).await? {
        if let Some(v) = values.get(&f.name) {
            out.push(json!({"id": f.id, "name": f.name, "type": f.kind, "value": v}));
        }
    }
    if d.built_in_field_enabled {
        for (n, t) in BUILT_IN_FIELDS {
            if let Some(v) = values.get(n) {
                out.push(json!({"id": "built-in", "name": n, "type": t, "value": v}));
            }
        }
    }
    Ok(Value::Array(out))
}

/// A document in its list form.
pub async fn document_json(
    state: &AppState,
    d: &DatasetRow,
    doc: &DocumentRow,
) -> Result<Value, BoxError> {
    let store = state.store();
    let upload = match &doc.upload_file_id {
        Some(id) => store.upload_file(&doc.workspace_id, id).await?,
        None => None,
    };
    Ok(json!({
        "id": doc.id, "position": doc.position, "data_source_type": doc.data_source_type,
        "data_source_info": {"upload_file_id": doc.upload_file_id},
        "data_source_detail_dict": upload.as_ref().map_or(json!({}), |f| json!({"upload_file": upload_detail(f)})),
        "dataset_process_rule_id": doc.process_rule_id, "name": doc.name, "created_from": doc.created_from,
        "created_by": d.workspace_id, "created_at": doc.created_at, "tokens": doc.tokens,
        "indexing_status": doc.indexing_status, "error": doc.error, "enabled": doc.enabled,
        "disabled_at": doc.disabled_at, "disabled_by": doc.disabled_at.map(|_| d.workspace_id.clone()),
        "archived": doc.archived, "display_status": display_status(doc), "word_count": doc.word_count,
        "hit_count": store.document_hits(&doc.id).await?, "doc_form": doc.doc_form,
        "doc_metadata": doc_metadata_list(state, d, doc).await?,
        "summary_index_status": null, "need_summary": false,
    }))
}

/// A segment of `doc` as the API shows it, with its children when the document is
/// hierarchical.
pub fn segment_json(doc: &DocumentRow, s: &SegmentRow, children: &[ChildChunkRow]) -> Value {
    json!({
        "id": s.id, "position": s.position, "document_id": s.document_id, "content": s.content,
        "sign_content": s.content, "answer": s.answer, "word_count": s.word_count, "tokens": s.tokens,
        "keywords": s.keywords, "index_node_id": s.index_node_id, "index_node_hash": s.index_node_hash,
        "hit_count": s.hit_count, "enabled": s.enabled, "disabled_at": s.disabled_at,
        "disabled_by": null, "status": s.status, "created_by": doc.workspace_id, "created_at": s.created_at,
        "updated_at": s.updated_at, "updated_by": null, "indexing_at": s.indexing_at,
        "completed_at": s.completed_at, "error": s.error, "stopped_at": s.stopped_at,
        "child_chunks": children.iter().filter(|c| c.segment_id == s.id).map(child_json).collect::<Vec<_>>(),
        "attachments": [], "summary": null,
    })
}

/// A child chunk as the API shows it.
pub fn child_json(c: &ChildChunkRow) -> Value {
    json!({"id": c.id, "segment_id": c.segment_id, "content": c.content, "position": c.position,
        "word_count": c.word_count, "type": c.kind, "created_at": c.created_at, "updated_at": c.updated_at})
}

/// A string field of a JSON body: absent/null → None, other types → 400.
pub fn opt_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, KnowledgeError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KnowledgeError::invalid(format!("{key} must be a string"))),
    }
}

/// The owner the key acts as (weir has no accounts; the workspace id stands for its owner).
pub fn owner_id(ctx: &AuthContext) -> String {
    ctx.workspace_id.to_string()
}
