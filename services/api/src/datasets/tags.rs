//! Knowledge tags: list, create, rename, delete, bind to and unbind from datasets, and a
//! dataset's tags.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::Body;

use super::{dataset_gate, no_content, ok, opt_str, DATASET_KEY};
use crate::context;
use crate::knowledge::{messages, KnowledgeError};
use crate::request::json_object;
use crate::state::AppState;
use crate::store::OrConflict;
use crate::{handler, HandlerResult, Route};

/// The tag type of knowledge tags.
pub const KNOWLEDGE: &str = "knowledge";
/// Longest tag name.
pub const MAX_TAG_NAME: usize = 50;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/v1/datasets/tags",
            DATASET_KEY,
            handler(state, list),
        ),
        Route::new(
            Method::POST,
            "/v1/datasets/tags",
            DATASET_KEY,
            handler(state, create),
        ),
        Route::new(
            Method::PATCH,
            "/v1/datasets/tags",
            DATASET_KEY,
            handler(state, rename),
        ),
        Route::new(
            Method::DELETE,
            "/v1/datasets/tags",
            DATASET_KEY,
            handler(state, delete),
        ),
        Route::new(
            Method::POST,
            "/v1/datasets/tags/binding",
            DATASET_KEY,
            handler(state, bind),
        ),
        Route::new(
            Method::POST,
            "/v1/datasets/tags/unbinding",
            DATASET_KEY,
            handler(state, unbind),
        ),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/tags",
            DATASET_KEY,
            handler(state, of_dataset),
        )
        .uuids(&["dataset_id"]),
    ]
}

fn tag_json(id: &str, name: &str, bindings: i64) -> Value {
    json!({"id": id, "name": name, "type": KNOWLEDGE, "binding_count": bindings.to_string()})
}

fn name(body: &serde_json::Map<String, Value>) -> Result<String, KnowledgeError> {
    let n = opt_str(body, "name")?.ok_or_else(|| KnowledgeError::invalid("name is required"))?;
    if n.is_empty() || n.chars().count() > MAX_TAG_NAME {
        return Err(KnowledgeError::invalid(format!(
            "Tag name must be between 1 and {MAX_TAG_NAME} characters."
        )));
    }
    Ok(n)
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let tags = state.store().tags(&ctx.workspace_id, KNOWLEDGE).await?;
    Ok(ok(&Value::Array(
        tags.iter()
            .map(|t| tag_json(&t.id, &t.name, t.bindings))
            .collect(),
    )))
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let name = name(&json_object(req).await?)?;
    let store = state.store();
    if store
        .tags(&ctx.workspace_id, KNOWLEDGE)
        .await?
        .iter()
        .any(|t| t.name == name)
    {
        return Err(KnowledgeError::invalid(messages::TAG_NAME_TAKEN).into());
    }
    let id = store
        .insert_tag(&ctx.workspace_id, &name, KNOWLEDGE)
        .await
        .or_conflict(|| KnowledgeError::invalid(messages::TAG_NAME_TAKEN))?;
    Ok(ok(&tag_json(&id, &name, 0)))
}

async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let body = json_object(req).await?;
    let id =
        opt_str(&body, "tag_id")?.ok_or_else(|| KnowledgeError::invalid("tag_id is required"))?;
    let name = name(&body)?;
    let store = state.store();
    let tags = store.tags(&ctx.workspace_id, KNOWLEDGE).await?;
    let tag = tags
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| KnowledgeError::not_found(messages::TAG_NOT_FOUND))?;
    if tags.iter().any(|t| t.name == name && t.id != id) {
        return Err(KnowledgeError::invalid(messages::TAG_NAME_TAKEN).into());
    }
    store
        .rename_tag(&id, &name)
        .await
        .or_conflict(|| KnowledgeError::invalid(messages::TAG_NAME_TAKEN))?;
    Ok(ok(&tag_json(&id, &name, tag.bindings)))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let body = json_object(req).await?;
    let id =
        opt_str(&body, "tag_id")?.ok_or_else(|| KnowledgeError::invalid("tag_id is required"))?;
    let store = state.store();
    store
        .tag(&ctx.workspace_id, &id)
        .await?
        .ok_or_else(|| KnowledgeError::not_found(messages::TAG_NOT_FOUND))?;
    store.delete_tag(&id).await?;
    Ok(no_content())
}

async fn binding_target(
    state: &AppState,
    ws: &str,
    body: &serde_json::Map<String, Value>,
) -> Result<String, weir_layers::BoxError> {
    let target = opt_str(body, "target_id")?
        .ok_or_else(|| KnowledgeError::invalid("target_id is required"))?;
    state
        .store()
        .dataset(ws, &target.to_lowercase())
        .await?
        .map(|d| d.id)
        .ok_or_else(|| KnowledgeError::not_found("Dataset not found").into())
}

/// Tag ids of the workspace among `ids` (unknown ones are ignored).
async fn known(
    state: &AppState,
    ws: &str,
    ids: Vec<String>,
) -> Result<Vec<String>, weir_layers::BoxError> {
    let tags = state.store().tags(ws, KNOWLEDGE).await?;
    Ok(ids
        .into_iter()
        .filter(|i| tags.iter().any(|t| &t.id == i))
        .collect())
}

fn id_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn bind(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let body = json_object(req).await?;
    let ids = id_list(body.get("tag_ids"));
    if ids.is_empty() {
        return Err(KnowledgeError::invalid("Tag IDs is required.").into());
    }
    let target = binding_target(&state, &ctx.workspace_id, &body).await?;
    let ids = known(&state, &ctx.workspace_id, ids).await?;
    state.store().bind_tags(&ids, &target).await?;
    Ok(no_content())
}

async fn unbind(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let body = json_object(req).await?;
    let mut ids = id_list(body.get("tag_ids"));
    if let Some(one) = opt_str(&body, "tag_id")? {
        ids.push(one);
    }
    if ids.is_empty() {
        return Err(KnowledgeError::invalid("Tag IDs is required.").into());
    }
    let target = binding_target(&state, &ctx.workspace_id, &body).await?;
    state.store().unbind_tags(&ids, &target).await?;
    Ok(no_content())
}

async fn of_dataset(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let tags = state.store().dataset_tags(&call.dataset.id).await?;
    let data: Vec<Value> = tags
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name}))
        .collect();
    Ok(ok(&json!({"total": data.len(), "data": data})))
}
