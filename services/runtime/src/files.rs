//! Files in requests (`files` and file inputs): mappings validated against the app's
//! `file_upload` settings and resolved to uploads or (guarded) remote URLs; images become
//! vision content parts.

use base64::Engine;
use serde_json::{Map, Value};

use std::sync::Arc;

use bytes::Bytes;
use weir_core::blob::BlobStore;
use weir_core::error::ServiceError;
use weir_core::files::{FileAccess, FileReadError};
pub use weir_core::files::{FileTable, ResolvedFile};
use weir_core::model::ContentPart;
use weir_core::BoxFuture;

use crate::net::{NetError, Outbound};
use crate::store::EndUserRow;
use crate::Runtime;

/// Image extensions.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "svg"];
/// Video extensions.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "mpeg", "webm"];
/// Audio extensions.
pub const AUDIO_EXTENSIONS: &[&str] = &["mp3", "m4a", "wav", "amr", "mpga"];
/// Document extensions.
pub const DOCUMENT_EXTENSIONS: &[&str] = &[
    "txt",
    "markdown",
    "md",
    "mdx",
    "pdf",
    "html",
    "htm",
    "xlsx",
    "xls",
    "docx",
    "csv",
    "vtt",
    "properties",
    "json",
    "yaml",
    "yml",
];

/// The file type (`image`, `video`, `audio`, `document`, `custom`) of an extension.
pub fn kind_of_extension(ext: &str) -> &'static str {
    let ext = ext.to_ascii_lowercase();
    let ext = ext.as_str();
    if IMAGE_EXTENSIONS.contains(&ext) {
        "image"
    } else if VIDEO_EXTENSIONS.contains(&ext) {
        "video"
    } else if AUDIO_EXTENSIONS.contains(&ext) {
        "audio"
    } else if DOCUMENT_EXTENSIONS.contains(&ext) {
        "document"
    } else {
        "custom"
    }
}

