//! Files in the console: the upload limits, uploads (icons, debug-chat files, documents),
//! the document types knowledge extracts, and a document's text preview.

use http::{Method, Request};
use serde_json::json;
use weir_layers::{AuthKind, Body, RouteMeta};

use super::{Caller, USER};
use crate::error::ServiceError;
use crate::knowledge::extract;
use crate::reply::{created, ok};
use crate::request::path_param;
use crate::service_api::files::{read_multipart, upload_body_limit, upload_json};
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// Words of a document preview.
pub const PREVIEW_WORDS: usize = 3000;
/// Files one upload batch may hold (the console's limit).
pub const BATCH_COUNT_LIMIT: u64 = 5;
/// Files a chat message or workflow input may carry.
pub const FILE_UPLOAD_LIMIT: u64 = 20;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let upload =
        RouteMeta::auth(AuthKind::Console { csrf: true }).body_limit(upload_body_limit(state));
    vec![
        Route::new(
            Method::GET,
            "/console/api/files/upload",
            USER,
            handler(state, limits),
        ),
        Route::new(
            Method::POST,
            "/console/api/files/upload",
            upload,
            handler(state, upload_file),
        ),
        Route::new(
            Method::GET,
            "/console/api/files/support-type",
            USER,
            handler(state, support_type),
        ),
        Route::new(
            Method::GET,
            "/console/api/files/{file_id}/preview",
            USER,
            handler(state, preview),
        )
        .uuids(&["file_id"]),
    ]
}

/// The upload limits, in MB, as the console shows them.
pub fn limits_json(state: &AppState) -> serde_json::Value {
    let l = &state.settings().limits;
    let mb = |b: u64| b / (1024 * 1024);
    json!({"file_size_limit": mb(l.upload_file_bytes), "batch_count_limit": BATCH_COUNT_LIMIT,
        "file_upload_limit": FILE_UPLOAD_LIMIT, "image_file_size_limit": mb(l.upload_image_bytes),
        "video_file_size_limit": mb(l.upload_video_bytes),
        "audio_file_size_limit": mb(l.upload_audio_bytes), "workflow_file_upload_limit": 10,
        "image_file_batch_limit": 10, "single_chunk_attachment_limit": 10,
        "attachment_image_file_size_limit": 2})
}

async fn limits(state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&limits_json(&state)))
}

async fn upload_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let (part, _fields) = read_multipart(&state, req).await?.single_file()?;
    let row = part
        .keep(&state, &caller.workspace_id, None, &caller.account_id)
        .await?;
    state.store().insert_upload_file(&row).await?;
    Ok(created(&upload_json(&state, &row)))
}

async fn support_type(_state: AppState, _req: Request<Body>) -> HandlerResult {
    let mut types: Vec<String> = extract::SUPPORTED.iter().map(|e| e.to_string()).collect();
    types.extend(extract::SUPPORTED.iter().map(|e| e.to_uppercase()));
    Ok(ok(&json!({"allowed_extensions": types})))
}

async fn preview(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let id = path_param(&req, "file_id").to_lowercase();
    let f = state
        .store()
        .upload_file(&caller.workspace_id, &id)
        .await?
        .ok_or_else(|| ServiceError::FileNotFound("File not found.".into()))?;
    let bytes = state
        .runtime()
        .blobs()
        .read(&f.storage_key)
        .await?
        .ok_or_else(|| ServiceError::FileNotFound("File not found.".into()))?;
    let text = extract::extract_off_thread(bytes, f.extension, f.mime_type)
        .await
        .map_err(|e| ServiceError::invalid(e.to_string()))?;
    let words: Vec<&str> = text.split_whitespace().take(PREVIEW_WORDS).collect();
    Ok(ok(&json!({"content": words.join(" ")})))
}
