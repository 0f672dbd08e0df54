//! The web-app visitor's own history: conversations (pinned and not), renaming, deleting,
//! messages with their feedback, follow-up questions, saved completions, and file uploads.
//! Everything here belongs to the passport's end user; another visitor's conversation or
//! message is not found.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::{AuthKind, Body, BoxError, RouteMeta};

use super::generate::require_chat;
use super::{visitor, PASSPORT};
use crate::console::logs::rate;
use crate::dsl::AppMode;
use crate::error::{console_messages, messages, ConsoleError, ServiceError};
use crate::reply::{created, no_content, ok, success};
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::runtime::LoadedApp;
use crate::service_api::conversations::{conversation_json, new_name};
use crate::service_api::files::{read_multipart, upload_body_limit, upload_json};
use crate::service_api::messages::{message_items, suggestions, suggestions_enabled};
use crate::state::AppState;
use crate::store::{ConversationRow, ConversationSort, EndUserRow, FeedbackAuthor, MessageRow};
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let conv = &["conversation_id"];
    let msg = &["message_id"];
    let r = |m: Method, p: &'static str, h| Route::new(m, p, PASSPORT, h);
    vec![
        r(
            Method::GET,
            "/api/conversations",
            handler(state, conversations),
        ),
        r(
            Method::POST,
            "/api/conversations/{conversation_id}/name",
            handler(state, rename),
        )
        .uuids(conv),
        r(
            Method::DELETE,
            "/api/conversations/{conversation_id}",
            handler(state, delete),
        )
        .uuids(conv),
        r(
            Method::PATCH,
            "/api/conversations/{conversation_id}/pin",
            handler(state, pin),
        )
        .uuids(conv),
        r(
            Method::PATCH,
            "/api/conversations/{conversation_id}/unpin",
            handler(state, unpin),
        )
        .uuids(conv),
        r(Method::GET, "/api/messages", handler(state, messages_page)),
        r(
            Method::POST,
            "/api/messages/{message_id}/feedbacks",
            handler(state, feedback),
        )
        .uuids(msg),
        r(
            Method::GET,
            "/api/messages/{message_id}/suggested-questions",
            handler(state, suggested),
        )
        .uuids(msg),
        r(Method::GET, "/api/saved-messages", handler(state, saved)),
        r(Method::POST, "/api/saved-messages", handler(state, save)),
        r(
            Method::DELETE,
            "/api/saved-messages/{message_id}",
            handler(state, unsave),
        )
        .uuids(msg),
        Route::new(
            Method::POST,
            "/api/files/upload",
            RouteMeta::auth(AuthKind::Passport).body_limit(upload_body_limit(state)),
            handler(state, upload),
        ),
    ]
}

fn limit(q: &[(String, String)]) -> Result<i64, ServiceError> {
    crate::context::int_param(q, "limit", 20, 1, 100)
}

async fn conversations(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    let limit = limit(&q)?;
    let pinned = match query_param(&q, "pinned").as_deref() {
        None | Some("") => None,
        Some(v) => Some(
            crate::console::lax_bool(v)
                .ok_or_else(|| ServiceError::invalid("pinned must be a boolean"))?,
        ),
    };
    let sort = match query_param(&q, "sort_by").filter(|s| !s.is_empty()) {
        None => ConversationSort::UpdatedDesc,
        Some(s) => ConversationSort::parse(&s).ok_or_else(|| {
            ServiceError::invalid(
                "sort_by must be one of created_at, -created_at, updated_at, -updated_at",
            )
        })?,
    };
    let last_gone = || ServiceError::not_found(messages::LAST_CONVERSATION_NOT_EXISTS);
    let last_id = match query_param(&q, "last_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(id) => Some(canonical_uuid(&id).ok_or_else(last_gone)?),
    };
    let (rows, has_more) = state
        .store()
        .conversations(
            &app.row.id,
            &user.id,
            sort,
            last_id.as_deref(),
            limit,
            pinned,
        )
        .await?
        .ok_or_else(last_gone)?;
    let data: Vec<Value> = rows.iter().map(conversation_json).collect();
    Ok(ok(
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn owned(
    state: &AppState,
    app: &LoadedApp,
    user: &EndUserRow,
    id: &str,
) -> Result<ConversationRow, BoxError> {
    state
        .store()
        .conversation(&app.row.id, &user.id, &id.to_lowercase())
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS).into())
}

async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (app, user) = visitor(&state, &req).await?;
    let body = json_object(req).await?;
    require_chat(&app)?;
    let c = owned(&state, &app, &user, &id).await?;
    let auto = body
        .get("auto_generate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let name = body.get("name").and_then(Value::as_str).map(str::to_owned);
    let name = new_name(&state, &app, &c, auto, name).await?;
    state.store().rename_conversation(&c.id, &name).await?;
    let c = owned(&state, &app, &user, &c.id).await?;
    Ok(ok(&conversation_json(&c)))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    let c = owned(&state, &app, &user, &id).await?;
    state.store().delete_conversation(&c.id).await?;
    Ok(no_content())
}

async fn pin(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id");
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    let c = owned(&state, &app, &user, &id).await?;
    state.store().pin_conversation(&c.id, &user.id).await?;
    Ok(success())
}

async fn unpin(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "conversation_id").to_lowercase();
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    state.store().unpin_conversation(&id, &user.id).await?;
    Ok(success())
}

