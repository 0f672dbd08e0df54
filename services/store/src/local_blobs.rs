//! Uploads' bytes in the data directory, as `weir-core`'s [`BlobStore`].

use std::path::{Path, PathBuf};

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

    /// `key`'s path, with its folder made.
    async fn prepared(&self, key: &str) -> Result<PathBuf, BoxError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        Ok(path)
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

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            tokio::fs::write(self.prepared(key).await?, &bytes).await?;
            Ok(())
        })
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        spool: &'a Path,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let path = self.prepared(key).await?;
            // The spool is in the data directory: a rename, unless it is another file system.
            if tokio::fs::rename(spool, &path).await.is_err() {
                tokio::fs::copy(spool, &path).await?;
            }
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)).await {
                Ok(()) => Ok(()),
                Err(e) => absent::<()>(e).map(|_| ()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_moves_reads_and_deletes() {
        let root = std::env::temp_dir().join(format!("weir-blobs-{}", uuid::Uuid::new_v4()));
        let blobs = LocalBlobs::new(&root);
        blobs
            .put("a/one", Bytes::from_static(b"one"))
            .await
            .unwrap();
        assert_eq!(blobs.read("a/one").await.unwrap().unwrap(), "one");
        let spool = root.join("spool-file");
        std::fs::write(&spool, b"two!").unwrap();
        blobs.put_file("b/two", &spool).await.unwrap();
        assert_eq!(blobs.size("b/two").await.unwrap(), Some(4));
        blobs.delete("b/two").await.unwrap();
        blobs.delete("b/two").await.unwrap();
        assert_eq!(blobs.read("b/two").await.unwrap(), None);
        let _ = std::fs::remove_dir_all(&root);
    }
}
