//! The console's message history and logs: a conversation's messages as `MessageDetail`
//! (with the prompt sent to the model, every feedback and the usage), one message,
//! follow-up questions, admin feedback, and the conversation and generation logs with their
//! filters. Time filters are in the account's time zone.

use std::collections::HashMap;

use chrono::TimeZone;
use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError};

use super::{caller_and_app, object_or_empty, require_modes, text, Caller, CHAT_MODES, USER};
use crate::dsl::AppMode;
use crate::error::{console_messages, messages, ConsoleError, ServiceError};
use crate::reply::{no_content, ok, success};
use crate::request::{path_param, query_pairs, query_param};
use crate::runtime::LoadedApp;
use crate::service_api::messages::{message_items, suggestions, suggestions_enabled, NIL_UUID};
use crate::state::AppState;
use crate::store::{ConversationLog, FeedbackAuthor, LogFilter, MessageRow};
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let id = &["app_id"];
    let r = |m: Method, p: &'static str, h| Route::new(m, p, USER, h).uuids(id);
    vec![
        r(
            Method::GET,
            "/console/api/apps/{app_id}/chat-messages",
            handler(state, history),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/messages/{message_id}",
            handler(state, one_message),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/chat-messages/{message_id}/suggested-questions",
            handler(state, suggested),
        ),
        r(
            Method::POST,
            "/console/api/apps/{app_id}/feedbacks",
            handler(state, feedback),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/chat-conversations",
            handler(state, chat_logs),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/chat-conversations/{conversation_id}",
            handler(state, chat_log),
        ),
        r(
            Method::DELETE,
            "/console/api/apps/{app_id}/chat-conversations/{conversation_id}",
            handler(state, delete_log),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/completion-conversations",
            handler(state, completion_logs),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/completion-conversations/{conversation_id}",
            handler(state, completion_log),
        ),
    ]
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The prompt a message sent, as the log shows it; never empty, and its last entry has a
/// role (the console reads both without checking).
fn prompt_of(m: &MessageRow) -> Value {
    match m.prompt.as_deref().map(json_text) {
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a),
        _ => json!([{"role": "user", "text": m.query, "files": []}]),
    }
}

/// Messages as `MessageDetail`.
pub async fn message_details(
    state: &AppState,
    rows: &[MessageRow],
) -> Result<Vec<Value>, BoxError> {
    let store = state.store();
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let feedbacks = store.message_feedbacks(&ids).await?;
    let authors: Vec<String> = feedbacks
        .iter()
        .filter_map(|f| f.from_account_id.clone())
        .collect();
    let names: HashMap<String, String> = store.account_names(&authors).await?.into_iter().collect();
    // The shared part (files, agent thoughts, resources) as the Service API shows it.
    let base = message_items(state, "", rows).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (m, item) in rows.iter().zip(base) {
        let Value::Object(mut item) = item else {
            continue;
        };
        let list: Vec<Value> = feedbacks
            .iter()
            .filter(|f| f.message_id == m.id)
            .map(|f| {
                let account = f
                    .from_account_id
                    .as_ref()
                    .map(|a| json!({"id": a, "name": names.get(a), "email": null}));
                json!({"rating": f.rating, "content": f.content, "from_source": f.from_source,
                    "from_end_user_id": (f.from_source == "user").then_some(&f.end_user_id),
                    "from_account": account})
            })
            .collect();
        let console = m.from_source == "console";
        let extra = json!({
            "parent_message_id": m.parent_message_id.clone().unwrap_or_else(|| NIL_UUID.to_owned()),
            "message": prompt_of(m), "message_tokens": m.message_tokens,
            "answer_tokens": m.answer_tokens, "provider_response_latency": m.latency,
            "from_source": if console { "console" } else { "api" },
            "from_end_user_id": (!console).then_some(&m.end_user_id),
            "from_account_id": m.from_account_id, "feedbacks": list,
            "workflow_run_id": m.workflow_run_id, "annotation": null,
            "annotation_hit_history": null, "metadata": json_text(&m.metadata),
        });
        item.remove("feedback");
        if let Value::Object(extra) = extra {
            item.extend(extra);
        }
        out.push(Value::Object(item));
    }
    Ok(out)
}

fn limit_param(q: &[(String, String)]) -> Result<i64, ServiceError> {
    match query_param(q, "limit").filter(|l| !l.is_empty()) {
        None => Ok(20),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ServiceError::invalid("limit must be an integer from 1 to 100")),
    }
}

