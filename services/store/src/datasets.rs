//! Knowledge bases (datasets), their process rules, tags and metadata fields.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Filter;
use super::{flag, Result, Stmt, Store};
use weir_core::rows::{DatasetCounts, DatasetRow, RuleRow};
use weir_core::util::{new_id, now};

const DATASET_COLUMNS: &str = "id, workspace_id, name, description, provider, permission, \
    data_source_type, indexing_technique, embedding_model, embedding_model_provider, retrieval_model, \
    doc_form, enable_api, built_in_field_enabled, created_at, updated_at";

fn dataset_row(r: &AnyRow) -> sqlx::Result<DatasetRow> {
    Ok(DatasetRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        provider: r.try_get("provider")?,
        permission: r.try_get("permission")?,
        data_source_type: r.try_get("data_source_type")?,
        indexing_technique: r.try_get("indexing_technique")?,
        embedding_model: r.try_get("embedding_model")?,
        embedding_model_provider: r.try_get("embedding_model_provider")?,
        retrieval_model: r.try_get("retrieval_model")?,
        doc_form: r.try_get("doc_form")?,
        enable_api: flag(r.try_get("enable_api")?),
        built_in_field_enabled: flag(r.try_get("built_in_field_enabled")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A tag with its binding count.
#[derive(Clone, Debug)]
pub struct TagRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `knowledge`.
    pub kind: String,
    /// Datasets bound.
    pub bindings: i64,
}

/// A custom metadata field.
#[derive(Clone, Debug)]
pub struct MetadataFieldRow {
    /// Id.
    pub id: String,
    /// Dataset.
    pub dataset_id: String,
    /// Name.
    pub name: String,
    /// `string`, `number`, `time`.
    pub kind: String,
}

impl Store {
    /// Whether a dataset of this name exists in the workspace (other than `except`).
    pub async fn dataset_name_taken(
        &self,
        workspace_id: &str,
        name: &str,
        except: Option<&str>,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM datasets WHERE workspace_id = $1 AND name = $2 AND id <> $3",
        )
        .bind(workspace_id)
        .bind(name)
        .bind(except.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The statement that stores a dataset (insert or full update).
    pub fn save_dataset_stmt(d: &DatasetRow) -> Stmt {
        Stmt::new(
            "INSERT INTO datasets (id, workspace_id, name, description, provider, permission, data_source_type, \
             indexing_technique, embedding_model, embedding_model_provider, retrieval_model, doc_form, enable_api, \
             built_in_field_enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (id) DO UPDATE SET name = $3, description = $4, permission = $6, data_source_type = $7, \
             indexing_technique = $8, embedding_model = $9, embedding_model_provider = $10, retrieval_model = $11, \
             doc_form = $12, enable_api = $13, built_in_field_enabled = $14, updated_at = $16",
            crate::vals![&d.id, &d.workspace_id, &d.name, &d.description, &d.provider, &d.permission,
                &d.data_source_type, &d.indexing_technique, &d.embedding_model, &d.embedding_model_provider,
                &d.retrieval_model, &d.doc_form, d.enable_api, d.built_in_field_enabled, d.created_at, d.updated_at],
        )
    }

    /// Stores a dataset (insert or full update).
    pub async fn save_dataset(&self, d: &DatasetRow) -> Result<()> {
        self.apply(vec![Self::save_dataset_stmt(d)]).await?;
        Ok(())
    }

    /// A dataset of a workspace.
    pub async fn dataset(&self, workspace_id: &str, id: &str) -> Result<Option<DatasetRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets WHERE id = $1 AND workspace_id = $2"
        ))
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(dataset_row).transpose()?)
    }

    /// A page of a workspace's datasets, newest first, by name substring and tags (any).
    pub async fn datasets_page(
        &self,
        workspace_id: &str,
        keyword: Option<&str>,
        tag_ids: &[String],
        page: i64,
        limit: i64,
    ) -> Result<(Vec<DatasetRow>, i64)> {
        let filter = Filter::new("workspace_id = $1", crate::vals![workspace_id])
            .contains("name", keyword)
            .any_of(
                "id IN (SELECT target_id FROM dataset_tag_bindings WHERE tag_id IN ({}))",
                tag_ids,
            );
        let (rows, total) = self
            .page_rows(
                DATASET_COLUMNS,
                "datasets",
                filter,
                "created_at DESC, id DESC",
                (page, limit),
            )
            .await?;
        Ok((
            rows.iter().map(dataset_row).collect::<sqlx::Result<_>>()?,
            total,
        ))
    }

    /// Deletes a dataset with everything in it.
    pub async fn delete_dataset(&self, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "DELETE FROM datasets WHERE id = $1",
                crate::vals![id],
            )])
            .await?;
        Ok(done[0] > 0)
    }

    /// Document counters of a dataset.
    pub async fn dataset_counts(&self, id: &str) -> Result<DatasetCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS documents, \
             CAST(COALESCE(SUM(CASE WHEN indexing_status = 'completed' AND enabled = 1 AND archived = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS available, \
             CAST(COALESCE(SUM(word_count), 0) AS BIGINT) AS words FROM documents WHERE dataset_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(DatasetCounts {
            documents: row.try_get("documents")?,
            available: row.try_get("available")?,
            words: row.try_get("words")?,
        })
    }

    /// Apps of the workspace whose configuration names this dataset.
    pub async fn dataset_app_count(&self, workspace_id: &str, dataset_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE workspace_id = $1 AND dsl LIKE $2")
                .bind(workspace_id)
                .bind(format!("%{dataset_id}%"))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Stores a process rule; returns its id.
    pub async fn insert_rule(&self, dataset_id: &str, mode: &str, rules: &str) -> Result<String> {
        let id = new_id();
        self.apply(vec![Stmt::new(
            "INSERT INTO dataset_process_rules (id, dataset_id, mode, rules, created_at) VALUES ($1, $2, $3, $4, $5)",
            crate::vals![&id, dataset_id, mode, rules, now()],
        )])
        .await?;
        Ok(id)
    }

    /// A dataset's most recent process rule.
    pub async fn latest_rule(&self, dataset_id: &str) -> Result<Option<RuleRow>> {
        let row = sqlx::query(
            "SELECT id, dataset_id, mode, rules FROM dataset_process_rules WHERE dataset_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(dataset_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rule_row).transpose()?)
    }

    /// A process rule by id.
    pub async fn rule(&self, id: &str) -> Result<Option<RuleRow>> {
        let row = sqlx::query(
            "SELECT id, dataset_id, mode, rules FROM dataset_process_rules WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rule_row).transpose()?)
    }

    /// The workspace's tags of a type (any type when `None`), with binding counts.
    pub async fn tags_of(&self, workspace_id: &str, kind: Option<&str>) -> Result<Vec<TagRow>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.type, \
             (SELECT COUNT(*) FROM dataset_tag_bindings b WHERE b.tag_id = t.id) \
             + (SELECT COUNT(*) FROM app_tag_bindings a WHERE a.tag_id = t.id) AS bindings \
             FROM dataset_tags t WHERE t.workspace_id = $1 AND ($2 IS NULL OR t.type = $2) \
             ORDER BY t.created_at, t.id",
        )
        .bind(workspace_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tag_row).collect::<sqlx::Result<_>>()?)
    }

    /// The workspace's tags of a type, with binding counts.
    pub async fn tags(&self, workspace_id: &str, kind: &str) -> Result<Vec<TagRow>> {
        self.tags_of(workspace_id, Some(kind)).await
    }

    /// A knowledge tag of the workspace.
    pub async fn tag(&self, workspace_id: &str, id: &str) -> Result<Option<TagRow>> {
        Ok(self
            .tags(workspace_id, "knowledge")
            .await?
            .into_iter()
            .find(|t| t.id == id))
    }

    /// Creates a tag; returns its id.
    pub async fn insert_tag(&self, workspace_id: &str, name: &str, kind: &str) -> Result<String> {
        let id = new_id();
        self.apply(vec![Stmt::new(
            "INSERT INTO dataset_tags (id, workspace_id, name, type, created_at) VALUES ($1, $2, $3, $4, $5)",
            crate::vals![&id, workspace_id, name, kind, now()],
        )])
        .await?;
        Ok(id)
    }

    /// Renames a tag.
    pub async fn rename_tag(&self, id: &str, name: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE dataset_tags SET name = $1 WHERE id = $2",
            crate::vals![name, id],
        )])
        .await?;
        Ok(())
    }

    /// Deletes a tag and its bindings.
    pub async fn delete_tag(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM dataset_tags WHERE id = $1",
            crate::vals![id],
        )])
        .await?;
        Ok(())
    }

    /// Binds tags to a dataset (existing bindings kept).
    pub async fn bind_tags(&self, tag_ids: &[String], dataset_id: &str) -> Result<()> {
        let ts = now();
        let stmts = tag_ids
            .iter()
            .map(|t| {
                Stmt::new(
                    "INSERT INTO dataset_tag_bindings (tag_id, target_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (tag_id, target_id) DO NOTHING",
                    crate::vals![t, dataset_id, ts],
                )
            })
            .collect();
        self.apply(stmts).await?;
        Ok(())
    }

    /// Unbinds tags from a dataset.
    pub async fn unbind_tags(&self, tag_ids: &[String], dataset_id: &str) -> Result<()> {
        let stmts = tag_ids
            .iter()
            .map(|t| {
                Stmt::new(
                    "DELETE FROM dataset_tag_bindings WHERE tag_id = $1 AND target_id = $2",
                    crate::vals![t, dataset_id],
                )
            })
            .collect();
        self.apply(stmts).await?;
        Ok(())
    }

    /// The tags bound to a dataset.
    pub async fn dataset_tags(&self, dataset_id: &str) -> Result<Vec<TagRow>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.type, CAST(0 AS BIGINT) AS bindings FROM dataset_tags t \
             JOIN dataset_tag_bindings b ON b.tag_id = t.id WHERE b.target_id = $1 ORDER BY t.created_at, t.id",
        )
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tag_row).collect::<sqlx::Result<_>>()?)
    }

    /// A dataset's custom metadata fields.
    pub async fn metadata_fields(&self, dataset_id: &str) -> Result<Vec<MetadataFieldRow>> {
        let rows = sqlx::query(
            "SELECT id, dataset_id, name, type FROM dataset_metadata WHERE dataset_id = $1 ORDER BY created_at, id",
        )
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(MetadataFieldRow {
                    id: r.try_get("id")?,
                    dataset_id: r.try_get("dataset_id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("type")?,
                })
            })
            .collect::<sqlx::Result<_>>()?)
    }

    /// Creates a metadata field; returns its id.
    pub async fn insert_metadata_field(
        &self,
        dataset_id: &str,
        name: &str,
        kind: &str,
    ) -> Result<String> {
        let id = new_id();
        self.apply(vec![Stmt::new(
            "INSERT INTO dataset_metadata (id, dataset_id, name, type, created_at) VALUES ($1, $2, $3, $4, $5)",
            crate::vals![&id, dataset_id, name, kind, now()],
        )])
        .await?;
        Ok(id)
    }

    /// Renames a metadata field.
    pub async fn rename_metadata_field(&self, id: &str, name: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE dataset_metadata SET name = $1 WHERE id = $2",
            crate::vals![name, id],
        )])
        .await?;
        Ok(())
    }

    /// Deletes a metadata field.
    pub async fn delete_metadata_field(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM dataset_metadata WHERE id = $1",
            crate::vals![id],
        )])
        .await?;
        Ok(())
    }
}

fn rule_row(r: &AnyRow) -> sqlx::Result<RuleRow> {
    Ok(RuleRow {
        id: r.try_get("id")?,
        dataset_id: r.try_get("dataset_id")?,
        mode: r.try_get("mode")?,
        rules: r.try_get("rules")?,
    })
}

fn tag_row(r: &AnyRow) -> sqlx::Result<TagRow> {
    Ok(TagRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("type")?,
        bindings: r.try_get("bindings")?,
    })
}
