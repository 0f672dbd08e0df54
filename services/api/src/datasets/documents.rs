//! Documents: create by text or file, update by text or file, list, detail, delete,
//! indexing status of a batch, enable/disable/archive, download (one or a ZIP).

use std::io::Write;

use http::{header, HeaderValue, Method, Request};
use rand::Rng;
use serde_json::{json, Map, Value};
use weir_layers::{body, Body, BoxError};

use super::{
    dataset_gate, doc_metadata_list, document_json, no_content, ok, opt_str, owner_id, page_limit,
    DatasetCall, DATASET_KEY,
};
use crate::knowledge::retrieve::first_document_default;
use crate::knowledge::split::ProcessRule;
use crate::knowledge::{messages, status, KnowledgeError};
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::service_api::files::{read_multipart, signed_url, StoredPart};
use crate::state::AppState;
use crate::store::{DatasetRow, DocumentRow, Store, UploadFileRow};
use crate::util::{new_id, now};
use crate::{handler, HandlerResult, Route};

/// Longest stored document name.
pub const MAX_DOCUMENT_NAME: usize = 200;
/// Document forms weir indexes.
pub const DOC_FORMS: [&str; 2] = ["text_model", "hierarchical_model"];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let d = &["dataset_id"];
    let dd = &["dataset_id", "document_id"];
    let upload = DATASET_KEY.body_limit(crate::service_api::files::upload_body_limit(state));
    let mut routes = Vec::new();
    for path in [
        "/v1/datasets/{dataset_id}/document/create-by-text",
        "/v1/datasets/{dataset_id}/document/create_by_text",
    ] {
        routes.push(
            Route::new(
                Method::POST,
                path,
                DATASET_KEY,
                handler(state, create_by_text),
            )
            .uuids(d),
        );
    }
    for path in [
        "/v1/datasets/{dataset_id}/document/create-by-file",
        "/v1/datasets/{dataset_id}/document/create_by_file",
    ] {
        routes
            .push(Route::new(Method::POST, path, upload, handler(state, create_by_file)).uuids(d));
    }
    for path in [
        "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text",
        "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_text",
    ] {
        routes.push(
            Route::new(
                Method::POST,
                path,
                DATASET_KEY,
                handler(state, update_by_text),
            )
            .uuids(dd),
        );
    }
    for path in [
        "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file",
        "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_file",
    ] {
        routes
            .push(Route::new(Method::POST, path, upload, handler(state, update_by_file)).uuids(dd));
    }
    routes.extend([
        Route::new(
            Method::PATCH,
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            upload,
            handler(state, update_by_file),
        )
        .uuids(dd),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents",
            DATASET_KEY,
            handler(state, list),
        )
        .uuids(d),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            DATASET_KEY,
            handler(state, detail),
        )
        .uuids(dd),
        Route::new(
            Method::DELETE,
            "/v1/datasets/{dataset_id}/documents/{document_id}",
            DATASET_KEY,
            handler(state, delete),
        )
        .uuids(dd),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}/upload-file",
            DATASET_KEY,
            handler(state, upload_file),
        )
        .uuids(dd),
        // `{document_id}` here is the batch (the route shares the documents' path shape).
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}/indexing-status",
            DATASET_KEY,
            handler(state, indexing_status),
        )
        .uuids(d),
        Route::new(
            Method::PATCH,
            "/v1/datasets/{dataset_id}/documents/status/{action}",
            DATASET_KEY,
            handler(state, status_action),
        )
        .uuids(d),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/documents/{document_id}/download",
            DATASET_KEY,
            handler(state, download),
        )
        .uuids(dd),
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/documents/download-zip",
            DATASET_KEY,
            handler(state, download_zip),
        )
        .uuids(d),
    ]);
    routes
}

/// The common fields of the create/update family.
#[derive(Debug, Default)]
pub struct KnowledgeConfig {
    indexing_technique: Option<String>,
    doc_form: Option<String>,
    doc_language: Option<String>,
    process_rule: Option<Value>,
    retrieval_model: Option<Value>,
    embedding_model: Option<String>,
    embedding_model_provider: Option<String>,
    original_document_id: Option<String>,
    duplicate: bool,
}

