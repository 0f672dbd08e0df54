//! What the console's logs and overview read: an app's conversations across end users with
//! their summaries and feedback counts, read marks, feedback with its author, and the raw
//! rows the statistics are counted from.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::query::Filter;
use super::{conversations, messages, ConversationRow, MessageRow, Result, Stmt, Store};
use weir_core::util::{new_id, now};

/// Which conversations the logs show.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// In a message's query or answer, the conversation's name or introduction, or the end
    /// user's session id (case-insensitive).
    pub keyword: Option<String>,
    /// Created (or updated, by `sort_by`) at or after, Unix seconds.
    pub start: Option<i64>,
    /// Created (or updated) before, Unix seconds.
    pub end: Option<i64>,
    /// Order and time column: `created_at`, `-created_at`, `updated_at`, `-updated_at`.
    pub sort_by: String,
    /// Skip conversations started in the console's debugger.
    pub exclude_debugger: bool,
}

/// A conversation as the logs list it.
#[derive(Clone, Debug)]
pub struct ConversationLog {
    /// The conversation.
    pub conversation: ConversationRow,
    /// Its end user's session id.
    pub session_id: Option<String>,
    /// Messages in it.
    pub message_count: i64,
    /// Its first message.
    pub first: Option<MessageRow>,
    /// End users' likes and dislikes.
    pub user_feedback: (i64, i64),
    /// Admins' likes and dislikes.
    pub admin_feedback: (i64, i64),
}

/// One feedback with its author, as the console shows it on a message.
#[derive(Clone, Debug)]
pub struct MessageFeedback {
    /// The message.
    pub message_id: String,
    /// `like` or `dislike`.
    pub rating: String,
    /// Comment.
    pub content: Option<String>,
    /// `user` or `admin`.
    pub from_source: String,
    /// End user (user feedback).
    pub end_user_id: String,
    /// Account (admin feedback).
    pub from_account_id: Option<String>,
}

/// One message as the statistics count it.
#[derive(Clone, Debug)]
pub struct StatMessage {
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Conversation.
    pub conversation_id: String,
    /// End user.
    pub end_user_id: String,
    /// Prompt plus answer tokens.
    pub tokens: i64,
    /// Price (decimal text).
    pub total_price: String,
    /// Seconds the provider took.
    pub latency: f64,
    /// Answer tokens.
    pub answer_tokens: i64,
}

fn order(sort_by: &str) -> (&'static str, &'static str) {
    match sort_by {
        "created_at" => ("created_at", "ASC"),
        "-created_at" => ("created_at", "DESC"),
        "updated_at" => ("updated_at", "ASC"),
        _ => ("updated_at", "DESC"),
    }
}

