//! Metadata fields of a dataset (custom and built-in) and their values on documents.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, Body, BoxError};

use super::{dataset_gate, no_content, ok, opt_str, DatasetCall, DATASET_KEY};
use crate::knowledge::{messages, KnowledgeError, BUILT_IN_FIELDS};
use crate::request::{json_object, path_param};
use crate::state::AppState;
use crate::store::{DocumentRow, MetadataFieldRow, OrConflict, Store};
use crate::util::now;
use crate::{handler, HandlerResult, Route};

/// Types a metadata field may have.
pub const FIELD_TYPES: [&str; 3] = ["string", "number", "time"];
/// Longest field name.
pub const MAX_FIELD_NAME: usize = 255;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let d = &["dataset_id"];
    let dm = &["dataset_id", "metadata_id"];
    vec![
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/metadata",
            DATASET_KEY,
            handler(state, create),
        )
        .uuids(d),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/metadata",
            DATASET_KEY,
            handler(state, list),
        )
        .uuids(d),
        Route::new(
            Method::PATCH,
            "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
            DATASET_KEY,
            handler(state, rename),
        )
        .uuids(dm),
        Route::new(
            Method::DELETE,
            "/v1/datasets/{dataset_id}/metadata/{metadata_id}",
            DATASET_KEY,
            handler(state, delete),
        )
        .uuids(dm),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}/metadata/built-in",
            DATASET_KEY,
            handler(state, built_in),
        )
        .uuids(d),
        Route::new(
            Method::GET,
            "/v1/datasets/metadata/built-in",
            DATASET_KEY,
            handler(state, built_in),
        ),
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/metadata/built-in/{action}",
            DATASET_KEY,
            handler(state, toggle_built_in),
        )
        .uuids(d),
        Route::new(
            Method::POST,
            "/v1/datasets/{dataset_id}/documents/metadata",
            DATASET_KEY,
            handler(state, set_values),
        )
        .uuids(d),
    ]
}

async fn check_name(
    state: &AppState,
    call: &DatasetCall,
    name: &str,
    except: Option<&str>,
) -> Result<(), BoxError> {
    if name.chars().count() > MAX_FIELD_NAME {
        return Err(KnowledgeError::invalid("Metadata name cannot exceed 255 characters.").into());
    }
    if name.is_empty() {
        return Err(KnowledgeError::invalid("name is required").into());
    }
    if BUILT_IN_FIELDS.iter().any(|(n, _)| *n == name) {
        return Err(
            KnowledgeError::invalid("Metadata name already exists in Built-in fields.").into(),
        );
    }
    let fields = state.store().metadata_fields(&call.dataset.id).await?;
    if fields
        .iter()
        .any(|f| f.name == name && Some(f.id.as_str()) != except)
    {
        return Err(KnowledgeError::invalid(messages::METADATA_NAME_TAKEN).into());
    }
    Ok(())
}

fn values(doc: &DocumentRow) -> Map<String, Value> {
    doc.doc_metadata
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// Rewrites every document's stored values with `f` (renames and deletions of a field).
async fn rewrite_values(
    state: &AppState,
    dataset_id: &str,
    f: impl Fn(&mut Map<String, Value>) -> bool,
) -> Result<(), BoxError> {
    let store = state.store();
    let mut stmts = Vec::new();
    for mut doc in store.documents_of(dataset_id).await? {
        let mut v = values(&doc);
        if f(&mut v) {
            doc.doc_metadata = Some(Value::Object(v).to_string());
            stmts.push(Store::save_document_stmt(&doc));
        }
    }
    if !stmts.is_empty() {
        store.apply(stmts).await?;
    }
    Ok(())
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body = json_object(req).await?;
    let kind =
        opt_str(&body, "type")?.ok_or_else(|| KnowledgeError::invalid("type is required"))?;
    if !FIELD_TYPES.contains(&kind.as_str()) {
        return Err(KnowledgeError::invalid("type must be string, number or time").into());
    }
    let name =
        opt_str(&body, "name")?.ok_or_else(|| KnowledgeError::invalid("name is required"))?;
    check_name(&state, &call, &name, None).await?;
    let id = state
        .store()
        .insert_metadata_field(&call.dataset.id, &name, &kind)
        .await
        .or_conflict(|| KnowledgeError::invalid(messages::METADATA_NAME_TAKEN))?;
    Ok(body::json(
        StatusCode::CREATED,
        &json!({"id": id, "name": name, "type": kind}),
    ))
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let store = state.store();
    let docs = store.documents_of(&call.dataset.id).await?;
    let all: Vec<Map<String, Value>> = docs.iter().map(values).collect();
    let fields: Vec<Value> = store
        .metadata_fields(&call.dataset.id)
        .await?
        .iter()
        .map(|f| {
            let count = all.iter().filter(|v| v.contains_key(&f.name)).count();
            json!({"id": f.id, "name": f.name, "type": f.kind, "count": count})
        })
        .collect();
    Ok(ok(
        &json!({"doc_metadata": fields, "built_in_field_enabled": call.dataset.built_in_field_enabled}),
    ))
}

async fn field(
    state: &AppState,
    call: &DatasetCall,
    id: String,
) -> Result<MetadataFieldRow, BoxError> {
    let id = id.to_lowercase();
    Ok(state
        .store()
        .metadata_fields(&call.dataset.id)
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| KnowledgeError::not_found("Metadata not found."))?)
}

