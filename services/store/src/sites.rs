//! Web-app sites (one per app: its public code and what the web app shows) and the app
//! settings the console edits besides the DSL: name and icon, switches, limits, tags.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{flag, NewApp, Result, Stmt, Store};
use weir_core::util::{new_site_code, now};

/// An app's web-app site.
#[derive(Clone, Debug, Default)]
pub struct SiteRow {
    /// The app.
    pub app_id: String,
    /// The public code (`/chat/<code>`), also the site's `access_token`.
    pub code: String,
    /// Title.
    pub title: String,
    /// Icon type.
    pub icon_type: Option<String>,
    /// Icon.
    pub icon: Option<String>,
    /// Icon background.
    pub icon_background: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// UI language of the web app.
    pub default_language: String,
    /// Chat colour theme.
    pub chat_color_theme: Option<String>,
    /// Inverted chat colours.
    pub chat_color_theme_inverted: bool,
    /// Copyright line.
    pub copyright: Option<String>,
    /// Privacy policy URL.
    pub privacy_policy: Option<String>,
    /// Disclaimer.
    pub custom_disclaimer: String,
    /// Custom domain.
    pub customize_domain: Option<String>,
    /// `must`, `allow` or `not_allow`.
    pub customize_token_strategy: String,
    /// Prompt shown publicly.
    pub prompt_public: bool,
    /// Workflow steps shown.
    pub show_workflow_steps: bool,
    /// Answers show the app icon.
    pub use_icon_as_answer_icon: bool,
    /// Creator.
    pub created_by: Option<String>,
    /// Last editor.
    pub updated_by: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Updated, Unix seconds.
    pub updated_at: i64,
}

const COLUMNS: &str = "app_id, code, title, icon_type, icon, icon_background, description, \
    default_language, chat_color_theme, chat_color_theme_inverted, copyright, privacy_policy, \
    custom_disclaimer, customize_domain, customize_token_strategy, prompt_public, \
    show_workflow_steps, use_icon_as_answer_icon, created_by, updated_by, created_at, updated_at";

