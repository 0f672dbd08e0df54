//! Message history, feedback and suggested questions.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, AuthKind, Body, RouteMeta};

use crate::context::{current_app, end_user, int_param, require_chat, required_user};
use crate::error::{messages, ServiceError};
use crate::request::{json_object, path_param, query_pairs, query_param, user_string};
use crate::runtime::naming;
use crate::state::AppState;
use crate::store::MessageRow;
use crate::util::iso;
use crate::{handler, HandlerResult, Route};
use weir_core::model::Models;

const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);
/// Dify's parent id of Service-API messages.
pub const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/messages", APP_KEY, handler(state, list)),
        Route::new(
            Method::POST,
            "/v1/messages/{message_id}/feedbacks",
            APP_KEY,
            handler(state, feedback),
        )
        .uuids(&["message_id"]),
        Route::new(
            Method::GET,
            "/v1/messages/{message_id}/suggested",
            APP_KEY,
            handler(state, suggested),
        )
        .uuids(&["message_id"]),
        Route::new(
            Method::GET,
            "/v1/app/feedbacks",
            APP_KEY,
            handler(state, app_feedbacks),
        ),
    ]
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A message as `GET /messages` shows it.
pub async fn message_items(
    state: &AppState,
    end_user_id: &str,
    rows: &[MessageRow],
) -> Result<Vec<Value>, weir_layers::BoxError> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let ratings = state.store().feedback_ratings(end_user_id, &ids).await?;
    let files = state.store().message_files(&ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let meta = json_text(&m.metadata);
        let feedback = ratings
            .iter()
            .find(|(id, _)| id == &m.id)
            .map(|(_, r)| json!({"rating": r}))
            .unwrap_or(Value::Null);
        let mut message_files = Vec::new();
        for f in files.iter().filter(|f| f.message_id == m.id) {
            let upload = match &f.upload_file_id {
                Some(id) => state.store().upload_file_by_trusted_id(id).await?,
                None => None,
            };
            message_files.push(json!({
                "id": f.id,
                "filename": upload.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
                "type": f.kind,
                "url": upload.as_ref().map(|u| crate::service_api::files::signed_url(state, &u.id)).or(f.url.clone()),
                "mime_type": upload.as_ref().map(|u| u.mime_type.clone()),
                "size": upload.as_ref().map_or(-1, |u| u.size),
                "transfer_method": f.transfer_method,
                "belongs_to": f.belongs_to,
                "upload_file_id": f.upload_file_id,
            }));
        }
        let thoughts: Vec<Value> = json_text(&m.agent_thoughts)
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        json!({"id": t["id"], "chain_id": null, "message_id": m.id, "position": t["position"],
                            "thought": t["thought"], "tool": t["tool"], "tool_labels": t["tool_labels"],
                            "tool_input": t["tool_input"], "created_at": t["created_at"],
                            "observation": t["observation"], "files": t["files"]})
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut item = Map::new();
        item.insert("id".into(), m.id.clone().into());
        item.insert("conversation_id".into(), m.conversation_id.clone().into());
        item.insert("parent_message_id".into(), NIL_UUID.into());
        item.insert("inputs".into(), json_text(&m.inputs));
        item.insert("query".into(), m.query.clone().into());
        item.insert("answer".into(), m.answer.clone().into());
        item.insert("feedback".into(), feedback);
        item.insert(
            "retriever_resources".into(),
            meta.get("retriever_resources")
                .cloned()
                .unwrap_or_else(|| json!([])),
        );
        item.insert("created_at".into(), m.created_at.into());
        item.insert("agent_thoughts".into(), Value::Array(thoughts));
        item.insert("message_files".into(), Value::Array(message_files));
        item.insert("status".into(), m.status.clone().into());
        item.insert("error".into(), m.error.clone().into());
        item.insert("extra_contents".into(), json!([]));
        out.push(Value::Object(item));
    }
    Ok(out)
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let user = end_user(&state, &app, query_param(&q, "user").as_deref()).await?;
    require_chat(&app)?;
    let conversation_id = query_param(&q, "conversation_id")
        .ok_or_else(|| ServiceError::invalid("conversation_id is required"))?;
    let limit = int_param(&q, "limit", 20, 1, 100)?;
    let first_id = query_param(&q, "first_id").filter(|s| !s.is_empty());
    if conversation_id.is_empty() {
        return Ok(body::json(
            StatusCode::OK,
            &json!({"limit": limit, "has_more": false, "data": []}),
        ));
    }
    let conversation_id = crate::util::canonical_uuid(&conversation_id)
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS))?;
    state
        .store()
        .conversation(&app.row.id, &user.id, &conversation_id)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS))?;
    let first_id = match first_id {
        Some(f) => Some(
            crate::util::canonical_uuid(&f)
                .ok_or_else(|| ServiceError::not_found(messages::FIRST_MESSAGE_NOT_EXISTS))?,
        ),
        None => None,
    };
    let (rows, has_more) = state
        .store()
        .messages_page(&conversation_id, first_id.as_deref(), limit)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::FIRST_MESSAGE_NOT_EXISTS))?;
    let data = message_items(&state, &user.id, &rows).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"limit": limit, "has_more": has_more, "data": data}),
    ))
}

