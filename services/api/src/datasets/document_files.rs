//! A document's source file: its signed download URL, its upload record, and several
//! documents' files as one ZIP.

use std::io::Write;

use http::{header, HeaderValue, Request};
use serde_json::{json, Value};
use weir_layers::{body, Body, BoxError};

use super::{dataset_gate, ok};
use crate::knowledge::{messages, KnowledgeError};
use crate::request::{json_object, path_param};
use crate::service_api::files::signed_url;
use crate::state::AppState;
use crate::HandlerResult;

pub(super) async fn download(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = call
        .document(&state, &id, messages::DOCUMENT_NOT_FOUND)
        .await?;
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
pub(super) async fn upload_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let id = path_param(&req, "document_id").to_lowercase();
    let store = state.store();
    let doc = call
        .document(&state, &id, messages::DOCUMENT_NOT_FOUND)
        .await?;
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

pub(super) async fn download_zip(state: AppState, req: Request<Body>) -> HandlerResult {
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
        let doc = call
            .document(&state, id, messages::DOCUMENT_NOT_FOUND)
            .await?;
        let file = match &doc.upload_file_id {
            Some(f) => store.upload_file(&doc.workspace_id, f).await?,
            None => None,
        }
        .ok_or_else(|| {
            KnowledgeError::not_found("Only uploaded-file documents can be downloaded as ZIP.")
        })?;
        let bytes = state
            .runtime()
            .blobs()
            .read(&file.storage_key)
            .await?
            .ok_or_else(|| KnowledgeError::not_found("Uploaded file not found."))?;
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