/// An app's `file_upload` settings (old `{image: …}` and new shapes).
#[derive(Clone, Debug, Default)]
pub struct FileUploadConfig {
    /// Files are accepted at all.
    pub enabled: bool,
    /// Types accepted (`image`, `document`, …; `custom` uses extensions).
    pub allowed_types: Vec<String>,
    /// Extensions accepted for `custom` (with dot).
    pub allowed_extensions: Vec<String>,
    /// Transfer methods accepted for non-images.
    pub allowed_methods: Vec<String>,
    /// Transfer methods accepted for images.
    pub image_methods: Vec<String>,
    /// Most files.
    pub number_limits: Option<u64>,
    /// Most images.
    pub image_limits: Option<u64>,
    /// Vision detail.
    pub detail: String,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl FileUploadConfig {
    /// Reads `file_upload` from a model config or workflow features.
    pub fn from_features(features: Option<&Map<String, Value>>) -> Self {
        let Some(fu) = features.and_then(|f| f.get("file_upload")) else {
            return Self::default();
        };
        let image = fu.get("image");
        let image_enabled = image
            .and_then(|i| i.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let enabled = fu.get("enabled").and_then(Value::as_bool).unwrap_or(false) || image_enabled;
        let mut allowed_types = strings(fu.get("allowed_file_types"));
        if image_enabled && !allowed_types.iter().any(|t| t == "image") {
            allowed_types.push("image".into());
        }
        FileUploadConfig {
            enabled,
            allowed_types,
            allowed_extensions: strings(fu.get("allowed_file_extensions")),
            allowed_methods: strings(fu.get("allowed_file_upload_methods")),
            image_methods: strings(image.and_then(|i| i.get("transfer_methods"))),
            number_limits: fu.get("number_limits").and_then(Value::as_u64),
            image_limits: image
                .and_then(|i| i.get("number_limits"))
                .and_then(Value::as_u64),
            detail: image
                .and_then(|i| i.get("detail"))
                .and_then(Value::as_str)
                .unwrap_or("high")
                .to_owned(),
        }
    }
}

fn extension_of(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::invalid(msg.into())
}

/// Resolves file mappings for `end_user`. `strict` (file inputs) refuses malformed
/// mappings; otherwise (the top-level `files` of a chat) they are skipped, as Dify does.
pub async fn resolve(
    state: &Runtime,
    cfg: &FileUploadConfig,
    mappings: &[Value],
    end_user: &EndUserRow,
    strict: bool,
) -> Result<Vec<ResolvedFile>, ServiceError> {
    let mut out = Vec::new();
    for m in mappings {
        let Some(m) = m.as_object() else {
            if strict {
                return Err(invalid("transfer_method is required in file mapping"));
            }
            continue;
        };
        let method = match m.get("transfer_method").and_then(Value::as_str) {
            Some(t @ ("local_file" | "remote_url")) => t.to_owned(),
            Some(other) => return Err(invalid(format!("Invalid transfer method: {other}"))),
            None if strict => return Err(invalid("transfer_method is required in file mapping")),
            None => continue,
        };
        let declared = m
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("custom")
            .to_owned();
        let file = if method == "local_file" {
            let id = m
                .get("upload_file_id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("Invalid upload file id"))?;
            let id = crate::util::canonical_uuid(id)
                .ok_or_else(|| invalid("Invalid upload file id format"))?;
            let upload = state
                .store()
                .upload_file(&end_user.workspace_id, &id)
                .await
                .map_err(|_| invalid("Invalid upload file"))?
                .filter(|u| u.created_by == end_user.id)
                .ok_or_else(|| invalid("Invalid upload file"))?;
            ResolvedFile {
                kind: if declared == "custom" {
                    kind_of_extension(&upload.extension).to_owned()
                } else {
                    declared.clone()
                },
                transfer_method: method,
                name: upload.name.clone(),
                extension: upload.extension.clone(),
                mime_type: upload.mime_type.clone(),
                size: upload.size,
                url: None,
                upload: Some(upload),
            }
        } else {
            let url = m
                .get("url")
                .or_else(|| m.get("remote_url"))
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty());
            let Some(url) = url else {
                if strict {
                    return Err(invalid("url is required in file mapping"));
                }
                continue;
            };
            let parsed = state
                .outbound()
                .policy()
                .check_url(url)
                .map_err(|e| invalid(e.to_string()))?;
            let name = parsed
                .path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "file".into());
            let (mime, size) = probe(state, url).await?;
            let extension = extension_of(&name);
            ResolvedFile {
                kind: if declared == "custom" {
                    kind_of_extension(&extension).to_owned()
                } else {
                    declared.clone()
                },
                transfer_method: method,
                upload: None,
                url: Some(url.to_owned()),
                name,
                extension,
                mime_type: mime,
                size,
            }
        };
        check_allowed(cfg, &file, &declared)?;
        out.push(file);
    }
    if let Some(limit) = cfg.image_limits.filter(|l| *l > 0) {
        if out.iter().filter(|f| f.kind == "image").count() as u64 > limit {
            return Err(invalid(format!(
                "Number of image files exceeds the maximum limit {limit}"
            )));
        }
    }
    if let Some(limit) = cfg.number_limits.filter(|l| *l > 0) {
        if out.len() as u64 > limit {
            return Err(invalid(format!(
                "Number of files exceeds the maximum limit {limit}"
            )));
        }
    }
    Ok(out)
}

fn check_allowed(
    cfg: &FileUploadConfig,
    f: &ResolvedFile,
    declared: &str,
) -> Result<(), ServiceError> {
    let failed = || invalid(format!("File validation failed for file: {}", f.name));
    if declared != "custom"
        && !cfg.allowed_types.is_empty()
        && !cfg.allowed_types.iter().any(|t| t == &f.kind)
    {
        return Err(failed());
    }
    if declared == "custom" && !cfg.allowed_extensions.is_empty() {
        let dotted = format!(".{}", f.extension);
        if !cfg
            .allowed_extensions
            .iter()
            .any(|e| e.eq_ignore_ascii_case(&dotted))
        {
            return Err(failed());
        }
    }
    let methods = if f.kind == "image" && !cfg.image_methods.is_empty() {
        &cfg.image_methods
    } else {
        &cfg.allowed_methods
    };
    if !methods.is_empty() && !methods.contains(&f.transfer_method) {
        return Err(failed());
    }
    Ok(())
}

/// Probes a remote file (HEAD, through the guarded client) for its type and size.
async fn probe(state: &Runtime, url: &str) -> Result<(String, i64), ServiceError> {
    let request = state
        .outbound()
        .request(reqwest::Method::HEAD, url)
        .map_err(|e| invalid(e.to_string()))?
        .timeout(std::time::Duration::from_secs(10));
    match request.send().await.map_err(crate::net::transfer) {
        Ok(res) => {
            let mime = res
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
                .unwrap_or_else(|| "application/octet-stream".into());
            let size = res.content_length().map_or(-1, |l| l as i64);
            Ok((mime, size))
        }
        Err(e @ (crate::net::NetError::Blocked(_) | crate::net::NetError::Unresolved(_))) => {
            Err(invalid(e.to_string()))
        }
        // Unreachable files are still passed on by URL, as Dify does.
        Err(_) => Ok(("application/octet-stream".into(), -1)),
    }
}

/// Reads the files of runs (`weir-core`'s [`FileAccess`]): uploads from the blob store,
/// remote files through the guarded client, text through the knowledge crate's extraction.
pub struct FileService {
    blobs: Arc<dyn BlobStore>,
    outbound: Outbound,
    /// Largest file read for extraction.
    max_bytes: u64,
}

/// Longest wait for a remote file's bytes.
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl FileService {
    /// Files from `blobs` and, for remote ones, `outbound`; documents up to `max_bytes`.
    pub fn new(blobs: Arc<dyn BlobStore>, outbound: Outbound, max_bytes: u64) -> Self {
        FileService {
            blobs,
            outbound,
            max_bytes,
        }
    }

    async fn read(&self, file: &ResolvedFile, cap: u64) -> Result<Bytes, FileReadError> {
        if let Some(upload) = &file.upload {
            match self.blobs.size(&upload.storage_key).await {
                Ok(Some(n)) if n > cap => return Err(FileReadError::TooLarge(cap)),
                Ok(Some(_)) => {}
                _ => return Err(FileReadError::Missing),
            }
            return match self.blobs.read(&upload.storage_key).await {
                Ok(Some(b)) => Ok(b),
                _ => Err(FileReadError::Missing),
            };
        }
        let url = file.url.as_deref().ok_or(FileReadError::Missing)?;
        match self.outbound.fetch(url, cap, REMOTE_TIMEOUT).await {
            Ok(b) => Ok(b),
            Err(NetError::TooLarge(n)) => Err(FileReadError::TooLarge(n)),
            Err(e) => Err(FileReadError::Remote(e.to_string())),
        }
    }
}

impl FileAccess for FileService {
    fn bytes<'a>(
        &'a self,
        file: &'a ResolvedFile,
        cap: u64,
    ) -> BoxFuture<'a, Result<Bytes, FileReadError>> {
        Box::pin(self.read(file, cap))
    }

    fn text<'a>(&'a self, file: &'a ResolvedFile) -> BoxFuture<'a, Result<String, FileReadError>> {
        Box::pin(async move {
            let bytes = self.read(file, self.max_bytes).await?;
            let (ext, mime) = (file.extension.clone(), file.mime_type.clone());
            crate::knowledge::extract::extract_off_thread(bytes, ext, mime)
                .await
                .map_err(|e| FileReadError::Extract(e.to_string()))
        })
    }

    fn image_parts<'a>(
        &'a self,
        files: &'a [ResolvedFile],
        detail: &'a str,
    ) -> BoxFuture<'a, Vec<ContentPart>> {
        Box::pin(async move {
            let mut parts = Vec::new();
            for f in files.iter().filter(|f| f.kind == "image") {
                let url = match (&f.upload, &f.url) {
                    (Some(upload), _) => match self.read(f, self.max_bytes).await {
                        Ok(bytes) => format!(
                            "data:{};base64,{}",
                            upload.mime_type,
                            base64::engine::general_purpose::STANDARD.encode(bytes)
                        ),
                        Err(e) => {
                            tracing::warn!(file = %upload.id, error = %e, "upload unreadable");
                            continue;
                        }
                    },
                    (None, Some(url)) => url.clone(),
                    _ => continue,
                };
                parts.push(ContentPart::ImageUrl {
                    image_url: serde_json::json!({"url": url, "detail": detail}),
                });
            }
            parts
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of_extension("PNG"), "image");
        assert_eq!(kind_of_extension("pdf"), "document");
        assert_eq!(kind_of_extension("mp3"), "audio");
        assert_eq!(kind_of_extension("exe"), "custom");
    }

    #[test]
    fn both_config_shapes() {
        let old = serde_json::json!({"file_upload": {"image": {"enabled": true, "number_limits": 3, "detail": "low", "transfer_methods": ["local_file"]}}});
        let c = FileUploadConfig::from_features(old.as_object());
        assert!(
            c.enabled
                && c.allowed_types == vec!["image"]
                && c.image_limits == Some(3)
                && c.detail == "low"
        );
        let new = serde_json::json!({"file_upload": {"enabled": true, "allowed_file_types": ["document"], "allowed_file_upload_methods": ["remote_url"], "number_limits": 2}});
        let c = FileUploadConfig::from_features(new.as_object());
        assert!(c.enabled && c.allowed_types == vec!["document"] && c.number_limits == Some(2));
        assert!(!FileUploadConfig::from_features(None).enabled);
    }
}