async fn feedback(state: AppState, req: Request<Body>) -> HandlerResult {
    let message_id = path_param(&req, "message_id");
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = required_user(user_string(body.get("user")))?;
    let user = end_user(&state, &app, Some(&user)).await?;
    let rating = match body.get("rating") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r == "like" || r == "dislike" => Some(r.clone()),
        Some(_) => {
            return Err(ServiceError::invalid("rating must be 'like', 'dislike' or null").into())
        }
    };
    let content = match body.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(ServiceError::invalid("content must be a string").into()),
    };
    let msg = state
        .store()
        .message(&app.row.id, &user.id, &message_id.to_lowercase())
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::MESSAGE_NOT_EXISTS))?;
    match rating {
        Some(r) => {
            state
                .store()
                .upsert_feedback(&msg, &r, content.as_deref())
                .await?
        }
        None => {
            if !state.store().delete_feedback(&msg.id, &user.id).await? {
                return Err(ServiceError::invalid(
                    "rating cannot be None when feedback not exists",
                )
                .into());
            }
        }
    }
    Ok(body::json(StatusCode::OK, &json!({"result": "success"})))
}

async fn app_feedbacks(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let page = int_param(&q, "page", 1, 1, i64::from(u32::MAX))?;
    let limit = int_param(&q, "limit", 20, 1, 101)?;
    let rows = state
        .store()
        .app_feedbacks(&app.row.id, page, limit)
        .await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|f| {
            json!({"id": f.id, "app_id": f.app_id, "conversation_id": f.conversation_id,
                "message_id": f.message_id, "rating": f.rating, "content": f.content,
                "from_source": f.from_source, "from_end_user_id": f.end_user_id,
                "from_account_id": null, "created_at": iso(f.created_at), "updated_at": iso(f.updated_at)})
        })
        .collect();
    Ok(body::json(StatusCode::OK, &json!({"data": data})))
}

/// Whether an app has suggested questions after answers switched on.
pub fn suggestions_enabled(app: &crate::runtime::LoadedApp) -> bool {
    app.features()
        .and_then(|f| f.get("suggested_questions_after_answer"))
        .and_then(|s| s.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Follow-up questions for a message, from the app's model and the turns up to it (none
/// when the model is not configured).
pub async fn suggestions(
    state: &AppState,
    app: &crate::runtime::LoadedApp,
    msg: &MessageRow,
) -> Result<Vec<String>, weir_layers::BoxError> {
    let Some(spec) = app.model() else {
        return Ok(Vec::new());
    };
    let Ok(client) = state.providers().get(&spec.provider, &spec.name) else {
        return Ok(Vec::new());
    };
    let mut turns = state
        .store()
        .history(&msg.conversation_id, &crate::util::new_id(), 3)
        .await?;
    turns.retain(|m| m.created_at <= msg.created_at);
    let turns: Vec<(String, String)> = turns.into_iter().map(|m| (m.query, m.answer)).collect();
    Ok(naming::suggest_questions(&*client, &spec.name, &turns).await)
}

async fn suggested(state: AppState, req: Request<Body>) -> HandlerResult {
    let message_id = path_param(&req, "message_id").to_lowercase();
    let app = current_app(&state, &req).await?;
    let q = query_pairs(&req);
    let user = required_user(query_param(&q, "user"))?;
    let user = end_user(&state, &app, Some(&user)).await?;
    require_chat(&app)?;
    let msg = state
        .store()
        .message(&app.row.id, &user.id, &message_id)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::MESSAGE_NOT_EXISTS))?;
    if !suggestions_enabled(&app) {
        return Err(ServiceError::BadRequest("Suggested Questions Is Disabled.".into()).into());
    }
    let questions = suggestions(&state, &app, &msg).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"result": "success", "data": questions}),
    ))
}
