//! Uploads' bytes in the data directory, as `weir-core`'s [`BlobStore`].

use std::path::PathBuf;

use bytes::Bytes;
use weir_core::blob::BlobStore;
use weir_core::{BoxError, BoxFuture};

/// A folder of files named by storage key.
#[derive(Clone, Debug)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Blobs under `root` (the data directory).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobs { root: root.into() }
    }

    /// Where `key` lives (keys are paths relative to the root, made by weir).
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

fn absent<T>(e: std::io::Error) -> Result<Option<T>, BoxError> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(None)
    } else {
        Err(e.into())
    }
}

impl BlobStore for LocalBlobs {
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, BoxError>> {
        Box::pin(async move {
            match tokio::fs::read(self.path(key)).await {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) => absent(e),
            }
        })
    }

    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, BoxError>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.path(key)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) => absent(e),
            }
        })
    }
}