async fn history(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &CHAT_MODES)?;
    let limit = limit_param(&q)?;
    let not_found = || ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS);
    let conversation_id = query_param(&q, "conversation_id")
        .and_then(|c| canonical_uuid(&c))
        .ok_or_else(not_found)?;
    let store = state.store();
    let c = store
        .app_conversation(&app.row.id, &conversation_id)
        .await?
        .ok_or_else(not_found)?;
    let first = query_param(&q, "first_id").filter(|f| !f.is_empty());
    let (rows, has_more) = store
        .messages_page(&c.id, first.as_deref(), limit)
        .await?
        .ok_or_else(|| ServiceError::not_found("First message not found"))?;
    let data = message_details(&state, &rows).await?;
    Ok(ok(
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn message_of(state: &AppState, app: &LoadedApp, id: &str) -> Result<MessageRow, BoxError> {
    let not_found = || ServiceError::not_found(messages::MESSAGE_NOT_EXISTS);
    let id = canonical_uuid(id).ok_or_else(not_found)?;
    state
        .store()
        .app_message(&app.row.id, &id)
        .await?
        .ok_or_else(|| not_found().into())
}

async fn one_message(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id");
    let (_, app) = caller_and_app(&state, &req).await?;
    let m = message_of(&state, &app, &id).await?;
    let mut details = message_details(&state, std::slice::from_ref(&m)).await?;
    Ok(ok(&details.pop().unwrap_or(Value::Null)))
}

async fn suggested(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id");
    let (_, app) = caller_and_app(&state, &req).await?;
    require_modes(&app, &CHAT_MODES)?;
    let m = message_of(&state, &app, &id)
        .await
        .map_err(|_| ServiceError::not_found("Message not found"))?;
    if !suggestions_enabled(&app) {
        return Err(ConsoleError::SuggestedQuestionsDisabled(
            console_messages::SUGGESTED_QUESTIONS_DISABLED,
        )
        .into());
    }
    Ok(ok(&json!({"data": suggestions(&state, &app, &m).await?})))
}

/// Sets the body's rating (`like`, `dislike`, or `null` to remove) as the author's.
pub async fn rate(
    state: &AppState,
    m: &MessageRow,
    author: FeedbackAuthor<'_>,
    body: &Map<String, Value>,
) -> Result<(), BoxError> {
    let rating = match body.get("rating") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r == "like" || r == "dislike" => Some(r.as_str()),
        Some(_) => {
            return Err(ServiceError::invalid("rating must be like, dislike or null").into())
        }
    };
    let content = text(body, "content");
    let existed = state
        .store()
        .set_feedback(m, &author, rating, content.as_deref())
        .await?;
    if rating.is_none() && !existed {
        return Err(ServiceError::invalid("rating cannot be null when no feedback exists").into());
    }
    Ok(())
}

async fn feedback(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    let body = object_or_empty(req).await?;
    let id = text(&body, "message_id").unwrap_or_default();
    let m = message_of(&state, &app, &id).await?;
    rate(
        &state,
        &m,
        FeedbackAuthor::Account(&caller.account_id),
        &body,
    )
    .await?;
    Ok(success())
}

/// `YYYY-MM-DD HH:MM` in `tz` as Unix seconds; `end` bounds are inclusive to the minute.
fn minute(value: &str, tz: chrono_tz::Tz, end: bool) -> Result<i64, ServiceError> {
    let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M")
        .map_err(|_| ServiceError::BadRequest(format!("Invalid time: {value}").into()))?;
    let at = tz
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| ServiceError::BadRequest(format!("Invalid time: {value}").into()))?
        .timestamp();
    Ok(if end { at + 60 } else { at })
}

/// The account's time zone (UTC when unknown).
pub async fn account_tz(state: &AppState, caller: &Caller) -> Result<chrono_tz::Tz, BoxError> {
    let tz = state
        .store()
        .account(&caller.account_id)
        .await?
        .map(|a| a.timezone)
        .unwrap_or_default();
    Ok(tz.parse().unwrap_or(chrono_tz::UTC))
}

