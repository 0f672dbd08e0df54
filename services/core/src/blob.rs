//! Where uploaded files' bytes live: a [`BlobStore`] keyed by storage key (the local data
//! directory by default; object storage later).

use bytes::Bytes;

use crate::{BoxError, BoxFuture};

/// Bytes by storage key.
pub trait BlobStore: Send + Sync {
    /// The bytes at `key`; `Ok(None)` when there are none.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, BoxError>>;
    /// The size of what is at `key`, if anything is.
    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, BoxError>>;
}
