//! Feedback on messages (likes and dislikes with their content).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{MessageRow, Result, Stmt, Store};
use weir_core::util::now;

/// A feedback as stored.
#[derive(Clone, Debug)]
pub struct FeedbackRow {
    /// Id.
    pub id: String,
    /// App.
    pub app_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Message.
    pub message_id: String,
    /// `like` / `dislike`.
    pub rating: String,
    /// Comment.
    pub content: Option<String>,
    /// `user` / `admin`.
    pub from_source: String,
    /// Author.
    pub end_user_id: String,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

fn feedback_row(r: &AnyRow) -> sqlx::Result<FeedbackRow> {
    Ok(FeedbackRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        conversation_id: r.try_get("conversation_id")?,
        message_id: r.try_get("message_id")?,
        rating: r.try_get("rating")?,
        content: r.try_get("content")?,
        from_source: r.try_get("from_source")?,
        end_user_id: r.try_get("end_user_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Feedback of these messages by this end user: (message id, rating).
    pub async fn feedback_ratings(
        &self,
        end_user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..message_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT message_id, rating FROM message_feedbacks WHERE end_user_id = $1 AND message_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(end_user_id);
        for id in message_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("message_id")?, r.try_get("rating")?)))
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// The end user's feedback on a message.
    pub async fn feedback(
        &self,
        message_id: &str,
        end_user_id: &str,
    ) -> Result<Option<FeedbackRow>> {
        let r = sqlx::query(
            "SELECT id, app_id, conversation_id, message_id, rating, content, from_source, end_user_id, \
             created_at, updated_at FROM message_feedbacks WHERE message_id = $1 AND end_user_id = $2",
        )
        .bind(message_id)
        .bind(end_user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(feedback_row).transpose()?)
    }

    /// Creates or overwrites the end user's feedback on a message.
    pub async fn upsert_feedback(
        &self,
        msg: &MessageRow,
        rating: &str,
        content: Option<&str>,
    ) -> Result<()> {
        let ts = now();
        if let Some(existing) = self.feedback(&msg.id, &msg.end_user_id).await? {
            self.apply(vec![Stmt::new(
            "UPDATE message_feedbacks SET rating = $1, content = $2, updated_at = $3 WHERE id = $4",
            crate::vals![rating, content, ts, &existing.id],
        )])
            .await?;
        } else {
            self.apply(vec![Stmt::new(
            "INSERT INTO message_feedbacks (id, app_id, conversation_id, message_id, end_user_id, \
                 rating, content, from_source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'user', $8, $8)",
            crate::vals![weir_core::util::new_id(), &msg.app_id, &msg.conversation_id, &msg.id, &msg.end_user_id, rating, content, ts],
        )])
        .await?;
        }
        Ok(())
    }

    /// Deletes the end user's feedback on a message. Returns whether one existed.
    pub async fn delete_feedback(&self, message_id: &str, end_user_id: &str) -> Result<bool> {
        let done = self
            .apply(vec![Stmt::new(
                "DELETE FROM message_feedbacks WHERE message_id = $1 AND end_user_id = $2",
                crate::vals![message_id, end_user_id],
            )])
            .await?;
        Ok(done[0] > 0)
    }

    /// All feedback of an app, newest first, by page.
    pub async fn app_feedbacks(
        &self,
        app_id: &str,
        page: i64,
        limit: i64,
    ) -> Result<Vec<FeedbackRow>> {
        let rows = sqlx::query(
            "SELECT id, app_id, conversation_id, message_id, rating, content, from_source, end_user_id, \
             created_at, updated_at FROM message_feedbacks WHERE app_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(app_id)
        .bind(limit)
        .bind((page - 1) * limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(feedback_row).collect::<sqlx::Result<_>>()?)
    }
}