async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let f = field(&state, &call, path_param(&req, "metadata_id")).await?;
    let body = json_object(req).await?;
    let name =
        opt_str(&body, "name")?.ok_or_else(|| KnowledgeError::invalid("name is required"))?;
    check_name(&state, &call, &name, Some(&f.id)).await?;
    state
        .store()
        .rename_metadata_field(&f.id, &name)
        .await
        .or_conflict(|| KnowledgeError::invalid(messages::METADATA_NAME_TAKEN))?;
    let (old, new) = (f.name.clone(), name.clone());
    rewrite_values(&state, &call.dataset.id, move |v| match v.remove(&old) {
        Some(x) => {
            v.insert(new.clone(), x);
            true
        }
        None => false,
    })
    .await?;
    Ok(ok(&json!({"id": f.id, "name": name, "type": f.kind})))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let f = field(&state, &call, path_param(&req, "metadata_id")).await?;
    state.store().delete_metadata_field(&f.id).await?;
    let name = f.name.clone();
    rewrite_values(&state, &call.dataset.id, move |v| v.remove(&name).is_some()).await?;
    Ok(no_content())
}

async fn built_in(_state: AppState, _req: Request<Body>) -> HandlerResult {
    let fields: Vec<Value> = BUILT_IN_FIELDS
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t}))
        .collect();
    Ok(ok(&json!({"fields": fields})))
}

async fn toggle_built_in(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let action = path_param(&req, "action");
    let enable = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(KnowledgeError::invalid(format!("Invalid action: {action}")).into()),
    };
    let mut d = call.dataset;
    if d.built_in_field_enabled != enable {
        d.built_in_field_enabled = enable;
        d.updated_at = now();
        state.store().save_dataset(&d).await?;
    }
    Ok(ok(&json!({"result": "success"})))
}

async fn set_values(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body = json_object(req).await?;
    let Some(ops) = body.get("operation_data").and_then(Value::as_array) else {
        return Err(KnowledgeError::invalid("operation_data is required").into());
    };
    let store = state.store();
    let fields = store.metadata_fields(&call.dataset.id).await?;
    let mut stmts = Vec::new();
    for op in ops {
        let id = op
            .get("document_id")
            .and_then(Value::as_str)
            .ok_or_else(|| KnowledgeError::invalid("document_id is required"))?;
        let mut doc = store
            .document(&call.dataset.id, &id.to_lowercase())
            .await?
            .ok_or_else(|| KnowledgeError::invalid("Document not found."))?;
        let partial = op
            .get("partial_update")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut v = if partial { values(&doc) } else { Map::new() };
        for item in op
            .get("metadata_list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| KnowledgeError::invalid("metadata name is required"))?;
            if !fields.iter().any(|f| f.name == name) {
                return Err(KnowledgeError::invalid(format!("Metadata {name} not found.")).into());
            }
            v.insert(
                name.to_owned(),
                item.get("value").cloned().unwrap_or(Value::Null),
            );
        }
        doc.doc_metadata = Some(Value::Object(v).to_string());
        doc.updated_at = now();
        stmts.push(Store::save_document_stmt(&doc));
    }
    if !stmts.is_empty() {
        store.apply(stmts).await?;
    }
    Ok(ok(&json!({"result": "success"})))
}