/// The filter and page of a logs query.
async fn log_query(
    state: &AppState,
    caller: &Caller,
    q: &[(String, String)],
    sortable: bool,
) -> Result<(LogFilter, i64, i64, bool), BoxError> {
    let int = |key: &str, default: i64, max: i64| -> Result<i64, ServiceError> {
        match query_param(q, key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ServiceError::invalid(format!("{key} must be an integer from 1 to {max}"))
                }),
        }
    };
    let page = int("page", 1, 99_999)?;
    let limit = int("limit", 20, 100)?;
    let tz = account_tz(state, caller).await?;
    let at = |key: &str, end: bool| -> Result<Option<i64>, ServiceError> {
        query_param(q, key)
            .filter(|v| !v.is_empty())
            .map(|v| minute(&v, tz, end))
            .transpose()
    };
    let sort_by = if sortable {
        match query_param(q, "sort_by").filter(|s| !s.is_empty()) {
            None => "-updated_at".to_owned(),
            Some(s)
                if ["created_at", "-created_at", "updated_at", "-updated_at"]
                    .contains(&s.as_str()) =>
            {
                s
            }
            Some(s) => return Err(ServiceError::invalid(format!("Invalid sort_by: {s}")).into()),
        }
    } else {
        "-created_at".to_owned()
    };
    let annotated = match query_param(q, "annotation_status").as_deref() {
        None | Some("" | "all" | "not_annotated") => false,
        Some("annotated") => true,
        Some(other) => {
            return Err(ServiceError::invalid(format!("Invalid annotation_status: {other}")).into())
        }
    };
    let filter = LogFilter {
        keyword: query_param(q, "keyword").filter(|k| !k.is_empty()),
        start: at("start", false)?,
        end: at("end", true)?,
        sort_by,
        exclude_debugger: false,
    };
    Ok((filter, page, limit, annotated))
}

fn stats_json((like, dislike): (i64, i64)) -> Value {
    json!({"like": like, "dislike": dislike})
}

fn model_config_lite(app: &LoadedApp) -> Value {
    let mc = app.dsl.get("model_config");
    json!({"model": mc.and_then(|m| m.get("model")), "pre_prompt": mc.and_then(|m| m.get("pre_prompt"))})
}

async fn account_name(state: &AppState, id: Option<&String>) -> Result<Option<String>, BoxError> {
    Ok(match id {
        Some(id) => state.store().account(id).await?.map(|a| a.name),
        None => None,
    })
}

async fn chat_log_json(
    state: &AppState,
    app: &LoadedApp,
    l: &ConversationLog,
) -> Result<Value, BoxError> {
    let c = &l.conversation;
    let console = c.from_source == "console";
    let summary = l.first.as_ref().map_or(String::new(), |m| m.query.clone());
    Ok(
        json!({"id": c.id, "status": c.status, "from_source": if console { "console" } else { "api" },
        "from_end_user_id": (!console).then_some(&c.end_user_id),
        "from_end_user_session_id": (!console).then_some(l.session_id.clone()).flatten(),
        "from_account_id": c.from_account_id,
        "from_account_name": account_name(state, c.from_account_id.as_ref()).await?,
        "name": c.name, "summary": summary, "read_at": c.read_at,
        "created_at": c.created_at, "updated_at": c.updated_at, "annotated": false,
        "model_config": model_config_lite(app), "message_count": l.message_count,
        "user_feedback_stats": stats_json(l.user_feedback),
        "admin_feedback_stats": stats_json(l.admin_feedback), "status_count": null}),
    )
}

async fn chat_logs(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &CHAT_MODES)?;
    let (mut filter, page, limit, annotated) = log_query(&state, &caller, &q, true).await?;
    filter.exclude_debugger = app.mode == AppMode::AdvancedChat;
    // weir keeps no annotations: nothing is annotated.
    let (rows, total) = if annotated {
        (Vec::new(), 0)
    } else {
        state
            .store()
            .conversation_logs(&app.row.id, &filter, (page, limit))
            .await?
    };
    let mut data = Vec::with_capacity(rows.len());
    for l in &rows {
        data.push(chat_log_json(&state, &app, l).await?);
    }
    Ok(ok(&json!({"page": page, "limit": limit, "total": total,
        "has_more": page * limit < total, "data": data})))
}

async fn conversation_in_path(
    state: &AppState,
    app: &LoadedApp,
    req_id: &str,
) -> Result<crate::store::ConversationRow, BoxError> {
    let not_found = || ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS);
    let id = canonical_uuid(req_id).ok_or_else(not_found)?;
    state
        .store()
        .app_conversation(&app.row.id, &id)
        .await?
        .ok_or_else(|| not_found().into())
}

