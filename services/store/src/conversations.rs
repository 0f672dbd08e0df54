//! Conversations and their variables.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Stmt, Store};
use weir_core::util::now;

/// A conversation to insert.
#[derive(Clone, Debug)]
pub struct NewConversation {
    /// Id (chosen by the caller so events can name it before the insert).
    pub id: String,
    /// App.
    pub app_id: String,
    /// Owner.
    pub end_user_id: String,
    /// App mode at creation.
    pub mode: String,
    /// Initial name.
    pub name: String,
    /// Inputs of the first turn (JSON text).
    pub inputs: String,
    /// Rendered opening statement.
    pub introduction: Option<String>,
    /// Workflow version (advanced-chat).
    pub workflow_id: Option<String>,
    /// `api` for Service API and web-app conversations, `console` for the console's
    /// debugger.
    pub from_source: &'static str,
    /// The console account that started it (debugger).
    pub from_account_id: Option<String>,
}

/// A conversation as stored.
#[derive(Clone, Debug)]
pub struct ConversationRow {
    /// Id.
    pub id: String,
    /// App.
    pub app_id: String,
    /// Owner.
    pub end_user_id: String,
    /// Mode.
    pub mode: String,
    /// Name.
    pub name: String,
    /// Inputs (JSON text).
    pub inputs: String,
    /// Opening statement.
    pub introduction: Option<String>,
    /// `normal`.
    pub status: String,
    /// Workflow version.
    pub workflow_id: Option<String>,
    /// Turns so far.
    pub dialogue_count: i64,
    /// `api` or `console`.
    pub from_source: String,
    /// The console account that started it.
    pub from_account_id: Option<String>,
    /// When the console's logs last opened it.
    pub read_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

/// Orders of `GET /conversations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationSort {
    /// `created_at`.
    CreatedAsc,
    /// `-created_at`.
    CreatedDesc,
    /// `updated_at`.
    UpdatedAsc,
    /// `-updated_at` (default).
    UpdatedDesc,
}

impl ConversationSort {
    /// Parses Dify's `sort_by`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created_at" => Self::CreatedAsc,
            "-created_at" => Self::CreatedDesc,
            "updated_at" => Self::UpdatedAsc,
            "-updated_at" => Self::UpdatedDesc,
            _ => return None,
        })
    }

    fn column_and_desc(self) -> (&'static str, bool) {
        match self {
            Self::CreatedAsc => ("created_at", false),
            Self::CreatedDesc => ("created_at", true),
            Self::UpdatedAsc => ("updated_at", false),
            Self::UpdatedDesc => ("updated_at", true),
        }
    }
}

