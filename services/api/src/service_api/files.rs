//! Files: `POST /files/upload` (multipart, limits by type), `GET /files/{id}/preview` (only
//! files some message of the app references), and the signed `GET /files/{id}/file-preview`
//! URLs handed out in responses.

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use http::{header, HeaderValue, Method, Request, StatusCode};
use serde_json::json;
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use weir_layers::{body, AuthKind, Body, BoxError, HttpError, RouteMeta};

use crate::context::{current_app, end_user};
use crate::error::ServiceError;
use crate::request::{path_param, query_pairs, query_param};
use crate::runtime::files::kind_of_extension;
use crate::state::AppState;
use crate::store::UploadFileRow;
use crate::util::{new_id, now};
use crate::{handler, HandlerResult, Route};

/// How long a signed file URL stays valid, seconds.
pub const SIGNED_URL_TTL_S: i64 = 300;
/// Longest kept file name stem.
const MAX_STEM_CHARS: usize = 200;
/// Characters refused in file names.
const FORBIDDEN_NAME_CHARS: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// The body limit of an upload route: the largest file limit, plus room for the
/// multipart framing.
pub fn upload_body_limit(state: &AppState) -> u64 {
    let limits = &state.settings().limits;
    let largest = [
        limits.upload_file_bytes,
        limits.upload_image_bytes,
        limits.upload_video_bytes,
        limits.upload_audio_bytes,
    ]
    .into_iter()
    .max()
    .unwrap_or(limits.upload_file_bytes);
    largest + 1024 * 1024
}

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let upload = RouteMeta::auth(AuthKind::AppKey).body_limit(upload_body_limit(state));
    vec![
        Route::new(
            Method::POST,
            "/v1/files/upload",
            upload,
            handler(state, upload_file),
        ),
        Route::new(
            Method::GET,
            "/v1/files/{file_id}/preview",
            RouteMeta::auth(AuthKind::AppKey),
            handler(state, preview),
        )
        .uuids(&["file_id"]),
        Route::new(
            Method::GET,
            "/files/{file_id}/file-preview",
            RouteMeta::auth(AuthKind::None),
            handler(state, signed_preview),
        )
        .uuids(&["file_id"]),
    ]
}