async fn chat_log(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let c = conversation_in_path(&state, &app, &id).await?;
    let store = state.store();
    store.mark_conversation_read(&c.id).await?;
    let l = store.conversation_log(c).await?;
    let c = &l.conversation;
    let console = c.from_source == "console";
    Ok(ok(
        &json!({"id": c.id, "status": c.status, "from_source": if console { "console" } else { "api" },
        "from_end_user_id": (!console).then_some(&c.end_user_id), "from_account_id": c.from_account_id,
        "created_at": c.created_at, "updated_at": c.updated_at, "annotated": false,
        "introduction": c.introduction, "model_config": model_config_full(&app),
        "message_count": l.message_count, "user_feedback_stats": stats_json(l.user_feedback),
        "admin_feedback_stats": stats_json(l.admin_feedback)}),
    ))
}

/// `ModelConfigLite` of a conversation's detail.
fn model_config_full(app: &LoadedApp) -> Value {
    let mc = app.dsl.get("model_config");
    let get = |k: &str| mc.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    json!({"opening_statement": get("opening_statement"), "suggested_questions": get("suggested_questions"),
        "model": get("model"), "user_input_form": get("user_input_form"), "pre_prompt": get("pre_prompt"),
        "agent_mode": get("agent_mode")})
}

async fn delete_log(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let c = conversation_in_path(&state, &app, &id).await?;
    state.store().delete_conversation(&c.id).await?;
    Ok(no_content())
}

async fn completion_logs(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &[AppMode::Completion])?;
    let (filter, page, limit, annotated) = log_query(&state, &caller, &q, false).await?;
    let (rows, total) = if annotated {
        (Vec::new(), 0)
    } else {
        state
            .store()
            .conversation_logs(&app.row.id, &filter, (page, limit))
            .await?
    };
    let mut data = Vec::with_capacity(rows.len());
    for l in &rows {
        let c = &l.conversation;
        let console = c.from_source == "console";
        let message = l.first.as_ref().map(|m| {
            let prompt = prompt_of(m);
            let first_text = prompt.get(0).and_then(|p| p.get("text")).cloned();
            json!({"inputs": json_text(&m.inputs), "query": m.query, "message": first_text, "answer": m.answer})
        });
        data.push(json!({"id": c.id, "status": c.status,
            "from_source": if console { "console" } else { "api" },
            "from_end_user_id": (!console).then_some(&c.end_user_id),
            "from_end_user_session_id": (!console).then_some(l.session_id.clone()).flatten(),
            "from_account_id": c.from_account_id,
            "from_account_name": account_name(&state, c.from_account_id.as_ref()).await?,
            "read_at": c.read_at, "created_at": c.created_at, "updated_at": c.updated_at,
            "annotation": null, "model_config": model_config_lite(&app),
            "user_feedback_stats": stats_json(l.user_feedback),
            "admin_feedback_stats": stats_json(l.admin_feedback), "message": message}));
    }
    Ok(ok(&json!({"page": page, "limit": limit, "total": total,
        "has_more": page * limit < total, "data": data})))
}

async fn completion_log(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    require_modes(&app, &[AppMode::Completion])?;
    let c = conversation_in_path(&state, &app, &id).await?;
    let store = state.store();
    store.mark_conversation_read(&c.id).await?;
    let first = store
        .messages_page(&c.id, None, 1)
        .await?
        .and_then(|(rows, _)| rows.into_iter().next());
    let message = match first {
        Some(m) => message_details(&state, std::slice::from_ref(&m))
            .await?
            .pop(),
        None => None,
    };
    let console = c.from_source == "console";
    Ok(ok(&json!({"id": c.id, "status": c.status,
        "from_source": if console { "console" } else { "api" },
        "from_end_user_id": (!console).then_some(&c.end_user_id), "from_account_id": c.from_account_id,
        "created_at": c.created_at, "model_config": model_config_full(&app), "message": message})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_minutes_in_the_accounts_zone() {
        // 09:00 in Tokyo is midnight UTC; an end bound takes its whole minute.
        assert_eq!(
            minute("2026-01-01 09:00", chrono_tz::Asia::Tokyo, false).unwrap(),
            1_767_225_600
        );
        assert_eq!(
            minute("2026-01-01 00:00", chrono_tz::UTC, true).unwrap(),
            1_767_225_660
        );
        assert!(minute("yesterday", chrono_tz::UTC, false).is_err());
    }
}