impl KnowledgeConfig {
    fn parse(body: &Map<String, Value>) -> Result<KnowledgeConfig, KnowledgeError> {
        Ok(KnowledgeConfig {
            indexing_technique: opt_str(body, "indexing_technique")?,
            doc_form: opt_str(body, "doc_form")?,
            doc_language: opt_str(body, "doc_language")?,
            process_rule: body.get("process_rule").filter(|v| !v.is_null()).cloned(),
            retrieval_model: body
                .get("retrieval_model")
                .filter(|v| !v.is_null())
                .cloned(),
            embedding_model: opt_str(body, "embedding_model")?,
            embedding_model_provider: opt_str(body, "embedding_model_provider")?,
            original_document_id: opt_str(body, "original_document_id")?,
            duplicate: body
                .get("duplicate")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}

/// A batch id: local time `YYYYMMDDHHMMSS` and six random digits.
pub fn new_batch() -> String {
    let ts = chrono::Local::now().format("%Y%m%d%H%M%S");
    format!("{ts}{}", rand::thread_rng().gen_range(100_000..1_000_000))
}

/// Settles the dataset side of a new document (technique, embedding model, retrieval
/// model, doc form) and the process rule to use; returns the rule's id.
async fn prepare(
    state: &AppState,
    d: &mut DatasetRow,
    cfg: &KnowledgeConfig,
    doc_form: &str,
) -> Result<String, BoxError> {
    if d.indexing_technique.is_none() {
        let t = cfg
            .indexing_technique
            .clone()
            .ok_or_else(|| KnowledgeError::invalid("indexing_technique is required."))?;
        if !matches!(t.as_str(), "high_quality" | "economy") {
            return Err(KnowledgeError::invalid(
                "indexing_technique must be high_quality or economy",
            )
            .into());
        }
        if t == "high_quality" {
            let (p, m) = super::bases::embedding_model(
                state,
                cfg.embedding_model_provider.clone(),
                cfg.embedding_model.clone(),
            )?;
            d.embedding_model_provider = Some(p);
            d.embedding_model = Some(m);
            if d.retrieval_model.is_none() {
                d.retrieval_model = Some(match &cfg.retrieval_model {
                    Some(v) => super::bases::retrieval_model(state, v)?,
                    None => first_document_default().to_string(),
                });
            }
        }
        d.indexing_technique = Some(t);
    }
    if d.data_source_type.is_none() {
        d.data_source_type = Some("upload_file".into());
    }
    if doc_form == "qa_model" {
        return Err(KnowledgeError::invalid("doc_form qa_model is not supported by weir.").into());
    }
    if !DOC_FORMS.contains(&doc_form) {
        return Err(KnowledgeError::invalid("Invalid doc_form.").into());
    }
    match &d.doc_form {
        Some(existing) if existing != doc_form => {
            return Err(
                KnowledgeError::invalid("doc_form is different from the dataset doc_form.").into(),
            )
        }
        None => d.doc_form = Some(doc_form.to_owned()),
        _ => {}
    }
    let store = state.store();
    let rule_id = match &cfg.process_rule {
        Some(v) => {
            let rule = ProcessRule::parse(v)?;
            if doc_form == "hierarchical_model" && rule.mode != "hierarchical" {
                return Err(KnowledgeError::invalid(
                    "hierarchical_model documents need a hierarchical process rule.",
                )
                .into());
            }
            store
                .insert_rule(&d.id, &rule.mode, &rule.rules_json().to_string())
                .await?
        }
        None => match store.latest_rule(&d.id).await? {
            Some(r) => r.id,
            None => return Err(KnowledgeError::invalid("process_rule is required.").into()),
        },
    };
    Ok(rule_id)
}

/// Writes a document's text source as an upload; returns its row.
async fn store_text(
    state: &AppState,
    workspace_id: &str,
    owner: &str,
    name: &str,
    text: &str,
) -> Result<UploadFileRow, BoxError> {
    let dir = state.settings().data_dir.join("upload_files");
    tokio::fs::create_dir_all(&dir).await?;
    let id = new_id();
    let path = dir.join(&id);
    tokio::fs::write(&path, text.as_bytes()).await?;
    let file_name = if name.contains('.') {
        name.to_owned()
    } else {
        format!("{name}.txt")
    };
    Ok(StoredPart {
        id,
        name: file_name,
        mime: "text/plain".into(),
        size: text.len() as u64,
        path,
    }
    .row(workspace_id, None, owner))
}

fn truncate_name(name: &str) -> String {
    name.chars().take(MAX_DOCUMENT_NAME).collect()
}

/// Creates (or, by the same-name rule, re-points) a document from a stored source and
/// queues it for indexing.
async fn create_document(
    state: &AppState,
    call: DatasetCall,
    name: String,
    source: UploadFileRow,
    cfg: KnowledgeConfig,
) -> HandlerResult {
    let mut d = call.dataset;
    let doc_form = cfg
        .doc_form
        .clone()
        .or_else(|| d.doc_form.clone())
        .unwrap_or_else(|| "text_model".into());
    let rule_id = match prepare(state, &mut d, &cfg, &doc_form).await {
        Ok(r) => r,
        Err(e) => {
            let _ =
                tokio::fs::remove_file(state.settings().data_dir.join(&source.storage_key)).await;
            return Err(e);
        }
    };
    let store = state.store();
    let ts = now();
    let batch = new_batch();
    let existing = if cfg.duplicate {
        store.document_named(&d.id, &name).await?
    } else {
        None
    };
    let existing = match (&cfg.original_document_id, existing) {
        (Some(id), _) => Some(
            store
                .document(&d.id, id)
                .await?
                .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_FOUND))?,
        ),
        (None, e) => e,
    };
    let mut stmts = vec![
        Store::save_dataset_stmt(&d),
        Store::insert_upload_file_stmt(&source),
    ];
    let doc = match existing {
        Some(mut doc) => {
            reset(&mut doc, ts);
            doc.upload_file_id = Some(source.id.clone());
            doc.doc_form = doc_form;
            doc.doc_language = cfg.doc_language.clone().unwrap_or_else(|| "English".into());
            doc.process_rule_id = Some(rule_id);
            doc.batch = batch.clone();
            stmts.push(Store::resegment_stmt(&doc.id));
            doc
        }
        None => DocumentRow {
            id: new_id(),
            dataset_id: d.id.clone(),
            workspace_id: d.workspace_id.clone(),
            position: store.next_document_position(&d.id).await?,
            batch: batch.clone(),
            name,
            data_source_type: "upload_file".into(),
            upload_file_id: Some(source.id.clone()),
            process_rule_id: Some(rule_id),
            doc_form,
            doc_language: cfg.doc_language.clone().unwrap_or_else(|| "English".into()),
            created_from: "api".into(),
            indexing_status: status::WAITING.into(),
            enabled: true,
            created_at: ts,
            updated_at: ts,
            ..DocumentRow::default()
        },
    };
    stmts.push(Store::save_document_stmt(&doc));
    store.apply(stmts).await?;
    state.knowledge().queue.push(&d.id, &doc.id);
    Ok(ok(
        &json!({"document": document_json(state, &d, &doc).await?, "batch": batch}),
    ))
}

/// Puts a document back to `waiting` with its stage timestamps cleared.
fn reset(doc: &mut DocumentRow, ts: i64) {
    doc.indexing_status = status::WAITING.into();
    doc.error = None;
    doc.processing_started_at = None;
    doc.parsing_completed_at = None;
    doc.cleaning_completed_at = None;
    doc.splitting_completed_at = None;
    doc.completed_at = None;
    doc.stopped_at = None;
    doc.indexing_latency = None;
    doc.updated_at = ts;
}

async fn create_by_text(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body = json_object(req).await?;
    let name =
        opt_str(&body, "name")?.ok_or_else(|| KnowledgeError::invalid("name is required"))?;
    let text =
        opt_str(&body, "text")?.ok_or_else(|| KnowledgeError::invalid("text is required"))?;
    let cfg = KnowledgeConfig::parse(&body)?;
    let name = truncate_name(&name);
    let source = store_text(
        &state,
        &call.dataset.workspace_id,
        &owner_id(&call.ctx),
        &name,
        &text,
    )
    .await?;
    create_document(&state, call, name, source, cfg).await
}

fn data_field(
    fields: &std::collections::HashMap<String, String>,
) -> Result<Map<String, Value>, KnowledgeError> {
    match fields
        .get("data")
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
    {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(KnowledgeError::invalid("data must be a JSON object")),
        },
    }
}

