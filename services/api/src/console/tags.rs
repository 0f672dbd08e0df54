//! Tags in the console: app and knowledge tags of the workspace, and binding them to apps
//! and datasets. The same tags as the knowledge API's (one table, one name per type).

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError};

use super::{object_or_empty, text, Caller, USER};
use crate::datasets::tags::{KNOWLEDGE, MAX_TAG_NAME};
use crate::error::ServiceError;
use crate::knowledge::messages;
use crate::reply::{no_content, ok, success};
use crate::request::{path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::store::{OrConflict, TagRow};
use crate::{handler, HandlerResult, Route};

/// The tag type of app tags.
pub const APP: &str = "app";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let tag = &["tag_id"];
    vec![
        Route::new(Method::GET, "/console/api/tags", USER, handler(state, list)),
        Route::new(
            Method::POST,
            "/console/api/tags",
            USER,
            handler(state, create),
        ),
        Route::new(
            Method::PATCH,
            "/console/api/tags/{tag_id}",
            USER,
            handler(state, rename),
        )
        .uuids(tag),
        Route::new(
            Method::DELETE,
            "/console/api/tags/{tag_id}",
            USER,
            handler(state, delete),
        )
        .uuids(tag),
        Route::new(
            Method::POST,
            "/console/api/tag-bindings",
            USER,
            handler(state, bind),
        ),
        Route::new(
            Method::POST,
            "/console/api/tag-bindings/remove",
            USER,
            handler(state, unbind),
        ),
    ]
}

/// A tag as the console shows it (`binding_count` is a string, as in Dify 1.14).
pub fn tag_json(t: &TagRow) -> Value {
    json!({"id": t.id, "name": t.name, "type": t.kind, "binding_count": t.bindings.to_string()})
}

fn tag_type(body: &Map<String, Value>) -> Result<String, ServiceError> {
    match text(body, "type").as_deref() {
        Some(t @ (APP | KNOWLEDGE)) => Ok(t.to_owned()),
        _ => Err(ServiceError::invalid("type must be app or knowledge")),
    }
}

fn tag_name(body: &Map<String, Value>) -> Result<String, ServiceError> {
    let n = text(body, "name").unwrap_or_default();
    if n.trim().is_empty() || n.chars().count() > MAX_TAG_NAME {
        return Err(ServiceError::invalid(format!(
            "Tag name must be between 1 and {MAX_TAG_NAME} characters."
        )));
    }
    Ok(n)
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let q = query_pairs(&req);
    let kind = query_param(&q, "type").filter(|t| !t.is_empty());
    let keyword = query_param(&q, "keyword").map(|k| k.to_lowercase());
    let mut tags = state
        .store()
        .tags_of(&caller.workspace_id, kind.as_deref())
        .await?;
    tags.reverse(); // newest first
    let data: Vec<Value> = tags
        .iter()
        .filter(|t| {
            keyword
                .as_deref()
                .is_none_or(|k| t.name.to_lowercase().contains(k))
        })
        .map(tag_json)
        .collect();
    Ok(ok(&Value::Array(data)))
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let (name, kind) = (tag_name(&body)?, tag_type(&body)?);
    let taken = || ServiceError::invalid(messages::TAG_NAME_TAKEN);
    let store = state.store();
    if store
        .tags(&caller.workspace_id, &kind)
        .await?
        .iter()
        .any(|t| t.name == name)
    {
        return Err(taken().into());
    }
    let id = store
        .insert_tag(&caller.workspace_id, &name, &kind)
        .await
        .or_conflict(taken)?;
    Ok(ok(&tag_json(&TagRow {
        id,
        name,
        kind,
        bindings: 0,
    })))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<TagRow, BoxError> {
    state
        .store()
        .tags_of(&caller.workspace_id, None)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ServiceError::not_found(messages::TAG_NOT_FOUND).into())
}

/// Renames a tag; `type` may be left out (the 1.14 console sends only `name`).
async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let id = path_param(&req, "tag_id").to_lowercase();
    let body = object_or_empty(req).await?;
    let name = tag_name(&body)?;
    let mut tag = find(&state, &caller, &id).await?;
    let taken = || ServiceError::invalid(messages::TAG_NAME_TAKEN);
    let store = state.store();
    if store
        .tags(&caller.workspace_id, &tag.kind)
        .await?
        .iter()
        .any(|t| t.name == name && t.id != id)
    {
        return Err(taken().into());
    }
    store.rename_tag(&id, &name).await.or_conflict(taken)?;
    tag.name = name;
    Ok(ok(&tag_json(&tag)))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let id = path_param(&req, "tag_id").to_lowercase();
    find(&state, &caller, &id).await?;
    state.store().delete_tag(&id).await?;
    Ok(no_content())
}

/// The body of a binding call: its tags (of the workspace and the type) and its target.
async fn binding(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<(String, Vec<String>, String), BoxError> {
    let kind = tag_type(body)?;
    let target = text(body, "target_id")
        .map(|t| t.to_lowercase())
        .ok_or_else(|| ServiceError::invalid("target_id is required"))?;
    let wanted: Vec<String> = body
        .get("tag_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let known = state.store().tags(&caller.workspace_id, &kind).await?;
    let ids = wanted
        .into_iter()
        .filter(|w| known.iter().any(|t| &t.id == w))
        .collect();
    let store = state.store();
    let exists = if kind == APP {
        super::app_of(state, caller, &target).await.is_ok()
    } else {
        store
            .dataset(&caller.workspace_id, &target)
            .await?
            .is_some()
    };
    if !exists {
        return Err(ServiceError::not_found("Target not found.").into());
    }
    Ok((kind, ids, target))
}

async fn bind(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let (kind, ids, target) = binding(&state, &caller, &object_or_empty(req).await?).await?;
    let store = state.store();
    if kind == APP {
        store.bind_app_tags(&target, &ids).await?;
    } else {
        store.bind_tags(&ids, &target).await?;
    }
    Ok(success())
}

async fn unbind(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    if body
        .get("tag_ids")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(ServiceError::invalid("tag_ids is required").into());
    }
    let (kind, ids, target) = binding(&state, &caller, &body).await?;
    let store = state.store();
    if kind == APP {
        store.unbind_app_tags(&target, &ids).await?;
    } else {
        store.unbind_tags(&ids, &target).await?;
    }
    Ok(success())
}
