//! What the published web app keeps per end user besides conversations: pinned
//! conversations and saved messages.

use sqlx::Row;

use super::{messages, MessageRow, Result, Stmt, Store};
use weir_core::util::{new_id, now};

impl Store {
    /// Pins a conversation for its end user (idempotent).
    pub async fn pin_conversation(&self, conversation_id: &str, end_user_id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "INSERT INTO pinned_conversations (conversation_id, end_user_id, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (conversation_id, end_user_id) DO NOTHING",
            crate::vals![conversation_id, end_user_id, now()],
        )])
        .await?;
        Ok(())
    }

    /// Unpins a conversation (nothing when it was not pinned).
    pub async fn unpin_conversation(&self, conversation_id: &str, end_user_id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM pinned_conversations WHERE conversation_id = $1 AND end_user_id = $2",
            crate::vals![conversation_id, end_user_id],
        )])
        .await?;
        Ok(())
    }

    /// Saves a message for its end user (idempotent).
    pub async fn save_message(
        &self,
        app_id: &str,
        message_id: &str,
        end_user_id: &str,
    ) -> Result<()> {
        self.apply(vec![Stmt::new(
            "INSERT INTO saved_messages (id, app_id, message_id, end_user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id, end_user_id) DO NOTHING",
            crate::vals![new_id(), app_id, message_id, end_user_id, now()],
        )])
        .await?;
        Ok(())
    }

    /// Removes a saved message of an end user (by the message's id).
    pub async fn unsave_message(&self, message_id: &str, end_user_id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "DELETE FROM saved_messages WHERE message_id = $1 AND end_user_id = $2",
            crate::vals![message_id, end_user_id],
        )])
        .await?;
        Ok(())
    }

    /// An end user's saved messages of an app, newest first, after the saved message
    /// `last_id` (a message id); `None` when `last_id` is not one of them. Returns (messages,
    /// has_more).
    pub async fn saved_messages(
        &self,
        app_id: &str,
        end_user_id: &str,
        last_id: Option<&str>,
        limit: i64,
    ) -> Result<Option<(Vec<MessageRow>, bool)>> {
        // The cursor: (created_at, id) of the saved row, newest-first order.
        let (cutoff, cutoff_id) = match last_id {
            None => (i64::MAX, String::new()),
            Some(id) => {
                let r = sqlx::query(
                    "SELECT created_at, id FROM saved_messages WHERE message_id = $1 AND end_user_id = $2",
                )
                .bind(id)
                .bind(end_user_id)
                .fetch_optional(&self.pool)
                .await?;
                match r {
                    Some(r) => (r.try_get("created_at")?, r.try_get("id")?),
                    None => return Ok(None),
                }
            }
        };
        let columns = messages::COLUMNS
            .split(", ")
            .map(|c| format!("m.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM saved_messages s JOIN messages m ON m.id = s.message_id \
             WHERE s.app_id = $1 AND s.end_user_id = $2 \
             AND (s.created_at < $3 OR (s.created_at = $3 AND s.id < $5)) \
             ORDER BY s.created_at DESC, s.id DESC LIMIT $4"
        ))
        .bind(app_id)
        .bind(end_user_id)
        .bind(cutoff)
        .bind(limit + 1)
        .bind(cutoff_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(messages::row)
            .collect::<sqlx::Result<Vec<_>>>()?;
        let has_more = out.len() as i64 > limit;
        out.truncate(limit as usize);
        Ok(Some((out, has_more)))
    }
}