async fn create_by_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let (part, fields) = read_multipart(&state, req).await?.single_file()?;
    let cfg = match data_field(&fields).and_then(|m| KnowledgeConfig::parse(&m)) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&part.path);
            return Err(e.into());
        }
    };
    if !crate::knowledge::extract::SUPPORTED.contains(&part.extension().as_str()) {
        let _ = std::fs::remove_file(&part.path);
        return Err(crate::error::ServiceError::UnsupportedFileType.into());
    }
    if let Err(e) = check_container(&part).await {
        let _ = std::fs::remove_file(&part.path);
        return Err(e);
    }
    let name = truncate_name(&part.name);
    let row = part.row(&call.dataset.workspace_id, None, &owner_id(&call.ctx));
    create_document(&state, call, name, row, cfg).await
}

/// Refuses a ZIP-based upload (DOCX) that would inflate past the limits, before it is stored
/// as a document.
async fn check_container(part: &StoredPart) -> Result<(), BoxError> {
    if part.extension() != "docx" {
        return Ok(());
    }
    let bytes = tokio::fs::read(&part.path).await?;
    crate::knowledge::extract::check_archive(&bytes, "docx")
        .map_err(|e| crate::knowledge::KnowledgeError::invalid(e.to_string()).into())
}

/// A document that can be updated: `available`, else 400.
async fn available_document(
    state: &AppState,
    call: &DatasetCall,
    id: &str,
) -> Result<DocumentRow, BoxError> {
    let doc = state
        .store()
        .document(&call.dataset.id, &id.to_lowercase())
        .await?
        .ok_or_else(|| KnowledgeError::not_found("Document not found"))?;
    if super::display_status(&doc) != "available" {
        return Err(KnowledgeError::invalid(messages::DOCUMENT_NOT_AVAILABLE).into());
    }
    Ok(doc)
}

