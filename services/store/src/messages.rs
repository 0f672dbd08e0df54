//! Messages, their files, and feedback.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Stmt, Store};
use weir_core::util::now;

/// A message to insert when a turn starts.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Id.
    pub id: String,
    /// App.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Owner.
    pub end_user_id: String,
    /// App mode.
    pub mode: String,
    /// Task id of the generation.
    pub task_id: String,
    /// The query.
    pub query: String,
    /// Inputs (JSON text).
    pub inputs: String,
    /// Workflow run (advanced-chat).
    pub workflow_run_id: Option<String>,
    /// The console account asking (debugger).
    pub from_account_id: Option<String>,
    /// The answer this one continues (regenerate / branch).
    pub parent_message_id: Option<String>,
    /// Created (Unix seconds; also the `created_at` of its events).
    pub created_at: i64,
}

/// How a turn ended.
#[derive(Clone, Debug, Default)]
pub struct MessageOutcome {
    /// The answer (partial when stopped or failed).
    pub answer: String,
    /// `normal` or `error`.
    pub status: &'static str,
    /// The error text.
    pub error: Option<String>,
    /// Prompt tokens.
    pub message_tokens: i64,
    /// Completion tokens.
    pub answer_tokens: i64,
    /// Total price (decimal text).
    pub total_price: String,
    /// Currency.
    pub currency: String,
    /// Seconds the provider took.
    pub latency: f64,
    /// `{usage, retriever_resources, annotation_reply}` (JSON text).
    pub metadata: String,
    /// Agent thoughts (JSON text).
    pub agent_thoughts: String,
    /// The prompt sent to the model (JSON text), when known.
    pub prompt: Option<String>,
}

/// One earlier turn of a conversation, as memory for the next.
#[derive(Clone, Debug)]
pub struct HistoryTurn {
    /// The question.
    pub query: String,
    /// The answer.
    pub answer: String,
    /// When it was asked.
    pub created_at: i64,
}

/// A message as stored.
#[derive(Clone, Debug)]
pub struct MessageRow {
    /// Id.
    pub id: String,
    /// App.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Owner.
    pub end_user_id: String,
    /// Mode.
    pub mode: String,
    /// Query.
    pub query: String,
    /// Inputs (JSON text).
    pub inputs: String,
    /// Answer.
    pub answer: String,
    /// `normal` or `error`.
    pub status: String,
    /// Error text.
    pub error: Option<String>,
    /// Metadata (JSON text).
    pub metadata: String,
    /// Agent thoughts (JSON text).
    pub agent_thoughts: String,
    /// Workflow run.
    pub workflow_run_id: Option<String>,
    /// Prompt tokens.
    pub message_tokens: i64,
    /// Answer tokens.
    pub answer_tokens: i64,
    /// Seconds the provider took.
    pub latency: f64,
    /// `api` or `console`.
    pub from_source: String,
    /// The console account that asked.
    pub from_account_id: Option<String>,
    /// The answer it continues.
    pub parent_message_id: Option<String>,
    /// The prompt sent to the model (JSON text).
    pub prompt: Option<String>,
    /// Created.
    pub created_at: i64,
}