/// A conversation variable as stored.
#[derive(Clone, Debug)]
pub struct ConversationVariableRow {
    /// Declared id.
    pub id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Name.
    pub name: String,
    /// Value type.
    pub value_type: String,
    /// Value (JSON text).
    pub value: String,
    /// Description.
    pub description: String,
    /// Declaration order.
    pub position: i64,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

pub(crate) const COLUMNS: &str = "id, app_id, end_user_id, mode, name, inputs, introduction, \
    status, workflow_id, dialogue_count, from_source, from_account_id, read_at, created_at, \
    updated_at";

pub(crate) fn row(r: &AnyRow) -> sqlx::Result<ConversationRow> {
    Ok(ConversationRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        end_user_id: r.try_get("end_user_id")?,
        mode: r.try_get("mode")?,
        name: r.try_get("name")?,
        inputs: r.try_get("inputs")?,
        introduction: r.try_get("introduction")?,
        status: r.try_get("status")?,
        workflow_id: r.try_get("workflow_id")?,
        dialogue_count: r.try_get("dialogue_count")?,
        from_source: r.try_get("from_source")?,
        from_account_id: r.try_get("from_account_id")?,
        read_at: r.try_get("read_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn variable_row(r: &AnyRow) -> sqlx::Result<ConversationVariableRow> {
    Ok(ConversationVariableRow {
        id: r.try_get("id")?,
        conversation_id: r.try_get("conversation_id")?,
        name: r.try_get("name")?,
        value_type: r.try_get("value_type")?,
        value: r.try_get("value")?,
        description: r.try_get("description")?,
        position: r.try_get("position")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// The statement that inserts a conversation created at `ts`.
    pub fn insert_conversation_stmt(c: &NewConversation, ts: i64) -> Stmt {
        Stmt::new(
            "INSERT INTO conversations (id, app_id, end_user_id, mode, name, inputs, introduction, \
             status, from_source, from_account_id, workflow_id, dialogue_count, deleted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'normal', $8, $11, $9, 0, 0, $10, $10)",
            crate::vals![&c.id, &c.app_id, &c.end_user_id, &c.mode, &c.name, &c.inputs, &c.introduction, c.from_source, &c.workflow_id, ts, &c.from_account_id],
        )
    }

    /// Inserts a conversation.
    pub async fn insert_conversation(&self, c: &NewConversation) -> Result<ConversationRow> {
        let ts = now();
        self.apply(vec![Self::insert_conversation_stmt(c, ts)])
            .await?;
        Ok(ConversationRow {
            id: c.id.clone(),
            app_id: c.app_id.clone(),
            end_user_id: c.end_user_id.clone(),
            mode: c.mode.clone(),
            name: c.name.clone(),
            inputs: c.inputs.clone(),
            introduction: c.introduction.clone(),
            status: "normal".into(),
            workflow_id: c.workflow_id.clone(),
            dialogue_count: 0,
            from_source: c.from_source.to_owned(),
            from_account_id: c.from_account_id.clone(),
            read_at: None,
            created_at: ts,
            updated_at: ts,
        })
    }

    /// A live conversation of this app and end user.
    pub async fn conversation(
        &self,
        app_id: &str,
        end_user_id: &str,
        id: &str,
    ) -> Result<Option<ConversationRow>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM conversations WHERE id = $1 AND app_id = $2 AND end_user_id = $3 \
             AND deleted = 0"
        ))
        .bind(id)
        .bind(app_id)
        .bind(end_user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// A page of the end user's conversations after `last_id` in `sort` order, only the
    /// pinned or the unpinned ones when `pinned` says so; `None` when `last_id` is not one of
    /// them. Returns (rows, has_more).
    pub async fn conversations(
        &self,
        app_id: &str,
        end_user_id: &str,
        sort: ConversationSort,
        last_id: Option<&str>,
        limit: i64,
        pinned: Option<bool>,
    ) -> Result<Option<(Vec<ConversationRow>, bool)>> {
        let (col, desc) = sort.column_and_desc();
        let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
        let pins = "(SELECT conversation_id FROM pinned_conversations WHERE end_user_id = $2)";
        let base = match pinned {
            None => "app_id = $1 AND end_user_id = $2 AND deleted = 0".to_owned(),
            Some(true) => {
                format!("app_id = $1 AND end_user_id = $2 AND deleted = 0 AND id IN {pins}")
            }
            Some(false) => {
                format!("app_id = $1 AND end_user_id = $2 AND deleted = 0 AND id NOT IN {pins}")
            }
        };
        let rows = match last_id {
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM conversations WHERE {base} ORDER BY {col} {dir}, id {dir} LIMIT $3"
                ))
                .bind(app_id)
                .bind(end_user_id)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
            Some(last) => {
                let Some(anchor) = self.conversation(app_id, end_user_id, last).await? else {
                    return Ok(None);
                };
                let key = if col == "created_at" { anchor.created_at } else { anchor.updated_at };
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM conversations WHERE {base} AND \
                     ({col} {cmp} $3 OR ({col} = $3 AND id {cmp} $4)) \
                     ORDER BY {col} {dir}, id {dir} LIMIT $5"
                ))
                .bind(app_id)
                .bind(end_user_id)
                .bind(key)
                .bind(&anchor.id)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = rows.iter().map(row).collect::<sqlx::Result<Vec<_>>>()?;
        let has_more = out.len() as i64 > limit;
        out.truncate(limit as usize);
        Ok(Some((out, has_more)))
    }

    /// Renames a conversation and bumps `updated_at`.
    pub async fn rename_conversation(&self, id: &str, name: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE conversations SET name = $1, updated_at = $2 WHERE id = $3",
            crate::vals![name, now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Replaces the initial name `initial` with a generated one; a name the user set in the
    /// meantime stays (returns whether the name was replaced).
    pub async fn set_generated_conversation_name(
        &self,
        id: &str,
        initial: &str,
        generated: &str,
    ) -> Result<bool> {
        let changed = self
            .apply(vec![Stmt::new(
                "UPDATE conversations SET name = $1 WHERE id = $2 AND name = $3",
                crate::vals![generated, id, initial],
            )])
            .await?;
        Ok(changed.first().copied().unwrap_or(0) > 0)
    }

    /// The statement that records a new turn: bumps `updated_at` and `dialogue_count`.
    pub fn touch_conversation_stmt(id: &str) -> Stmt {
        Stmt::new(
            "UPDATE conversations SET updated_at = $1, dialogue_count = dialogue_count + 1 WHERE id = $2",
            crate::vals![now(), id],
        )
    }

    /// Records a new turn: bumps `updated_at` and `dialogue_count`.
    pub async fn touch_conversation(&self, id: &str) -> Result<()> {
        self.apply(vec![Self::touch_conversation_stmt(id)]).await?;
        Ok(())
    }

    /// Marks a conversation deleted (it leaves lists at once). Returns whether it was live.
    pub async fn delete_conversation(&self, id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
            "UPDATE conversations SET deleted = 1, updated_at = $1 WHERE id = $2 AND deleted = 0",
            crate::vals![now(), id],
        )])
            .await?;
        Ok(done[0] > 0)
    }

    /// Creates a conversation's variables (initial values) unless they exist.
    pub async fn init_conversation_variables(
        &self,
        app_id: &str,
        conversation_id: &str,
        vars: &[(String, String, String, String, String)],
    ) -> Result<()> {
        let ts = now();
        for (position, (id, name, value_type, value, description)) in vars.iter().enumerate() {
            self.apply(vec![Stmt::new(
            "INSERT INTO conversation_variables (id, conversation_id, app_id, name, value_type, \
                 value, description, position, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id, conversation_id) DO NOTHING",
            crate::vals![id, conversation_id, app_id, name, value_type, value, description, position as i64, ts],
        )])
        .await?;
        }
        Ok(())
    }

    /// A conversation's variables in declaration order.
    pub async fn conversation_variables(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationVariableRow>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, name, value_type, value, description, position, created_at, \
             updated_at FROM conversation_variables WHERE conversation_id = $1 ORDER BY position, id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(variable_row).collect::<sqlx::Result<_>>()?)
    }

