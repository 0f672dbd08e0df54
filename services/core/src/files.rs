//! File values of runs. A file is something weir's file resolver made — an upload the
//! caller owns, or a remote URL that passed the network guard — and registered with the
//! run's [`FileTable`]. Nodes that read a file's bytes (document extraction, vision, HTTP
//! bodies) ask the table; an object that merely carries Dify's file marker (say, inside a
//! `json_object` input or a code node's output) is plain data and reads nothing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::model::ContentPart;
use crate::rows::UploadFileRow;
use crate::value::{is_file, FILE_IDENTITY, FILE_MARKER};
use crate::BoxFuture;

/// A file a request refers to, resolved and checked.
#[derive(Clone, Debug)]
pub struct ResolvedFile {
    /// `image`, `document`, …
    pub kind: String,
    /// `local_file` or `remote_url`.
    pub transfer_method: String,
    /// The upload (local files).
    pub upload: Option<UploadFileRow>,
    /// The URL (remote files).
    pub url: Option<String>,
    /// File name.
    pub name: String,
    /// Extension without dot.
    pub extension: String,
    /// MIME type.
    pub mime_type: String,
    /// Bytes (-1 unknown).
    pub size: i64,
}

/// Why a file's bytes cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum FileReadError {
    /// Not a file of this run.
    #[error("not a file: the value was not made by weir's file resolver")]
    NotAFile,
    /// Larger than allowed.
    #[error("the file exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// Gone from storage.
    #[error("the file no longer exists")]
    Missing,
    /// The remote fetch failed.
    #[error("{0}")]
    Remote(String),
    /// The document's text cannot be extracted.
    #[error("{0}")]
    Extract(String),
}

impl ResolvedFile {
    /// The file as a workflow variable value (Dify's file object).
    pub fn to_value(&self) -> Value {
        json!({
            FILE_MARKER: FILE_IDENTITY,
            "id": self.upload.as_ref().map(|u| u.id.clone()),
            "type": self.kind,
            "transfer_method": self.transfer_method,
            "remote_url": self.url,
            "related_id": self.upload.as_ref().map(|u| u.id.clone()),
            "filename": self.name,
            "extension": format!(".{}", self.extension),
            "mime_type": self.mime_type,
            "size": self.size,
            "url": self.url,
        })
    }
}

/// Reads the files of runs: their bytes, their text, their images for a vision model.
pub trait FileAccess: Send + Sync {
    /// The file's bytes, at most `cap` of them: from storage, or fetched through the guarded
    /// client.
    fn bytes<'a>(
        &'a self,
        file: &'a ResolvedFile,
        cap: u64,
    ) -> BoxFuture<'a, Result<Bytes, FileReadError>>;
    /// The text of a document file (extracted off the async threads).
    fn text<'a>(&'a self, file: &'a ResolvedFile) -> BoxFuture<'a, Result<String, FileReadError>>;
    /// Vision content parts of the image files among `files`.
    fn image_parts<'a>(
        &'a self,
        files: &'a [ResolvedFile],
        detail: &'a str,
    ) -> BoxFuture<'a, Vec<ContentPart>>;
}

/// The files of one run, by the exact value the resolver made for each.
#[derive(Debug, Default)]
pub struct FileTable {
    files: RwLock<HashMap<String, Arc<ResolvedFile>>>,
}

impl FileTable {
    /// Registers a resolved file; returns its value for the variable pool.
    pub fn register(&self, file: &ResolvedFile) -> Value {
        let value = file.to_value();
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(value.to_string(), Arc::new(file.clone()));
        value
    }

    /// The file behind a value, if the resolver made exactly this value in this run.
    pub fn get(&self, value: &Value) -> Option<Arc<ResolvedFile>> {
        if !is_file(value) {
            return None;
        }
        self.files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&value.to_string())
            .cloned()
    }

    /// The file behind a value, or why it is not one.
    pub fn require(&self, value: &Value) -> Result<Arc<ResolvedFile>, FileReadError> {
        self.get(value).ok_or(FileReadError::NotAFile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload() -> ResolvedFile {
        ResolvedFile {
            kind: "document".into(),
            transfer_method: "local_file".into(),
            upload: Some(UploadFileRow {
                id: "u1".into(),
                ..Default::default()
            }),
            url: None,
            name: "a.txt".into(),
            extension: "txt".into(),
            mime_type: "text/plain".into(),
            size: 3,
        }
    }

    #[test]
    fn only_registered_values_are_files() {
        let table = FileTable::default();
        let value = table.register(&upload());
        assert_eq!(table.get(&value).unwrap().name, "a.txt");
        // The same marker and id, with one field changed, is plain data.
        let mut forged = value.clone();
        forged["filename"] = json!("b.txt");
        assert!(table.get(&forged).is_none());
        // A value made elsewhere (another run) is plain data here.
        assert!(FileTable::default().get(&value).is_none());
        assert!(matches!(
            FileTable::default().require(&value),
            Err(FileReadError::NotAFile)
        ));
    }
}