fn site_row(r: &AnyRow) -> sqlx::Result<SiteRow> {
    Ok(SiteRow {
        app_id: r.try_get("app_id")?,
        code: r.try_get("code")?,
        title: r.try_get("title")?,
        icon_type: r.try_get("icon_type")?,
        icon: r.try_get("icon")?,
        icon_background: r.try_get("icon_background")?,
        description: r.try_get("description")?,
        default_language: r.try_get("default_language")?,
        chat_color_theme: r.try_get("chat_color_theme")?,
        chat_color_theme_inverted: flag(r.try_get("chat_color_theme_inverted")?),
        copyright: r.try_get("copyright")?,
        privacy_policy: r.try_get("privacy_policy")?,
        custom_disclaimer: r.try_get("custom_disclaimer")?,
        customize_domain: r.try_get("customize_domain")?,
        customize_token_strategy: r.try_get("customize_token_strategy")?,
        prompt_public: flag(r.try_get("prompt_public")?),
        show_workflow_steps: flag(r.try_get("show_workflow_steps")?),
        use_icon_as_answer_icon: flag(r.try_get("use_icon_as_answer_icon")?),
        created_by: r.try_get("created_by")?,
        updated_by: r.try_get("updated_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The console's edit of an app's own fields (`PUT /apps/{id}` and its smaller cousins).
#[derive(Clone, Debug, Default)]
pub struct AppEdit {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Icon type.
    pub icon_type: String,
    /// Icon.
    pub icon: String,
    /// Icon background.
    pub icon_background: String,
    /// Answers show the app icon.
    pub use_icon_as_answer_icon: bool,
    /// Concurrent generations allowed.
    pub max_active_requests: i64,
}

impl Store {
    /// The statement that gives a new app its site.
    pub fn insert_site_stmt(app_id: &str, app: &NewApp, ts: i64) -> Stmt {
        Stmt::new(
            "INSERT INTO sites (app_id, code, title, icon_type, icon, icon_background, \
             use_icon_as_answer_icon, created_by, updated_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)",
            crate::vals![
                app_id,
                new_site_code(),
                &app.name,
                &app.icon_type,
                &app.icon,
                &app.icon_background,
                app.use_icon_as_answer_icon,
                &app.created_by,
                ts
            ],
        )
    }

    /// The site of an app.
    pub async fn site(&self, app_id: &str) -> Result<Option<SiteRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM sites WHERE app_id = $1"))
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(site_row).transpose()?)
    }

    /// The site with this public code.
    pub async fn site_by_code(&self, code: &str) -> Result<Option<SiteRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM sites WHERE code = $1"))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(site_row).transpose()?)
    }

    /// Saves a site's editable fields.
    pub async fn save_site(&self, s: &SiteRow) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE sites SET title = $1, icon_type = $2, icon = $3, icon_background = $4, \
             description = $5, default_language = $6, chat_color_theme = $7, \
             chat_color_theme_inverted = $8, copyright = $9, privacy_policy = $10, \
             custom_disclaimer = $11, customize_domain = $12, customize_token_strategy = $13, \
             prompt_public = $14, show_workflow_steps = $15, use_icon_as_answer_icon = $16, \
             updated_by = $17, updated_at = $18 WHERE app_id = $19",
            crate::vals![
                &s.title,
                &s.icon_type,
                &s.icon,
                &s.icon_background,
                &s.description,
                &s.default_language,
                &s.chat_color_theme,
                s.chat_color_theme_inverted,
                &s.copyright,
                &s.privacy_policy,
                &s.custom_disclaimer,
                &s.customize_domain,
                &s.customize_token_strategy,
                s.prompt_public,
                s.show_workflow_steps,
                s.use_icon_as_answer_icon,
                &s.updated_by,
                now(),
                &s.app_id
            ],
        )])
        .await?;
        Ok(())
    }

    /// Gives a site a new public code; returns it.
    pub async fn reset_site_code(&self, app_id: &str) -> Result<String> {
        let code = new_site_code();
        self.apply(vec![Stmt::new(
            "UPDATE sites SET code = $1, updated_at = $2 WHERE app_id = $3",
            crate::vals![&code, now(), app_id],
        )])
        .await?;
        Ok(code)
    }

    /// Saves the console's edit of an app's own fields (the stored DSL's `app` part is
    /// rewritten by the caller when it changes).
    pub async fn edit_app(&self, id: &str, e: &AppEdit, by: &str, dsl: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE apps SET name = $1, description = $2, icon_type = $3, icon = $4, \
             icon_background = $5, use_icon_as_answer_icon = $6, max_active_requests = $7, \
             updated_by = $8, dsl = $9, updated_at = $10 WHERE id = $11",
            crate::vals![
                &e.name,
                &e.description,
                &e.icon_type,
                &e.icon,
                &e.icon_background,
                e.use_icon_as_answer_icon,
                e.max_active_requests,
                by,
                dsl,
                now(),
                id
            ],
        )])
        .await?;
        Ok(())
    }

    /// Switches an app's web app on or off.
    pub async fn set_site_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE apps SET enable_site = $1, updated_at = $2 WHERE id = $3",
            crate::vals![enabled, now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Replaces an app's stored DSL document after a console edit of its configuration.
    pub async fn save_app_config(&self, id: &str, dsl: &str, by: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE apps SET dsl = $1, updated_by = $2, updated_at = $3 WHERE id = $4",
            crate::vals![dsl, by, now(), id],
        )])
        .await?;
        Ok(())
    }

    /// The app tags bound to each of these apps: (app id, tag id, tag name).
    pub async fn app_tags(&self, app_ids: &[String]) -> Result<Vec<(String, String, String)>> {
        if app_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=app_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT b.app_id, t.id, t.name FROM app_tag_bindings b JOIN dataset_tags t \
             ON t.id = b.tag_id WHERE b.app_id IN ({}) ORDER BY t.created_at",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in app_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("app_id")?, r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    /// Binds app tags to an app (idempotent per pair).
    pub async fn bind_app_tags(&self, app_id: &str, tag_ids: &[String]) -> Result<()> {
        let ts = now();
        let stmts = tag_ids
            .iter()
            .map(|t| {
                Stmt::new(
                    "INSERT INTO app_tag_bindings (tag_id, app_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (tag_id, app_id) DO NOTHING",
                    crate::vals![t, app_id, ts],
                )
            })
            .collect();
        self.apply(stmts).await?;
        Ok(())
    }

    /// Removes app tags from an app.
    pub async fn unbind_app_tags(&self, app_id: &str, tag_ids: &[String]) -> Result<()> {
        let stmts = tag_ids
            .iter()
            .map(|t| {
                Stmt::new(
                    "DELETE FROM app_tag_bindings WHERE tag_id = $1 AND app_id = $2",
                    crate::vals![t, app_id],
                )
            })
            .collect();
        self.apply(stmts).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{scratch_stores, test_app};

    #[tokio::test]
    async fn every_app_has_a_site_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (_, app) = test_app(store, "chat").await;
            let mut site = store.site(&app).await.unwrap().unwrap();
            assert_eq!(site.code.len(), 16);
            assert_eq!(site.title, "chat app");
            assert_eq!(
                store
                    .site_by_code(&site.code)
                    .await
                    .unwrap()
                    .unwrap()
                    .app_id,
                app
            );
            site.title = "Renamed".into();
            site.show_workflow_steps = false;
            store.save_site(&site).await.unwrap();
            let again = store.site(&app).await.unwrap().unwrap();
            assert_eq!(
                (again.title.as_str(), again.show_workflow_steps),
                ("Renamed", false)
            );
            let code = store.reset_site_code(&app).await.unwrap();
            assert_ne!(code, site.code);
            assert!(store.site_by_code(&site.code).await.unwrap().is_none());
            store.set_site_enabled(&app, false).await.unwrap();
            assert!(!store.app(&app).await.unwrap().unwrap().enable_site);
        }
    }
}
