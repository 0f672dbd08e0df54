//! Uploads' bytes in S3-compatible object storage (AWS S3, MinIO, Ceph, …), as
//! `weir-core`'s [`BlobStore`]: every instance reads what any instance stored, so a file URL
//! signed by one is served by all. Keys are the storage keys weir makes, under an optional
//! prefix in one bucket.
#![warn(missing_docs)]

pub mod moto;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use weir_core::blob::BlobStore;
use weir_core::{BoxError, BoxFuture};

/// Where the bucket is and how to reach it (`[storage.s3]`). Empty credentials fall back
/// to the `AWS_*` environment variables (and the instance's role on AWS).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// The bucket (it must exist).
    pub bucket: String,
    /// An S3-compatible endpoint (`http://minio:9000`); empty for AWS itself.
    pub endpoint: String,
    /// The region (empty: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Prepended to every key, as a folder (`weir` and `weir/` alike), so that
    /// deployments can share a bucket.
    pub prefix: String,
}

/// A bucket of blobs.
#[derive(Clone, Debug)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    prefix: String,
}

impl S3Blobs {
    /// The bucket `settings` names (no request is made until a blob is used).
    pub fn new(settings: &S3Settings) -> Result<S3Blobs, BoxError> {
        if settings.bucket.is_empty() {
            return Err("[storage.s3] bucket is required".into());
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&settings.bucket);
        if !settings.region.is_empty() {
            builder = builder.with_region(&settings.region);
        }
        if !settings.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.endpoint)
                .with_allow_http(settings.endpoint.starts_with("http://"));
        }
        if !settings.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&settings.access_key_id)
                .with_secret_access_key(&settings.secret_access_key);
        }
        let prefix = settings.prefix.trim_matches('/');
        Ok(S3Blobs {
            store: Arc::new(builder.build()?),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    /// Lists the bucket once, so that a missing bucket or wrong credentials stop a start
    /// rather than the first upload.
    pub async fn check(&self) -> Result<(), BoxError> {
        let prefix = ObjectPath::from(self.prefix.as_str());
        self.store
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(|e| format!("the bucket cannot be listed: {e}").into())
    }

    fn path(&self, key: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{key}", self.prefix))
    }
}

/// `Ok(None)` for a missing object, the error otherwise.
fn absent<T>(e: object_store::Error) -> Result<Option<T>, BoxError> {
    match e {
        object_store::Error::NotFound { .. } => Ok(None),
        other => Err(other.into()),
    }
}

impl BlobStore for S3Blobs {
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, BoxError>> {
        Box::pin(async move {
            match self.store.get(&self.path(key)).await {
                Ok(got) => Ok(Some(got.bytes().await?)),
                Err(e) => absent(e),
            }
        })
    }

    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, BoxError>> {
        Box::pin(async move {
            match self.store.head(&self.path(key)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(e) => absent(e),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.store
                .put(&self.path(key), PutPayload::from(bytes))
                .await?;
            Ok(())
        })
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        spool: &'a Path,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            // Uploads are bounded by the upload limits: one PUT each.
            let bytes = Bytes::from(tokio::fs::read(spool).await?);
            self.put(key, bytes).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            match self.store.delete(&self.path(key)).await {
                Ok(()) => Ok(()),
                Err(e) => absent::<()>(e).map(|_| ()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_required() {
        let err = S3Blobs::new(&S3Settings::default()).unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_bucket_fails_the_check() {
        let Some(moto) = moto::Moto::start("the S3 bucket check").await else {
            return;
        };
        let mut settings = moto.bucket("present").await;
        assert!(S3Blobs::new(&settings).unwrap().check().await.is_ok());
        settings.bucket = "absent".into();
        let err = S3Blobs::new(&settings).unwrap().check().await.unwrap_err();
        assert!(err.to_string().contains("cannot be listed"), "{err}");
    }

    #[tokio::test]
    async fn stores_reads_sizes_and_deletes_objects_in_a_bucket() {
        let Some(moto) = moto::Moto::start("the S3 blob store test").await else {
            return;
        };
        let settings = moto.bucket("unit").await;
        let blobs = S3Blobs::new(&S3Settings {
            prefix: "weir".into(),
            ..settings
        })
        .unwrap();
        assert_eq!(blobs.read("upload_files/x").await.unwrap(), None);
        assert_eq!(blobs.size("upload_files/x").await.unwrap(), None);
        blobs
            .put("upload_files/x", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(
            blobs.read("upload_files/x").await.unwrap().unwrap(),
            "hello"
        );
        assert_eq!(blobs.size("upload_files/x").await.unwrap(), Some(5));
        let spool = std::env::temp_dir().join(format!("weir-s3-{}", uuid::Uuid::new_v4()));
        std::fs::write(&spool, b"spooled").unwrap();
        blobs.put_file("upload_files/y", &spool).await.unwrap();
        let _ = std::fs::remove_file(&spool);
        assert_eq!(
            blobs.read("upload_files/y").await.unwrap().unwrap(),
            "spooled"
        );
        blobs.delete("upload_files/x").await.unwrap();
        blobs.delete("upload_files/x").await.unwrap();
        assert_eq!(blobs.read("upload_files/x").await.unwrap(), None);
        // The prefix is part of the object's key.
        let raw = S3Blobs::new(&moto.bucket("unit").await).unwrap();
        assert_eq!(
            raw.read("weir/upload_files/y").await.unwrap().unwrap(),
            "spooled"
        );
    }
}
