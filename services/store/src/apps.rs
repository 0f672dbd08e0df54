//! Apps and their published workflow versions.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Filter;
use super::{flag, Result, Stmt, Store};
use weir_core::util::{new_id, now};

/// An app to insert (from a DSL import).
#[derive(Clone, Debug)]
pub struct NewApp {
    /// Owning workspace.
    pub workspace_id: String,
    /// Display name.
    pub name: String,
    /// `chat`, `completion`, `agent-chat`, `advanced-chat` or `workflow`.
    pub mode: String,
    /// Description.
    pub description: String,
    /// Icon (emoji or URL).
    pub icon: String,
    /// `emoji`, `image` or `link`.
    pub icon_type: String,
    /// Icon background colour.
    pub icon_background: String,
    /// Whether answers show the app icon.
    pub use_icon_as_answer_icon: bool,
    /// DSL version of the imported file.
    pub dsl_version: String,
    /// The DSL document, as JSON text.
    pub dsl: String,
    /// The workflow, for workflow and advanced-chat apps.
    pub workflow: Option<NewWorkflow>,
    /// The console account that made it (none for the CLI and `/openapi/v1`).
    pub created_by: Option<String>,
}

/// Which apps a listing shows (every condition optional).
#[derive(Clone, Copy, Debug, Default)]
pub struct AppFilter<'a> {
    /// Of this mode.
    pub mode: Option<&'a str>,
    /// With this text in the name (case-insensitive).
    pub name: Option<&'a str>,
    /// Bound to any of these tags (when there are some).
    pub tag_ids: &'a [String],
    /// Made by this account.
    pub created_by: Option<&'a str>,
}

/// A published workflow version to insert.
#[derive(Clone, Debug)]
pub struct NewWorkflow {
    /// `graph` as JSON text.
    pub graph: String,
    /// `features` as JSON text.
    pub features: String,
    /// `environment_variables` as JSON text.
    pub environment_variables: String,
    /// `conversation_variables` as JSON text.
    pub conversation_variables: String,
}

/// An app as stored.
#[derive(Clone, Debug)]
pub struct AppRow {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Name.
    pub name: String,
    /// Mode.
    pub mode: String,
    /// Description.
    pub description: String,
    /// Icon.
    pub icon: String,
    /// Icon type.
    pub icon_type: String,
    /// Icon background.
    pub icon_background: String,
    /// Whether answers show the app icon.
    pub use_icon_as_answer_icon: bool,
    /// Service API switched on.
    pub enable_api: bool,
    /// `normal` unless disabled.
    pub status: String,
    /// DSL version of the import.
    pub dsl_version: String,
    /// The DSL document (JSON text).
    pub dsl: String,
    /// Current published workflow.
    pub workflow_id: Option<String>,
    /// Web app switched on.
    pub enable_site: bool,
    /// Concurrent generations allowed (0 = the server's limit).
    pub max_active_requests: i64,
    /// The console account that made it.
    pub created_by: Option<String>,
    /// The console account that changed it last.
    pub updated_by: Option<String>,
    /// Tracing settings (JSON text), as the console stored them.
    pub tracing: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Updated, Unix seconds.
    pub updated_at: i64,
}

/// A published workflow version.
#[derive(Clone, Debug)]
pub struct WorkflowRow {
    /// Id (`sys.workflow_id`).
    pub id: String,
    /// App.
    pub app_id: String,
    /// Version label.
    pub version: String,
    /// Graph (JSON text).
    pub graph: String,
    /// Features (JSON text).
    pub features: String,
    /// Environment variables (JSON text).
    pub environment_variables: String,
    /// Conversation variables (JSON text).
    pub conversation_variables: String,
    /// Created, Unix seconds.
    pub created_at: i64,
}

const APP_COLUMNS: &str = "id, workspace_id, name, mode, description, icon, icon_type, \
    icon_background, use_icon_as_answer_icon, enable_api, status, dsl_version, dsl, workflow_id, \
    enable_site, max_active_requests, created_by, updated_by, tracing, created_at, updated_at";