async fn messages_page(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    let limit = limit(&q)?;
    let id = query_param(&q, "conversation_id").unwrap_or_default();
    let c = owned(&state, &app, &user, &id).await?;
    let first_gone = || ServiceError::not_found(messages::FIRST_MESSAGE_NOT_EXISTS);
    let first = match query_param(&q, "first_id").filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => Some(canonical_uuid(&f).ok_or_else(first_gone)?),
    };
    let (rows, has_more) = state
        .store()
        .messages_page(&c.id, first.as_deref(), limit)
        .await?
        .ok_or_else(first_gone)?;
    let mut data = message_items(&state, &user.id, &rows).await?;
    for (item, m) in data.iter_mut().zip(&rows) {
        let mut meta: Value = serde_json::from_str(&m.metadata).unwrap_or(Value::Null);
        if let Some(o) = meta.as_object_mut() {
            o.remove("usage");
            o.remove("annotation_reply");
        }
        item["metadata"] = meta;
    }
    Ok(ok(
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn message_of(
    state: &AppState,
    app: &LoadedApp,
    user: &EndUserRow,
    id: &str,
) -> Result<MessageRow, BoxError> {
    state
        .store()
        .message(&app.row.id, &user.id, &id.to_lowercase())
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::MESSAGE_NOT_EXISTS).into())
}

async fn feedback(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id");
    let (app, user) = visitor(&state, &req).await?;
    let body = json_object(req).await?;
    let m = message_of(&state, &app, &user, &id).await?;
    rate(&state, &m, FeedbackAuthor::EndUser(&user.id), &body).await?;
    Ok(success())
}

async fn suggested(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id");
    let (app, user) = visitor(&state, &req).await?;
    require_chat(&app)?;
    let m = message_of(&state, &app, &user, &id).await?;
    if !suggestions_enabled(&app) {
        return Err(ConsoleError::SuggestedQuestionsDisabled(
            console_messages::SUGGESTED_QUESTIONS_DISABLED_WEB,
        )
        .into());
    }
    Ok(ok(&json!({"data": suggestions(&state, &app, &m).await?})))
}

fn require_completion(app: &LoadedApp) -> Result<(), ConsoleError> {
    (app.mode == AppMode::Completion)
        .then_some(())
        .ok_or(ConsoleError::NotCompletionApp)
}

async fn saved(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let (app, user) = visitor(&state, &req).await?;
    require_completion(&app)?;
    let limit = limit(&q)?;
    let last = query_param(&q, "last_id").filter(|l| !l.is_empty());
    let (rows, has_more) = state
        .store()
        .saved_messages(&app.row.id, &user.id, last.as_deref(), limit)
        .await?
        .ok_or_else(|| ServiceError::not_found("Last message not found"))?;
    let items = message_items(&state, &user.id, &rows).await?;
    let data: Vec<Value> = items
        .into_iter()
        .map(|m| {
            json!({"id": m["id"], "inputs": m["inputs"], "query": m["query"], "answer": m["answer"],
                "message_files": m["message_files"], "feedback": m["feedback"],
                "created_at": m["created_at"]})
        })
        .collect();
    Ok(ok(
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn save(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let body = json_object(req).await?;
    require_completion(&app)?;
    let id = body
        .get("message_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let m = message_of(&state, &app, &user, id).await?;
    state
        .store()
        .save_message(&app.row.id, &m.id, &user.id)
        .await?;
    Ok(success())
}

async fn unsave(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "message_id").to_lowercase();
    let (app, user) = visitor(&state, &req).await?;
    require_completion(&app)?;
    state.store().unsave_message(&id, &user.id).await?;
    Ok(no_content())
}

async fn upload(state: AppState, req: Request<Body>) -> HandlerResult {
    let (app, user) = visitor(&state, &req).await?;
    let (part, _) = read_multipart(&state, req).await?.single_file()?;
    let row = part
        .keep(&state, &app.row.workspace_id, Some(&app.row.id), &user.id)
        .await?;
    state.store().insert_upload_file(&row).await?;
    Ok(created(&upload_json(&state, &row)))
}
