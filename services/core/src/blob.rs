//! Where uploaded files' bytes live: a [`BlobStore`] keyed by storage key — the data
//! directory by default, S3-compatible object storage when instances share it.

use std::path::Path;

use bytes::Bytes;

use crate::{BoxError, BoxFuture};

/// Bytes by storage key.
pub trait BlobStore: Send + Sync {
    /// The bytes at `key`; `Ok(None)` when there are none.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, BoxError>>;
    /// The size of what is at `key`, if anything is.
    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, BoxError>>;
    /// Stores `bytes` at `key`, replacing what was there.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Stores the file at `spool` (a finished upload in the data directory) at `key`; the
    /// spool file may be moved or left for the caller to remove.
    fn put_file<'a>(&'a self, key: &'a str, spool: &'a Path)
        -> BoxFuture<'a, Result<(), BoxError>>;
    /// Removes what is at `key` (nothing there is not an error).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BoxError>>;
}
