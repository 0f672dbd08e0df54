//! Documents: the routes of the document family, and creating or updating a document by
//! text or file (the reads and status actions live in `document_state`, files in
//! `document_files`).

use bytes::Bytes;
use http::{Method, Request};
use rand::Rng;
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError, RouteMeta};

pub use super::document_config::DOC_FORMS;
use super::document_config::{prepare, KnowledgeConfig};
use super::document_files::{download, download_zip, upload_file};
use super::document_state::{delete, detail, indexing_status, list, status_action};
use super::{dataset_gate, document_json, ok, opt_str, owner_id, DatasetCall, DATASET_KEY};
use crate::knowledge::{messages, status, KnowledgeError};
use crate::request::{json_object, path_param};
use crate::service_api::files::{read_multipart, StoredPart, UPLOADS};
use crate::state::AppState;
use crate::store::{DocumentRow, Store, UploadFileRow};
use crate::util::{new_id, now};
use crate::{handler, Handler, HandlerResult, Route};

/// Longest stored document name.
pub const MAX_DOCUMENT_NAME: usize = 200;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let d = &["dataset_id"];
    let dd = &["dataset_id", "document_id"];
    let upload = DATASET_KEY.body_limit(crate::service_api::files::upload_body_limit(state));
    // Dify serves each create/update route under a hyphen and an underscore spelling.
    let aliased: [([&'static str; 2], RouteMeta, Handler, &[&str]); 4] = [
        (
            [
                "/v1/datasets/{dataset_id}/document/create-by-text",
                "/v1/datasets/{dataset_id}/document/create_by_text",
            ],
            DATASET_KEY,
            handler(state, create_by_text),
            d,
        ),
        (
            [
                "/v1/datasets/{dataset_id}/document/create-by-file",
                "/v1/datasets/{dataset_id}/document/create_by_file",
            ],
            upload,
            handler(state, create_by_file),
            d,
        ),
        (
            [
                "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text",
                "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_text",
            ],
            DATASET_KEY,
            handler(state, update_by_text),
            dd,
        ),
        (
            [
                "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-file",
                "/v1/datasets/{dataset_id}/documents/{document_id}/update_by_file",
            ],
            upload,
            handler(state, update_by_file),
            dd,
        ),
    ];
    let mut routes = Vec::new();
    for (paths, meta, h, uuids) in aliased {
        for path in paths {
            routes.push(Route::new(Method::POST, path, meta, h.clone()).uuids(uuids));
        }
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

/// A batch id: local time `YYYYMMDDHHMMSS` and six random digits.
pub fn new_batch() -> String {
    let ts = chrono::Local::now().format("%Y%m%d%H%M%S");
    format!("{ts}{}", rand::thread_rng().gen_range(100_000..1_000_000))
}

/// Writes a document's text source as an upload; returns its row.
async fn store_text(
    state: &AppState,
    workspace_id: &str,
    owner: &str,
    name: &str,
    text: &str,
) -> Result<UploadFileRow, BoxError> {
    let id = new_id();
    let file_name = if name.contains('.') {
        name.to_owned()
    } else {
        format!("{name}.txt")
    };
    let row = UploadFileRow {
        storage_key: format!("{UPLOADS}/{id}"),
        id,
        workspace_id: workspace_id.to_owned(),
        app_id: None,
        extension: file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default(),
        name: file_name,
        size: text.len() as i64,
        mime_type: "text/plain".into(),
        created_by: owner.to_owned(),
        created_at: now(),
    };
    state
        .runtime()
        .blobs()
        .put(&row.storage_key, Bytes::copy_from_slice(text.as_bytes()))
        .await?;
    Ok(row)
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
            let _ = state.runtime().blobs().delete(&source.storage_key).await;
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
    // A refused part drops with its spool file.
    let (part, fields) = read_multipart(&state, req).await?.single_file()?;
    let cfg = data_field(&fields).and_then(|m| KnowledgeConfig::parse(&m))?;
    if !crate::knowledge::extract::SUPPORTED.contains(&part.extension().as_str()) {
        return Err(crate::error::ServiceError::UnsupportedFileType.into());
    }
    check_container(&part).await?;
    let name = truncate_name(&part.name);
    let row = part
        .keep(
            &state,
            &call.dataset.workspace_id,
            None,
            &owner_id(&call.ctx),
        )
        .await?;
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
    let doc = call
        .document(state, id, messages::DOCUMENT_TO_UPDATE_NOT_FOUND)
        .await?;
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
    // A refused part drops with its spool file.
    if multipart.file_parts > 1 {
        return Err(crate::error::ServiceError::TooManyFiles.into());
    }
    let cfg = data_field(&multipart.fields).and_then(|m| KnowledgeConfig::parse(&m))?;
    if let Some(part) = &multipart.file {
        check_container(part).await?;
    }
    let doc = available_document(&state, &call, &id).await?;
    let (name, source) = match multipart.file {
        Some(p) => (
            Some(p.name.clone()),
            Some(
                p.keep(
                    &state,
                    &call.dataset.workspace_id,
                    None,
                    &owner_id(&call.ctx),
                )
                .await?,
            ),
        ),
        None => (None, None),
    };
    reprocess(&state, call, doc, name, source, cfg).await
}