/// A file attached to a message.
#[derive(Clone, Debug)]
pub struct MessageFileRow {
    /// Id.
    pub id: String,
    /// Message.
    pub message_id: String,
    /// `image`, `document`, …
    pub kind: String,
    /// `local_file` / `remote_url` / `tool_file`.
    pub transfer_method: String,
    /// URL (remote files).
    pub url: Option<String>,
    /// `user` / `assistant`.
    pub belongs_to: String,
    /// Upload (local files).
    pub upload_file_id: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, app_id, conversation_id, end_user_id, mode, query, inputs, \
    answer, status, error, metadata, agent_thoughts, workflow_run_id, message_tokens, \
    answer_tokens, provider_response_latency, from_source, from_account_id, parent_message_id, \
    message, created_at";

pub(crate) fn row(r: &AnyRow) -> sqlx::Result<MessageRow> {
    Ok(MessageRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        conversation_id: r.try_get("conversation_id")?,
        end_user_id: r.try_get("end_user_id")?,
        mode: r.try_get("mode")?,
        query: r.try_get("query")?,
        inputs: r.try_get("inputs")?,
        answer: r.try_get("answer")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        metadata: r.try_get("metadata")?,
        agent_thoughts: r.try_get("agent_thoughts")?,
        workflow_run_id: r.try_get("workflow_run_id")?,
        message_tokens: r.try_get("message_tokens")?,
        answer_tokens: r.try_get("answer_tokens")?,
        latency: r.try_get("provider_response_latency")?,
        from_source: r.try_get("from_source")?,
        from_account_id: r.try_get("from_account_id")?,
        parent_message_id: r.try_get("parent_message_id")?,
        prompt: r.try_get("message")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Inserts a message at the start of its turn.
    pub async fn insert_message(&self, m: &NewMessage) -> Result<()> {
        self.apply(vec![Self::insert_message_stmt(m)]).await?;
        Ok(())
    }

    /// The statement that inserts a message.
    pub fn insert_message_stmt(m: &NewMessage) -> Stmt {
        Stmt::new(
            "INSERT INTO messages (id, app_id, conversation_id, end_user_id, mode, task_id, query, \
             inputs, answer, status, workflow_run_id, from_source, from_account_id, \
             parent_message_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', 'normal', $9, $11, $12, $13, $10, $10)",
            crate::vals![&m.id, &m.app_id, &m.conversation_id, &m.end_user_id, &m.mode, &m.task_id, &m.query, &m.inputs, &m.workflow_run_id, m.created_at,
                if m.from_account_id.is_some() { "console" } else { "api" }, &m.from_account_id, &m.parent_message_id],
        )
    }

    /// Records how a turn ended.
    pub async fn finish_message(&self, id: &str, o: &MessageOutcome) -> Result<()> {
        self.apply(vec![Self::finish_message_stmt(id, o)]).await?;
        Ok(())
    }

    /// The statement that records how a turn ended.
    pub fn finish_message_stmt(id: &str, o: &MessageOutcome) -> Stmt {
        Stmt::new(
            "UPDATE messages SET answer = $1, status = $2, error = $3, message_tokens = $4, \
             answer_tokens = $5, total_price = $6, currency = $7, provider_response_latency = $8, \
             metadata = $9, agent_thoughts = $10, updated_at = $11, message = COALESCE($13, message) \
             WHERE id = $12",
            crate::vals![
                &o.answer,
                o.status,
                &o.error,
                o.message_tokens,
                o.answer_tokens,
                &o.total_price,
                &o.currency,
                o.latency,
                &o.metadata,
                &o.agent_thoughts,
                now(),
                id,
                &o.prompt
            ],
        )
    }

    /// A message of this app owned by this end user (any conversation of theirs).
    pub async fn message(
        &self,
        app_id: &str,
        end_user_id: &str,
        id: &str,
    ) -> Result<Option<MessageRow>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM messages WHERE id = $1 AND app_id = $2 AND end_user_id = $3"
        ))
        .bind(id)
        .bind(app_id)
        .bind(end_user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row).transpose()?)
    }

    /// A page of a conversation's messages: the newest `limit` older than `first_id` (or
    /// the newest overall), in chronological order; `None` when `first_id` is not in the
    /// conversation. Returns (rows, has_more older).
    pub async fn messages_page(
        &self,
        conversation_id: &str,
        first_id: Option<&str>,
        limit: i64,
    ) -> Result<Option<(Vec<MessageRow>, bool)>> {
        let rows = match first_id {
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(conversation_id)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
            Some(first) => {
                let anchor = sqlx::query(
                    "SELECT created_at FROM messages WHERE id = $1 AND conversation_id = $2",
                )
                .bind(first)
                .bind(conversation_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(anchor) = anchor else {
                    return Ok(None);
                };
                let ts: i64 = anchor.try_get("created_at")?;
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND \
                     (created_at < $2 OR (created_at = $2 AND id < $3)) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                ))
                .bind(conversation_id)
                .bind(ts)
                .bind(first)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = rows.iter().map(row).collect::<sqlx::Result<Vec<_>>>()?;
        let has_more = out.len() as i64 > limit;
        out.truncate(limit as usize);
        out.reverse();
        Ok(Some((out, has_more)))
    }

    /// The conversation's last `limit` answered turns before `before_id`, oldest first
    /// (conversation memory).
    pub async fn history(
        &self,
        conversation_id: &str,
        before_id: &str,
        limit: i64,
    ) -> Result<Vec<HistoryTurn>> {
        let rows = sqlx::query(
            "SELECT query, answer, created_at FROM messages WHERE conversation_id = $1 AND id < $2 \
             AND status = 'normal' AND answer <> '' ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(conversation_id)
        .bind(before_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(HistoryTurn {
                    query: r.try_get("query")?,
                    answer: r.try_get("answer")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Attaches a file to a message.
    pub async fn insert_message_file(&self, app_id: &str, f: &MessageFileRow) -> Result<()> {
        self.apply(vec![Stmt::new(
            "INSERT INTO message_files (id, message_id, app_id, type, transfer_method, url, belongs_to, \
             upload_file_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            crate::vals![&f.id, &f.message_id, app_id, &f.kind, &f.transfer_method, &f.url, &f.belongs_to, &f.upload_file_id, now()],
        )])
        .await?;
        Ok(())
    }

    /// Files of these messages.
    pub async fn message_files(&self, message_ids: &[String]) -> Result<Vec<MessageFileRow>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..message_ids.len())
            .map(|i| format!("${}", i + 1))
            .collect();
        let sql = format!(
            "SELECT id, message_id, type, transfer_method, url, belongs_to, upload_file_id FROM message_files \
             WHERE message_id IN ({}) ORDER BY created_at, id",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in message_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(MessageFileRow {
                    id: r.try_get("id")?,
                    message_id: r.try_get("message_id")?,
                    kind: r.try_get("type")?,
                    transfer_method: r.try_get("transfer_method")?,
                    url: r.try_get("url")?,
                    belongs_to: r.try_get("belongs_to")?,
                    upload_file_id: r.try_get("upload_file_id")?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// The app of a message referencing this upload, if any.
    pub async fn upload_referencing_app(&self, upload_file_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar(
                "SELECT app_id FROM message_files WHERE upload_file_id = $1 LIMIT 1",
            )
            .bind(upload_file_id)
            .fetch_optional(&self.pool)
            .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{scratch_stores, test_app};
    use crate::NewConversation;
    use weir_core::util::new_id;

    #[tokio::test]
    async fn message_pages_and_feedback_on_every_backend() {
        for db in scratch_stores().await {
            let store = &db.store;
            let (ws, app) = test_app(store, "chat").await;
            let user = store
                .end_user(&ws, &app, "service-api", "ana", false)
                .await
                .unwrap();
            let conv = store
                .insert_conversation(&NewConversation {
                    id: new_id(),
                    app_id: app.clone(),
                    end_user_id: user.id.clone(),
                    mode: "chat".into(),
                    name: "n".into(),
                    inputs: "{}".into(),
                    introduction: None,
                    workflow_id: None,
                    from_source: "api",
                    from_account_id: None,
                })
                .await
                .unwrap();
            let mut ids = Vec::new();
            for i in 0..5 {
                let id = new_id();
                store
                    .insert_message(&NewMessage {
                        id: id.clone(),
                        app_id: app.clone(),
                        conversation_id: conv.id.clone(),
                        end_user_id: user.id.clone(),
                        mode: "chat".into(),
                        task_id: new_id(),
                        query: format!("q{i}"),
                        inputs: "{}".into(),
                        workflow_run_id: None,
                        from_account_id: None,
                        parent_message_id: None,
                        created_at: 1000,
                    })
                    .await
                    .unwrap();
                store
                    .finish_message(
                        &id,
                        &MessageOutcome {
                            answer: format!("a{i}"),
                            status: "normal",
                            metadata: "{}".into(),
                            agent_thoughts: "[]".into(),
                            total_price: "0".into(),
                            currency: "USD".into(),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                ids.push(id);
            }
            let (page, more) = store
                .messages_page(&conv.id, None, 2)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                page.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
                ids[3..].to_vec(),
                "newest page, oldest first"
            );
            assert!(more);
            let (page, more) = store
                .messages_page(&conv.id, Some(&ids[3]), 2)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                page.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
                ids[1..3].to_vec()
            );
            assert!(more);
            let (page, more) = store
                .messages_page(&conv.id, Some(&ids[1]), 2)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((page.len(), more), (1, false));
            assert!(store
                .messages_page(&conv.id, Some(&new_id()), 2)
                .await
                .unwrap()
                .is_none());
            let hist = store.history(&conv.id, &ids[4], 3).await.unwrap();
            assert_eq!(
                hist.iter().map(|m| m.answer.clone()).collect::<Vec<_>>(),
                vec!["a1", "a2", "a3"]
            );

            let msg = store
                .message(&app, &user.id, &ids[0])
                .await
                .unwrap()
                .unwrap();
            store.upsert_feedback(&msg, "like", None).await.unwrap();
            store
                .upsert_feedback(&msg, "dislike", Some("meh"))
                .await
                .unwrap();
            let fb = store.feedback(&msg.id, &user.id).await.unwrap().unwrap();
            assert_eq!(
                (fb.rating.as_str(), fb.content.as_deref()),
                ("dislike", Some("meh"))
            );
            assert_eq!(
                store.feedback_ratings(&user.id, &ids).await.unwrap(),
                vec![(ids[0].clone(), "dislike".to_owned())]
            );
            assert_eq!(store.app_feedbacks(&app, 1, 20).await.unwrap().len(), 1);
            assert!(store.delete_feedback(&msg.id, &user.id).await.unwrap());
            assert!(store.feedback(&msg.id, &user.id).await.unwrap().is_none());
        }
    }
}