/// Re-indexes an updated document: new rule (if any), new source (if any), back to waiting.
async fn reprocess(
    state: &AppState,
    call: DatasetCall,
    mut doc: DocumentRow,
    name: Option<String>,
    source: Option<UploadFileRow>,
    cfg: KnowledgeConfig,
) -> HandlerResult {
    let mut d = call.dataset;
    let doc_form = cfg.doc_form.clone().unwrap_or_else(|| "text_model".into());
    let cfg = KnowledgeConfig {
        indexing_technique: d.indexing_technique.clone(),
        ..cfg
    };
    let rule_id = match &cfg.process_rule {
        Some(_) => Some(prepare(state, &mut d, &cfg, &doc_form).await?),
        None => {
            if d.doc_form.as_deref().is_some_and(|f| f != doc_form) {
                return Err(KnowledgeError::invalid(
                    "doc_form is different from the dataset doc_form.",
                )
                .into());
            }
            None
        }
    };
    if let Some(v) = &cfg.retrieval_model {
        super::bases::retrieval_model(state, v)?;
    }
    let mut stmts = Vec::new();
    if let Some(src) = &source {
        stmts.push(Store::insert_upload_file_stmt(src));
        doc.upload_file_id = Some(src.id.clone());
    }
    if let Some(n) = name {
        doc.name = truncate_name(&n);
    }
    if let Some(r) = rule_id {
        doc.process_rule_id = Some(r);
    }
    if let Some(l) = cfg.doc_language {
        doc.doc_language = l;
    }
    reset(&mut doc, now());
    stmts.push(Store::resegment_stmt(&doc.id));
    stmts.push(Store::save_document_stmt(&doc));
    state.store().apply(stmts).await?;
    state.knowledge().indexes.invalidate(&d.id).await;
    state.knowledge().queue.push(&d.id, &doc.id);
    let batch = doc.batch.clone();
    Ok(ok(
        &json!({"document": document_json(state, &d, &doc).await?, "batch": batch}),
    ))
}

async fn update_by_text(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id");
    let body = json_object(req).await?;
    let name = opt_str(&body, "name")?;
    let text = opt_str(&body, "text")?;
    if text.is_some() && name.is_none() {
        return Err(KnowledgeError::invalid("name is required when text is provided").into());
    }
    let cfg = KnowledgeConfig::parse(&body)?;
    let doc = available_document(&state, &call, &id).await?;
    let source = match &text {
        Some(t) => Some(
            store_text(
                &state,
                &call.dataset.workspace_id,
                &owner_id(&call.ctx),
                name.as_deref().unwrap_or(&doc.name),
                t,
            )
            .await?,
        ),
        None => None,
    };
    reprocess(&state, call, doc, name, source, cfg).await
}

