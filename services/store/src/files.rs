//! Uploaded files.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Stmt, Store};
use weir_core::rows::UploadFileRow;

fn row(r: &AnyRow) -> sqlx::Result<UploadFileRow> {
    Ok(UploadFileRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        app_id: r.try_get("app_id")?,
        name: r.try_get("name")?,
        size: r.try_get("size")?,
        extension: r.try_get("extension")?,
        mime_type: r.try_get("mime_type")?,
        storage_key: r.try_get("storage_key")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Records an upload.
    pub async fn insert_upload_file(&self, f: &UploadFileRow) -> Result<()> {
        self.apply(vec![Self::insert_upload_file_stmt(f)]).await?;
        Ok(())
    }

    /// The statement that records an upload.
    pub fn insert_upload_file_stmt(f: &UploadFileRow) -> Stmt {
        Stmt::new(
            "INSERT INTO upload_files (id, workspace_id, app_id, name, size, extension, mime_type, \
             storage_key, created_by, created_by_role, used, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'end_user', 0, $10)",
            crate::vals![&f.id, &f.workspace_id, &f.app_id, &f.name, f.size, &f.extension, &f.mime_type, &f.storage_key, &f.created_by, f.created_at],
        )
    }

    /// An upload of this workspace, by id: ids that come from requests are looked up here.
    pub async fn upload_file(&self, workspace_id: &str, id: &str) -> Result<Option<UploadFileRow>> {
        Ok(self
            .upload_file_by_trusted_id(id)
            .await?
            .filter(|f| f.workspace_id == workspace_id))
    }

    /// An upload by an id weir itself recorded or signed (message files, signed URLs).
    pub async fn upload_file_by_trusted_id(&self, id: &str) -> Result<Option<UploadFileRow>> {
        let r = sqlx::query(
            "SELECT id, workspace_id, app_id, name, size, extension, mime_type, storage_key, created_by, \
             created_at FROM upload_files WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// Marks an upload as used by a message.
    pub async fn mark_upload_used(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE upload_files SET used = 1 WHERE id = $1",
            crate::vals![id],
        )])
        .await?;
        Ok(())
    }
}