    /// Sets a conversation variable's value (JSON text).
    pub async fn set_conversation_variable(
        &self,
        conversation_id: &str,
        id: &str,
        value: &str,
    ) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE conversation_variables SET value = $1, updated_at = $2 WHERE conversation_id = $3 AND id = $4",
            crate::vals![value, now(), conversation_id, id],
        )])
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{scratch_stores, test_app};
    use weir_core::util::new_id;

    fn conv(app: &str, user: &str, name: &str) -> NewConversation {
        NewConversation {
            id: new_id(),
            app_id: app.into(),
            end_user_id: user.into(),
            mode: "chat".into(),
            name: name.into(),
            inputs: "{}".into(),
            introduction: None,
            workflow_id: None,
            from_source: "api",
            from_account_id: None,
        }
    }

    #[tokio::test]
    async fn conversation_paging_is_stable_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, app) = test_app(store, "chat").await;
            let ana = store
                .end_user(&ws, &app, "service-api", "ana", false)
                .await
                .unwrap();
            let bob = store
                .end_user(&ws, &app, "service-api", "bob", false)
                .await
                .unwrap();
            let mut ids = Vec::new();
            for i in 0..5 {
                ids.push(
                    store
                        .insert_conversation(&conv(&app, &ana.id, &format!("c{i}")))
                        .await
                        .unwrap()
                        .id,
                );
            }
            store
                .insert_conversation(&conv(&app, &bob.id, "bob's"))
                .await
                .unwrap();
            // Same second for all: ties break by creation order.
            let (page, more) = store
                .conversations(&app, &ana.id, ConversationSort::CreatedAsc, None, 2, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                page.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                ids[..2].to_vec()
            );
            assert!(more);
            let (page, more) = store
                .conversations(
                    &app,
                    &ana.id,
                    ConversationSort::CreatedAsc,
                    Some(&ids[1]),
                    2,
                    None,
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                page.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                ids[2..4].to_vec()
            );
            assert!(more);
            let (page, more) = store
                .conversations(
                    &app,
                    &ana.id,
                    ConversationSort::CreatedAsc,
                    Some(&ids[3]),
                    2,
                    None,
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(page.len(), 1);
            assert!(!more);
            let (page, _) = store
                .conversations(&app, &ana.id, ConversationSort::UpdatedDesc, None, 10, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(page[0].id, ids[4]);
            assert_eq!(page.len(), 5, "bob's conversation is not ana's");
            // A cursor of someone else's conversation is unknown.
            let bobs = store
                .conversations(&app, &bob.id, ConversationSort::UpdatedDesc, None, 1, None)
                .await
                .unwrap()
                .unwrap()
                .0;
            assert!(store
                .conversations(
                    &app,
                    &ana.id,
                    ConversationSort::UpdatedDesc,
                    Some(&bobs[0].id),
                    1,
                    None
                )
                .await
                .unwrap()
                .is_none());
            // Delete hides it.
            assert!(store.delete_conversation(&ids[0]).await.unwrap());
            assert!(store
                .conversation(&app, &ana.id, &ids[0])
                .await
                .unwrap()
                .is_none());
            assert!(!store.delete_conversation(&ids[0]).await.unwrap());
            store.rename_conversation(&ids[1], "renamed").await.unwrap();
            assert_eq!(
                store
                    .conversation(&app, &ana.id, &ids[1])
                    .await
                    .unwrap()
                    .unwrap()
                    .name,
                "renamed"
            );
            // Variables.
            let vars = vec![(
                "v1".to_owned(),
                "topic".to_owned(),
                "string".to_owned(),
                "\"\"".to_owned(),
                String::new(),
            )];
            store
                .init_conversation_variables(&app, &ids[1], &vars)
                .await
                .unwrap();
            store
                .init_conversation_variables(&app, &ids[1], &vars)
                .await
                .unwrap();
            store
                .set_conversation_variable(&ids[1], "v1", "\"x\"")
                .await
                .unwrap();
            let got = store.conversation_variables(&ids[1]).await.unwrap();
            assert_eq!((got.len(), got[0].value.as_str()), (1, "\"x\""));
        }
    }
}