async fn update_by_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id");
    let multipart = read_multipart(&state, req).await?;
    if multipart.file_parts > 1 {
        if let Some(p) = &multipart.file {
            let _ = std::fs::remove_file(&p.path);
        }
        return Err(crate::error::ServiceError::TooManyFiles.into());
    }
    let cleanup = |p: &Option<StoredPart>| {
        if let Some(p) = p {
            let _ = std::fs::remove_file(&p.path);
        }
    };
    let cfg = match data_field(&multipart.fields).and_then(|m| KnowledgeConfig::parse(&m)) {
        Ok(c) => c,
        Err(e) => {
            cleanup(&multipart.file);
            return Err(e.into());
        }
    };
    if let Some(part) = &multipart.file {
        if let Err(e) = check_container(part).await {
            cleanup(&multipart.file);
            return Err(e);
        }
    }
    let doc = match available_document(&state, &call, &id).await {
        Ok(d) => d,
        Err(e) => {
            cleanup(&multipart.file);
            return Err(e);
        }
    };
    let (name, source) = match multipart.file {
        Some(p) => (
            Some(p.name.clone()),
            Some(p.row(&call.dataset.workspace_id, None, &owner_id(&call.ctx))),
        ),
        None => (None, None),
    };
    reprocess(&state, call, doc, name, source, cfg).await
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
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

async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
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
    let doc = store
        .document(&d.id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_FOUND))?;
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

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = store
        .document(&call.dataset.id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_EXISTS))?;
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
        let _ = tokio::fs::remove_file(state.settings().data_dir.join(&file.storage_key)).await;
    }
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(no_content())
}

async fn indexing_status(state: AppState, req: Request<Body>) -> HandlerResult {
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

async fn status_action(state: AppState, req: Request<Body>) -> HandlerResult {
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

async fn download(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = store
        .document(&call.dataset.id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_FOUND))?;
    let file_id = doc.upload_file_id.ok_or_else(|| {
        KnowledgeError::not_found("Document does not have an uploaded file to download.")
    })?;
    store
        .upload_file(&call.dataset.workspace_id, &file_id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found("Uploaded file not found."))?;
    Ok(ok(&json!({"url": signed_url(&state, &file_id)})))
}

/// `GET …/documents/{document_id}/upload-file` (Dify 1.x): the document's source file, with
/// signed URLs to view and to download it.
async fn upload_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = store
        .document(&call.dataset.id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_FOUND))?;
    if doc.data_source_type != "upload_file" {
        return Err(KnowledgeError::invalid(format!(
            "Document data source type ({}) is not upload_file.",
            doc.data_source_type
        ))
        .into());
    }
    let file_id = doc.upload_file_id.as_deref().ok_or_else(|| {
        KnowledgeError::invalid("Upload file id not found in document data source info.")
    })?;
    let f = store
        .upload_file(&doc.workspace_id, file_id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found("UploadFile not found."))?;
    let url = signed_url(&state, &f.id);
    Ok(ok(&json!({
        "id": f.id, "name": f.name, "size": f.size, "extension": f.extension,
        "url": url, "download_url": format!("{url}&as_attachment=true"),
        "mime_type": f.mime_type, "created_by": f.created_by, "created_at": f.created_at,
    })))
}

async fn download_zip(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body = json_object(req).await?;
    let ids: Vec<String> = match body.get("document_ids") {
        Some(Value::Array(a)) if (1..=100).contains(&a.len()) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_lowercase)
            .collect(),
        _ => {
            return Err(KnowledgeError::invalid("document_ids must list 1 to 100 documents").into())
        }
    };
    let store = state.store();
    let mut files = Vec::new();
    for id in &ids {
        let doc = store
            .document(&call.dataset.id, id)
            .await?
            .ok_or_else(|| KnowledgeError::not_found(messages::DOCUMENT_NOT_FOUND))?;
        let file = match &doc.upload_file_id {
            Some(f) => store.upload_file(&doc.workspace_id, f).await?,
            None => None,
        }
        .ok_or_else(|| {
            KnowledgeError::not_found("Only uploaded-file documents can be downloaded as ZIP.")
        })?;
        let bytes = tokio::fs::read(state.settings().data_dir.join(&file.storage_key))
            .await
            .map_err(|_| KnowledgeError::not_found("Uploaded file not found."))?;
        files.push((file.name, bytes));
    }
    let zipped = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        let mut seen = std::collections::HashSet::new();
        for (name, bytes) in files {
            let mut unique = name.clone();
            let mut n = 1;
            while !seen.insert(unique.clone()) {
                unique = format!("{n}-{name}");
                n += 1;
            }
            zip.start_file(unique, options).map_err(|e| e.to_string())?;
            zip.write_all(&bytes).map_err(|e| e.to_string())?;
        }
        zip.finish()
            .map(|c| c.into_inner())
            .map_err(|e| e.to_string())
    })
    .await?
    .map_err(|e| -> BoxError { e.into() })?;
    let mut res = http::Response::new(body::full(bytes::Bytes::from(zipped)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"documents.zip\""),
    );
    Ok(res)
}