fn app_row(r: &AnyRow) -> sqlx::Result<AppRow> {
    Ok(AppRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        mode: r.try_get("mode")?,
        description: r.try_get("description")?,
        icon: r.try_get("icon")?,
        icon_type: r.try_get("icon_type")?,
        icon_background: r.try_get("icon_background")?,
        use_icon_as_answer_icon: flag(r.try_get("use_icon_as_answer_icon")?),
        enable_api: flag(r.try_get("enable_api")?),
        status: r.try_get("status")?,
        dsl_version: r.try_get("dsl_version")?,
        dsl: r.try_get("dsl")?,
        workflow_id: r.try_get("workflow_id")?,
        enable_site: flag(r.try_get("enable_site")?),
        max_active_requests: r.try_get("max_active_requests")?,
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        tracing: r.try_get("tracing")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn workflow_row(r: &AnyRow) -> sqlx::Result<WorkflowRow> {
    Ok(WorkflowRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        version: r.try_get("version")?,
        graph: r.try_get("graph")?,
        features: r.try_get("features")?,
        environment_variables: r.try_get("environment_variables")?,
        conversation_variables: r.try_get("conversation_variables")?,
        created_at: r.try_get("created_at")?,
    })
}

/// The statements that publish a workflow version of an app and make it current.
fn publish(app_id: &str, wf: &NewWorkflow, ts: i64) -> [Stmt; 2] {
    let workflow_id = new_id();
    [
        Stmt::new(
            "INSERT INTO workflows (id, app_id, version, graph, features, \
             environment_variables, conversation_variables, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            crate::vals![
                &workflow_id,
                app_id,
                weir_core::util::iso(ts).replace(['-', ':', 'T'], ""),
                &wf.graph,
                &wf.features,
                &wf.environment_variables,
                &wf.conversation_variables,
                ts
            ],
        ),
        Stmt::new(
            "UPDATE apps SET workflow_id = $1 WHERE id = $2",
            crate::vals![&workflow_id, app_id],
        ),
    ]
}

impl Store {
    /// Inserts an app (and its workflow) atomically; returns its id.
    pub async fn insert_app(&self, app: &NewApp) -> Result<String> {
        let id = new_id();
        let ts = now();
        let mut stmts = vec![Stmt::new(
            "INSERT INTO apps (id, workspace_id, name, mode, description, icon, icon_type, \
             icon_background, use_icon_as_answer_icon, enable_api, status, dsl_version, dsl, \
             workflow_id, created_by, updated_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, 'normal', $10, $11, NULL, $13, $13, $12, $12)",
            crate::vals![
                &id,
                &app.workspace_id,
                &app.name,
                &app.mode,
                &app.description,
                &app.icon,
                &app.icon_type,
                &app.icon_background,
                app.use_icon_as_answer_icon,
                &app.dsl_version,
                &app.dsl,
                ts,
                &app.created_by
            ],
        )];
        stmts.push(Store::insert_site_stmt(&id, app, ts));
        if let Some(wf) = &app.workflow {
            stmts.extend(publish(&id, wf, ts));
        }
        self.apply(stmts).await?;
        Ok(id)
    }

    /// Replaces an app's DSL and publishes its new workflow version (overwrite import).
    pub async fn replace_app(&self, id: &str, app: &NewApp) -> Result<()> {
        let ts = now();
        let mut stmts = vec![Stmt::new(
            "UPDATE apps SET name = $1, description = $2, icon = $3, icon_type = $4, icon_background = $5, \
             dsl_version = $6, dsl = $7, updated_at = $8 WHERE id = $9",
            crate::vals![&app.name, &app.description, &app.icon, &app.icon_type, &app.icon_background,
                &app.dsl_version, &app.dsl, ts, id],
        )];
        if let Some(wf) = &app.workflow {
            stmts.extend(publish(id, wf, ts));
        }
        self.apply(stmts).await?;
        Ok(())
    }