fn signature(secret: &[u8], file_id: &str, timestamp: &str, nonce: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(format!("file-preview|{file_id}|{timestamp}|{nonce}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A signed, time-limited URL of an uploaded file.
pub fn signed_url(state: &AppState, file_id: &str) -> String {
    let timestamp = now().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let sign = signature(state.file_secret(), file_id, &timestamp, &nonce);
    format!(
        "{}/files/{file_id}/file-preview?timestamp={timestamp}&nonce={nonce}&sign={sign}",
        state.settings().files_url.trim_end_matches('/')
    )
}

/// The upload limit of a file of this extension.
pub fn limit_for(state: &AppState, extension: &str) -> u64 {
    let l = &state.settings().limits;
    match kind_of_extension(extension) {
        "image" => l.upload_image_bytes,
        "video" => l.upload_video_bytes,
        "audio" => l.upload_audio_bytes,
        _ => l.upload_file_bytes,
    }
}

/// The JSON object of an upload.
pub fn upload_json(state: &AppState, f: &UploadFileRow) -> serde_json::Value {
    json!({
        "id": f.id, "name": f.name, "size": f.size, "extension": f.extension,
        "mime_type": f.mime_type, "created_by": f.created_by, "created_at": f.created_at,
        "preview_url": null, "source_url": signed_url(state, &f.id), "original_url": null,
        "user_id": null, "tenant_id": f.workspace_id, "conversation_id": null, "file_key": null,
    })
}

fn clean_name(name: &str) -> Result<String, ServiceError> {
    if name.is_empty() {
        return Err(ServiceError::FilenameNotExists);
    }
    if name.contains(FORBIDDEN_NAME_CHARS) {
        return Err(ServiceError::invalid(
            "Filename contains invalid characters",
        ));
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (name, None),
    };
    if stem.chars().count() <= MAX_STEM_CHARS {
        return Ok(name.to_owned());
    }
    let stem: String = stem.chars().take(MAX_STEM_CHARS).collect();
    Ok(match ext {
        Some(e) => format!("{stem}.{e}"),
        None => stem,
    })
}

async fn upload_file(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let row = receive(&state, &app, req, None).await?;
    Ok(body::json(StatusCode::CREATED, &upload_json(&state, &row)))
}

/// A file part received into a spool file under the data directory, not yet in the blob
/// store nor recorded in the store; dropping it removes the spool file.
#[derive(Debug)]
pub struct StoredPart {
    /// Its id (and file name under `upload_files/`).
    pub id: String,
    /// The cleaned file name.
    pub name: String,
    /// MIME type as sent.
    pub mime: String,
    /// Bytes.
    pub size: u64,
    /// The spool file.
    pub path: std::path::PathBuf,
}

impl Drop for StoredPart {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl StoredPart {
    /// Lower-case extension without dot.
    pub fn extension(&self) -> String {
        self.name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Moves the part into the blob store; returns its upload row (not yet recorded).
    pub async fn keep(
        self,
        state: &AppState,
        workspace_id: &str,
        app_id: Option<&str>,
        created_by: &str,
    ) -> Result<UploadFileRow, BoxError> {
        let row = UploadFileRow {
            extension: self.extension(),
            storage_key: format!("{UPLOADS}/{}", self.id),
            id: self.id.clone(),
            workspace_id: workspace_id.to_owned(),
            app_id: app_id.map(str::to_owned),
            name: self.name.clone(),
            size: self.size as i64,
            mime_type: self.mime.clone(),
            created_by: created_by.to_owned(),
            created_at: now(),
        };
        state
            .runtime()
            .blobs()
            .put_file(&row.storage_key, &self.path)
            .await?;
        Ok(row)
    }
}

/// The folder of uploads' storage keys.
pub const UPLOADS: &str = "upload_files";
/// The folder of the data directory where uploads are received before they are kept.
const SPOOL: &str = "spool";
/// A spool file this old was left by an instance that stopped mid-upload.
const SPOOL_ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes spool files that uploads left behind when their instance stopped (older than
/// an hour, so that another instance sharing the folder keeps its uploads in flight).
pub fn sweep_spool(data_dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir.join(SPOOL)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > SPOOL_ABANDONED)
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// A multipart body read: the one `file` part (stored), how many file parts came, and the
/// text fields.
pub struct Multipart {
    /// The stored `file` part.
    pub file: Option<StoredPart>,
    /// File parts seen.
    pub file_parts: usize,
    /// Text fields by name.
    pub fields: std::collections::HashMap<String, String>,
}

impl Multipart {
    /// The one file: `no_file_uploaded` / `too_many_files` otherwise (the stored part is
    /// removed on refusal).
    pub fn single_file(
        self,
    ) -> Result<(StoredPart, std::collections::HashMap<String, String>), BoxError> {
        let Some(file) = self.file else {
            return Err(ServiceError::NoFileUploaded.into());
        };
        if self.file_parts > 1 {
            return Err(ServiceError::TooManyFiles.into());
        }
        Ok((file, self.fields))
    }
}

/// Reads a multipart body, storing its `file` part under the data directory within the
/// upload limits; a failure leaves nothing behind.
pub async fn read_multipart(state: &AppState, req: Request<Body>) -> Result<Multipart, BoxError> {
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(ServiceError::NoFileUploaded)?;
    let stream = http_body_util::BodyStream::new(req.into_body())
        .filter_map(|f| async move { f.map(|f| f.into_data().ok()).transpose() });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Multipart {
        file: None,
        file_parts: 0,
        fields: std::collections::HashMap::new(),
    };
    let dir = state.settings().data_dir.join(SPOOL);
    tokio::fs::create_dir_all(&dir).await?;
    let result: Result<(), BoxError> = async {
        while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or("").to_owned();
            if field.file_name().is_none() {
                let text = field.text().await.map_err(multipart_error)?;
                out.fields.insert(name, text);
                continue;
            }
            out.file_parts += 1;
            if name != "file" || out.file.is_some() {
                // Drain it so the next field can be read.
                while field.chunk().await.map_err(multipart_error)?.is_some() {}
                continue;
            }
            let mime = field.content_type().map(|m| m.to_string());
            let filename = clean_name(field.file_name().unwrap_or(""))?;
            let mime = mime.ok_or(ServiceError::UnsupportedFileType)?;
            let id = new_id();
            let path = dir.join(&id);
            let mut file = tokio::fs::File::create(&path).await?;
            let part = StoredPart {
                id,
                name: filename,
                mime,
                size: 0,
                path,
            };
            let limit = limit_for(state, &part.extension());
            out.file = Some(part);
            let mut size: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ServiceError::FileTooLarge(format!(
                        "File size exceeded. {} > {} MB",
                        size,
                        limit / (1024 * 1024)
                    ))
                    .into());
                }
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            if let Some(p) = out.file.as_mut() {
                p.size = size;
            }
        }
        Ok(())
    }
    .await;
    // On failure the part (if any) drops here, and its spool file with it.
    result?;
    Ok(out)
}

/// Receives a multipart upload (one `file` part) for `app`, owned by `owner` or else by the
/// end user its `user` field names.
pub async fn receive(
    state: &AppState,
    app: &crate::runtime::LoadedApp,
    req: Request<Body>,
    owner: Option<crate::store::EndUserRow>,
) -> Result<UploadFileRow, BoxError> {
    let (part, fields) = read_multipart(state, req).await?.single_file()?;
    let user = match owner {
        Some(u) => u,
        None => end_user(state, app, fields.get("user").map(String::as_str)).await?,
    };
    let row = part
        .keep(state, &app.row.workspace_id, Some(&app.row.id), &user.id)
        .await?;
    state.store().insert_upload_file(&row).await?;
    Ok(row)
}

fn multipart_error(e: multer::Error) -> BoxError {
    match e {
        multer::Error::StreamReadFailed(inner) => inner,
        other => HttpError::bad_request(format!("invalid multipart body: {other}")).into(),
    }
}

/// Whether a browser would run this file's content (HTML, SVG, XML, scripts): such files are
/// only ever served as downloads.
fn is_active(f: &UploadFileRow) -> bool {
    let mime = f.mime_type.to_ascii_lowercase();
    ["html", "svg", "xml", "javascript", "ecmascript"]
        .iter()
        .any(|m| mime.contains(m))
        || matches!(
            f.extension.as_str(),
            "html"
                | "htm"
                | "xhtml"
                | "shtml"
                | "svg"
                | "svgz"
                | "xml"
                | "xsl"
                | "xslt"
                | "js"
                | "mjs"
        )
}

/// A single `Range: bytes=…` of a body of `len` bytes: `Some(Ok(start..end))`, `Some(Err)`
/// when it cannot be satisfied, `None` when absent or not a single byte range (the whole
/// body is served).
fn byte_range(header: Option<&HeaderValue>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.is_empty(), last.is_empty()) {
        (true, false) => {
            let n: u64 = last.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len)
        }
        (false, _) => {
            let start: u64 = first.parse().ok()?;
            let end = if last.is_empty() {
                len
            } else {
                last.parse::<u64>().ok()?.saturating_add(1).min(len)
            };
            if start >= len || start >= end {
                return Some(Err(()));
            }
            (start, end)
        }
        (true, true) => return None,
    };
    Some(Ok(range))
}

/// An upload as an HTTP answer: inline with its type, or as a download (asked for, or an
/// active type); `Range` requests are served.
async fn file_response(
    state: &AppState,
    f: &UploadFileRow,
    as_attachment: bool,
    range: Option<&HeaderValue>,
) -> HandlerResult {
    let bytes = state
        .runtime()
        .blobs()
        .read(&f.storage_key)
        .await?
        .ok_or_else(|| ServiceError::FileNotFound("The requested file was not found.".into()))?;
    let len = bytes.len() as u64;
    let (status, body, content_range) = match byte_range(range, len) {
        None => (StatusCode::OK, bytes, None),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            bytes.slice(start as usize..end as usize),
            Some(format!("bytes {start}-{}/{len}", end - 1)),
        ),
        Some(Err(())) => {
            let err = HttpError::status(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested range is not satisfiable.",
            );
            return Err(match HeaderValue::from_str(&format!("bytes */{len}")) {
                Ok(v) => err.with_header(header::CONTENT_RANGE, v),
                Err(_) => err,
            }
            .into());
        }
    };
    let mut res = http::Response::new(body::full(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    if as_attachment || is_active(f) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let encoded: String = form_urlencoded::byte_serialize(f.name.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
    } else if let Ok(v) = HeaderValue::from_str(&f.mime_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(v) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        headers.insert(header::CONTENT_RANGE, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(res)
}

async fn preview(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "file_id").to_lowercase();
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let as_attachment = query_param(&q, "as_attachment").is_some_and(|v| v == "true" || v == "1");
    let _user = end_user(&state, &app, query_param(&q, "user").as_deref()).await?;
    let referencing = state.store().upload_referencing_app(&id).await?;
    match referencing {
        None => Err(ServiceError::FileNotFound("File not found in message context".into()).into()),
        Some(other) if other != app.row.id => Err(ServiceError::FileAccessDenied.into()),
        Some(_) => {
            let f = state
                .store()
                .upload_file(&app.row.workspace_id, &id)
                .await?
                .ok_or_else(|| {
                    ServiceError::FileNotFound("The requested file was not found.".into())
                })?;
            file_response(&state, &f, as_attachment, req.headers().get(header::RANGE)).await
        }
    }
}

async fn signed_preview(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "file_id").to_lowercase();
    let q = query_pairs(&req);
    let (Some(ts), Some(nonce), Some(sign)) = (
        query_param(&q, "timestamp"),
        query_param(&q, "nonce"),
        query_param(&q, "sign"),
    ) else {
        return Err(HttpError::forbidden("Invalid request.").into());
    };
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| now() - t <= SIGNED_URL_TTL_S);
    let expected = signature(state.file_secret(), &id, &ts, &nonce);
    if !fresh || !crate::util::ct_eq(expected.as_bytes(), sign.as_bytes()) {
        return Err(HttpError::forbidden("Invalid request.").into());
    }
    let f = state
        .store()
        .upload_file_by_trusted_id(&id)
        .await?
        .ok_or_else(|| ServiceError::FileNotFound("The requested file was not found.".into()))?;
    let as_attachment = query_param(&q, "as_attachment").is_some_and(|v| v == "true");
    file_response(&state, &f, as_attachment, req.headers().get(header::RANGE)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(byte_range(None, 10), None);
        assert_eq!(byte_range(Some(&h("bytes=0-3")), 10), Some(Ok((0, 4))));
        assert_eq!(byte_range(Some(&h("bytes=4-")), 10), Some(Ok((4, 10))));
        assert_eq!(byte_range(Some(&h("bytes=-3")), 10), Some(Ok((7, 10))));
        assert_eq!(byte_range(Some(&h("bytes=5-100")), 10), Some(Ok((5, 10))));
        assert_eq!(byte_range(Some(&h("bytes=10-")), 10), Some(Err(())));
        assert_eq!(byte_range(Some(&h("bytes=0-1,3-4")), 10), None);
        assert_eq!(byte_range(Some(&h("items=0-1")), 10), None);
    }

    #[test]
    fn names() {
        assert!(matches!(
            clean_name(""),
            Err(ServiceError::FilenameNotExists)
        ));
        assert!(clean_name("a/b.txt").is_err());
        let long = format!("{}.pdf", "x".repeat(250));
        let cleaned = clean_name(&long).unwrap();
        assert_eq!(cleaned.len(), 204);
        assert!(cleaned.ends_with(".pdf"));
    }

    #[test]
    fn signatures_depend_on_every_part() {
        let a = signature(b"k", "f", "1", "n");
        assert_ne!(a, signature(b"k", "f", "2", "n"));
        assert_ne!(a, signature(b"j", "f", "1", "n"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn abandoned_spool_files_are_swept_and_fresh_ones_kept() {
        let dir = std::env::temp_dir().join(format!("weir-spool-{}", new_id()));
        std::fs::create_dir_all(dir.join(SPOOL)).unwrap();
        let old = std::fs::File::create(dir.join(SPOOL).join("old")).unwrap();
        old.set_modified(std::time::SystemTime::now() - 2 * SPOOL_ABANDONED)
            .unwrap();
        std::fs::write(dir.join(SPOOL).join("fresh"), b"uploading").unwrap();
        assert_eq!(sweep_spool(&dir), 1);
        assert!(dir.join(SPOOL).join("fresh").exists());
        assert_eq!(sweep_spool(&dir.join("absent")), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