impl Store {
    /// A live conversation of an app, whoever started it.
    pub async fn app_conversation(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<Option<ConversationRow>> {
        let r = sqlx::query(&format!(
            "SELECT {} FROM conversations WHERE id = $1 AND app_id = $2 AND deleted = 0",
            conversations::COLUMNS
        ))
        .bind(id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(conversations::row).transpose()?)
    }

    /// A message of an app, whoever asked it.
    pub async fn app_message(&self, app_id: &str, id: &str) -> Result<Option<MessageRow>> {
        let r = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE id = $1 AND app_id = $2",
            messages::COLUMNS
        ))
        .bind(id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(messages::row).transpose()?)
    }

    /// A page of an app's conversations for the logs, with their summaries. Returns the
    /// rows and the total.
    pub async fn conversation_logs(
        &self,
        app_id: &str,
        f: &LogFilter,
        (page, limit): (i64, i64),
    ) -> Result<(Vec<ConversationLog>, i64)> {
        let (column, dir) = order(&f.sort_by);
        let mut filter = Filter::new("c.app_id = $1 AND c.deleted = 0", crate::vals![app_id]);
        if f.exclude_debugger {
            filter = filter.and("c.from_source <> 'console'");
        }
        if let Some(t) = f.start {
            filter = filter.and_with(&format!("c.{column} >= {{}}"), t.into());
        }
        if let Some(t) = f.end {
            filter = filter.and_with(&format!("c.{column} < {{}}"), t.into());
        }
        if let Some(k) = f.keyword.as_deref().filter(|k| !k.is_empty()) {
            filter = filter.and_with(
                "(LOWER(c.name) LIKE {} ESCAPE '\\' OR LOWER(COALESCE(c.introduction, '')) LIKE {} ESCAPE '\\' \
                 OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND \
                 (LOWER(m.query) LIKE {} ESCAPE '\\' OR LOWER(m.answer) LIKE {} ESCAPE '\\')) \
                 OR EXISTS (SELECT 1 FROM end_users u WHERE u.id = c.end_user_id AND \
                 LOWER(u.session_id) LIKE {} ESCAPE '\\'))",
                super::query::like_pattern(k).into(),
            );
        }
        let columns = conversations::COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let (rows, total) = self
            .page_rows(
                &columns,
                "conversations c",
                filter,
                &format!("c.{column} {dir}, c.id {dir}"),
                (page, limit),
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let conversation = conversations::row(r)?;
            out.push(self.summarise(conversation).await?);
        }
        Ok((out, total))
    }

    async fn summarise(&self, conversation: ConversationRow) -> Result<ConversationLog> {
        let session_id: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM end_users WHERE id = $1")
                .bind(&conversation.end_user_id)
                .fetch_optional(&self.pool)
                .await?;
        let message_count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
                .bind(&conversation.id)
                .fetch_one(&self.pool)
                .await?;
        let first = sqlx::query(&format!(
            "SELECT {} FROM messages WHERE conversation_id = $1 ORDER BY created_at, id LIMIT 1",
            messages::COLUMNS
        ))
        .bind(&conversation.id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(messages::row)
        .transpose()?;
        let counts = sqlx::query(
            "SELECT from_source, rating, COUNT(*) AS n FROM message_feedbacks \
             WHERE conversation_id = $1 GROUP BY from_source, rating",
        )
        .bind(&conversation.id)
        .fetch_all(&self.pool)
        .await?;
        let (mut user, mut admin) = ((0, 0), (0, 0));
        for r in &counts {
            let source: String = r.try_get("from_source")?;
            let rating: String = r.try_get("rating")?;
            let n: i64 = r.try_get("n")?;
            let slot = if source == "admin" {
                &mut admin
            } else {
                &mut user
            };
            if rating == "like" {
                slot.0 += n;
            } else {
                slot.1 += n;
            }
        }
        Ok(ConversationLog {
            conversation,
            session_id,
            message_count,
            first,
            user_feedback: user,
            admin_feedback: admin,
        })
    }

    /// The logs' summary of one conversation.
    pub async fn conversation_log(&self, conversation: ConversationRow) -> Result<ConversationLog> {
        self.summarise(conversation).await
    }

    /// Marks a conversation read in the console (its `updated_at` is kept).
    pub async fn mark_conversation_read(&self, id: &str) -> Result<()> {
        self.apply(vec![Stmt::new(
            "UPDATE conversations SET read_at = $1 WHERE id = $2",
            crate::vals![now(), id],
        )])
        .await?;
        Ok(())
    }

    /// Every feedback on these messages, with its author.
    pub async fn message_feedbacks(&self, message_ids: &[String]) -> Result<Vec<MessageFeedback>> {
        let rows = self
            .rows_in(
                "SELECT message_id, rating, content, from_source, end_user_id, from_account_id \
                 FROM message_feedbacks WHERE message_id IN ({}) ORDER BY created_at",
                message_ids,
            )
            .await?;
        rows.iter()
            .map(feedback)
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// Sets (or with `rating` `None`, removes) the feedback of `author` on a message: an
    /// end user's (`from_source` `user`) or a console account's (`admin`). Returns whether a
    /// feedback existed before.
    pub async fn set_feedback(
        &self,
        msg: &MessageRow,
        author: &FeedbackAuthor<'_>,
        rating: Option<&str>,
        content: Option<&str>,
    ) -> Result<bool> {
        let (author_id, source, account) = match author {
            FeedbackAuthor::EndUser(id) => (*id, "user", None),
            FeedbackAuthor::Account(id) => (*id, "admin", Some(*id)),
        };
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM message_feedbacks WHERE message_id = $1 AND end_user_id = $2",
        )
        .bind(&msg.id)
        .bind(author_id)
        .fetch_optional(&self.pool)
        .await?;
        let ts = now();
        let stmt = match (rating, &existing) {
            (None, None) => return Ok(false),
            (None, Some(id)) => Stmt::new("DELETE FROM message_feedbacks WHERE id = $1", crate::vals![id]),
            (Some(r), Some(id)) => Stmt::new(
                "UPDATE message_feedbacks SET rating = $1, content = $2, updated_at = $3 WHERE id = $4",
                crate::vals![r, content, ts, id],
            ),
            (Some(r), None) => Stmt::new(
                "INSERT INTO message_feedbacks (id, app_id, conversation_id, message_id, end_user_id, \
                 rating, content, from_source, from_account_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                crate::vals![new_id(), &msg.app_id, &msg.conversation_id, &msg.id, author_id, r,
                    content, source, account, ts],
            ),
        };
        self.apply(vec![stmt]).await?;
        Ok(existing.is_some())
    }

    /// An app's messages created in `[start, end)`, for the statistics.
    pub async fn stat_messages(
        &self,
        app_id: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<StatMessage>> {
        let rows = sqlx::query(
            "SELECT created_at, conversation_id, end_user_id, message_tokens, answer_tokens, \
             total_price, provider_response_latency FROM messages \
             WHERE app_id = $1 AND created_at >= $2 AND created_at < $3 AND from_source <> 'console' \
             ORDER BY created_at",
        )
        .bind(app_id)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let prompt: i64 = r.try_get("message_tokens")?;
                let answer: i64 = r.try_get("answer_tokens")?;
                Ok(StatMessage {
                    created_at: r.try_get("created_at")?,
                    conversation_id: r.try_get("conversation_id")?,
                    end_user_id: r.try_get("end_user_id")?,
                    tokens: prompt + answer,
                    total_price: r.try_get("total_price")?,
                    latency: r.try_get("provider_response_latency")?,
                    answer_tokens: answer,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    /// An app's workflow runs created in `[start, end)`: (created_at, end user, tokens).
    pub async fn stat_runs(
        &self,
        app_id: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Option<String>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT created_at, created_by_end_user_id, total_tokens FROM workflow_runs \
             WHERE app_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at",
        )
        .bind(app_id)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Likes given by end users to an app's messages created in `[start, end)`: (message
    /// created_at) per like.
    pub async fn stat_likes(&self, app_id: &str, start: i64, end: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT m.created_at FROM message_feedbacks f JOIN messages m ON m.id = f.message_id \
             WHERE f.app_id = $1 AND f.rating = 'like' AND f.from_source = 'user' \
             AND m.created_at >= $2 AND m.created_at < $3",
        )
        .bind(app_id)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Who gives a feedback.
#[derive(Clone, Copy, Debug)]
pub enum FeedbackAuthor<'a> {
    /// An end user (web app, Service API).
    EndUser(&'a str),
    /// A console account (an admin rating in the logs).
    Account(&'a str),
}

fn feedback(r: &AnyRow) -> sqlx::Result<MessageFeedback> {
    Ok(MessageFeedback {
        message_id: r.try_get("message_id")?,
        rating: r.try_get("rating")?,
        content: r.try_get("content")?,
        from_source: r.try_get("from_source")?,
        end_user_id: r.try_get("end_user_id")?,
        from_account_id: r.try_get("from_account_id")?,
    })
}