    /// The app with this id.
    pub async fn app(&self, id: &str) -> Result<Option<AppRow>> {
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(app_row).transpose()?)
    }

    /// Apps of a workspace, oldest first.
    pub async fn apps(&self, workspace_id: &str) -> Result<Vec<AppRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE workspace_id = $1 ORDER BY created_at, id"
        ))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(app_row).collect::<sqlx::Result<_>>()?)
    }

    /// A page of a workspace's `normal` apps that pass `f`, newest first. Returns the rows
    /// and the total.
    pub async fn app_page(
        &self,
        workspace_id: &str,
        f: &AppFilter<'_>,
        page: i64,
        limit: i64,
    ) -> Result<(Vec<AppRow>, i64)> {
        let one = |v: Option<&str>| v.map(|v| vec![v.to_owned()]).unwrap_or_default();
        let filter = Filter::new(
            "workspace_id = $1 AND status = 'normal'",
            crate::vals![workspace_id],
        )
        .any_of("mode IN ({})", &one(f.mode))
        .contains("name", f.name)
        .any_of(
            "id IN (SELECT app_id FROM app_tag_bindings WHERE tag_id IN ({}))",
            f.tag_ids,
        )
        .any_of("created_by IN ({})", &one(f.created_by));
        let (rows, total) = self
            .page_rows(
                APP_COLUMNS,
                "apps",
                filter,
                "created_at DESC, id DESC",
                (page, limit),
            )
            .await?;
        Ok((
            rows.iter().map(app_row).collect::<sqlx::Result<_>>()?,
            total,
        ))
    }

    /// Deletes an app with its keys, end users, conversations, messages and runs. Returns
    /// whether it existed.
    pub async fn delete_app(&self, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "DELETE FROM apps WHERE id = $1",
                crate::vals![id],
            )])
            .await?;
        Ok(done[0] > 0)
    }

    /// Switches an app's Service API on or off.
    pub async fn set_app_api_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE apps SET enable_api = $1, updated_at = $2 WHERE id = $3",
            crate::vals![enabled as i64, now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Every app's stored DSL document: (id, JSON text).
    pub async fn app_documents(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT id, dsl FROM apps")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces an app's stored DSL document (no other change).
    pub async fn set_app_document(&self, id: &str, dsl: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE apps SET dsl = $1 WHERE id = $2",
            crate::vals![dsl, id],
        )])
        .await?;
        Ok(())
    }

    /// Every workflow version's environment variables: (id, JSON text).
    pub async fn workflow_environments(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, environment_variables FROM workflows")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Replaces a workflow version's environment variables.
    pub async fn set_workflow_environment(&self, id: &str, vars: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE workflows SET environment_variables = $1 WHERE id = $2",
            crate::vals![vars, id],
        )])
        .await?;
        Ok(())
    }

    /// A workflow version by id.
    pub async fn workflow(&self, id: &str) -> Result<Option<WorkflowRow>> {
        let row = sqlx::query(
            "SELECT id, app_id, version, graph, features, environment_variables, \
             conversation_variables, created_at FROM workflows WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(workflow_row).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::scratch_stores;
    use crate::{NewApp, NewWorkflow};

    fn app(workspace_id: &str, mode: &str, workflow: bool) -> NewApp {
        NewApp {
            workspace_id: workspace_id.into(),
            name: "A ✓".into(),
            mode: mode.into(),
            description: "d".into(),
            icon: "🤖".into(),
            icon_type: "emoji".into(),
            icon_background: "#FFF".into(),
            use_icon_as_answer_icon: true,
            dsl_version: "0.6.0".into(),
            dsl: "{}".into(),
            workflow: workflow.then(|| NewWorkflow {
                graph: "{\"nodes\":[]}".into(),
                features: "{}".into(),
                environment_variables: "[]".into(),
                conversation_variables: "[]".into(),
            }),
            created_by: None,
        }
    }

    #[tokio::test]
    async fn apps_round_trip_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let ws = store.default_workspace_id().await.unwrap();
            assert!(weir_core::util::is_uuid(&ws));
            let chat = store.insert_app(&app(&ws, "chat", false)).await.unwrap();
            let flow = store.insert_app(&app(&ws, "workflow", true)).await.unwrap();
            let row = store.app(&chat).await.unwrap().unwrap();
            assert_eq!(
                (row.mode.as_str(), row.name.as_str(), row.enable_api),
                ("chat", "A ✓", true)
            );
            assert!(row.use_icon_as_answer_icon && row.workflow_id.is_none());
            let row = store.app(&flow).await.unwrap().unwrap();
            let wf = store
                .workflow(row.workflow_id.as_deref().unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(wf.app_id, flow);
            let ids: Vec<_> = store
                .apps(&ws)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect();
            assert_eq!(ids, vec![chat.clone(), flow.clone()]);
            assert!(store.delete_app(&flow).await.unwrap());
            assert!(!store.delete_app(&flow).await.unwrap());
            assert!(
                store.workflow(&wf.id).await.unwrap().is_none(),
                "workflow cascades"
            );
            store.set_app_api_enabled(&chat, false).await.unwrap();
            assert!(!store.app(&chat).await.unwrap().unwrap().enable_api);
        }
    }
}
