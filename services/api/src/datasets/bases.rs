//! Knowledge bases: create, list, detail, update, delete; and the workspace's models by type.

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::Body;

use super::{dataset_gate, dataset_json, no_content, ok, opt_str, page_limit, DATASET_KEY};
use crate::context;
use crate::knowledge::retrieve::Settings as RetrievalSettings;
use crate::knowledge::{messages, KnowledgeError};
use crate::request::{json_object, path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::store::{DatasetRow, OrConflict};
use crate::util::{new_id, now};
use crate::{handler, HandlerResult, Route};
use weir_core::model::Models;

/// Longest dataset name.
pub const MAX_NAME: usize = 40;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 400;
/// Permissions a dataset may have.
pub const PERMISSIONS: [&str; 3] = ["only_me", "all_team_members", "partial_members"];
/// Model types the models endpoint knows.
pub const MODEL_TYPES: [&str; 6] = [
    "text-embedding",
    "rerank",
    "llm",
    "tts",
    "speech2text",
    "moderation",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/v1/datasets",
            DATASET_KEY,
            handler(state, create),
        ),
        Route::new(
            Method::GET,
            "/v1/datasets",
            DATASET_KEY,
            handler(state, list),
        ),
        Route::new(
            Method::GET,
            "/v1/datasets/{dataset_id}",
            DATASET_KEY,
            handler(state, detail),
        )
        .uuids(&["dataset_id"]),
        Route::new(
            Method::PATCH,
            "/v1/datasets/{dataset_id}",
            DATASET_KEY,
            handler(state, update),
        )
        .uuids(&["dataset_id"]),
        Route::new(
            Method::DELETE,
            "/v1/datasets/{dataset_id}",
            DATASET_KEY,
            handler(state, delete),
        )
        .uuids(&["dataset_id"]),
        Route::new(
            Method::GET,
            "/v1/workspaces/current/models/model-types/{model_type}",
            DATASET_KEY,
            handler(state, models),
        ),
    ]
}

fn check_name(name: &str) -> Result<(), KnowledgeError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME {
        return Err(KnowledgeError::invalid(format!(
            "Name must be between 1 and {MAX_NAME} characters."
        )));
    }
    Ok(())
}

fn check_description(d: &str) -> Result<(), KnowledgeError> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(KnowledgeError::invalid(format!(
            "Description cannot exceed {MAX_DESCRIPTION} characters."
        )));
    }
    Ok(())
}

fn check_technique(t: &str) -> Result<(), KnowledgeError> {
    if matches!(t, "high_quality" | "economy") {
        Ok(())
    } else {
        Err(KnowledgeError::invalid(
            "indexing_technique must be high_quality or economy",
        ))
    }
}

/// Checks that an embedding model is usable; the workspace default when none is named.
pub fn embedding_model(
    state: &AppState,
    provider: Option<String>,
    model: Option<String>,
) -> Result<(String, String), KnowledgeError> {
    let (p, m) = match (provider, model) {
        (Some(p), Some(m)) if !p.is_empty() && !m.is_empty() => (p, m),
        _ => state
            .settings()
            .default_embedding()
            .ok_or(KnowledgeError::NoModel(messages::NO_EMBEDDING_MODEL))?,
    };
    state
        .providers()
        .get(&p, &m)
        .map_err(|_| KnowledgeError::invalid(messages::NO_EMBEDDING_MODEL))?;
    Ok((p, m))
}

/// Validates a retrieval model object (and its rerank model, when one is named).
pub fn retrieval_model(state: &AppState, v: &Value) -> Result<String, KnowledgeError> {
    if !v.is_object() {
        return Err(KnowledgeError::invalid("retrieval_model must be an object"));
    }
    let settings = RetrievalSettings::parse(v)?;
    if let Some((p, m)) = &settings.rerank {
        state
            .providers()
            .get(p, m)
            .map_err(|_| KnowledgeError::invalid(messages::NO_RETRIEVAL_MODEL))?;
    }
    Ok(v.to_string())
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let body = json_object(req).await?;
    let name =
        opt_str(&body, "name")?.ok_or_else(|| KnowledgeError::invalid("name is required"))?;
    check_name(&name)?;
    let description = opt_str(&body, "description")?.unwrap_or_default();
    check_description(&description)?;
    let technique = opt_str(&body, "indexing_technique")?;
    if let Some(t) = &technique {
        check_technique(t)?;
    }
    let permission = opt_str(&body, "permission")?.unwrap_or_else(|| "only_me".into());
    if !PERMISSIONS.contains(&permission.as_str()) {
        return Err(KnowledgeError::invalid(
            "permission must be only_me, all_team_members or partial_members",
        )
        .into());
    }
    if opt_str(&body, "provider")?
        .as_deref()
        .is_some_and(|p| p != "vendor")
    {
        return Err(KnowledgeError::invalid("External datasets are not supported.").into());
    }
    let (mut provider, mut model) = (
        opt_str(&body, "embedding_model_provider")?,
        opt_str(&body, "embedding_model")?,
    );
    if technique.as_deref() == Some("high_quality") {
        let (p, m) = embedding_model(&state, provider, model)?;
        (provider, model) = (Some(p), Some(m));
    }
    let retrieval = match body.get("retrieval_model") {
        None | Some(Value::Null) => None,
        Some(v) => Some(retrieval_model(&state, v)?),
    };
    let store = state.store();
    if store
        .dataset_name_taken(&ctx.workspace_id, &name, None)
        .await?
    {
        return Err(KnowledgeError::NameDuplicate.into());
    }
    let ts = now();
    let d = DatasetRow {
        id: new_id(),
        workspace_id: ctx.workspace_id.to_string(),
        name,
        description,
        provider: "vendor".into(),
        permission,
        data_source_type: None,
        indexing_technique: technique,
        embedding_model: model,
        embedding_model_provider: provider,
        retrieval_model: retrieval,
        doc_form: None,
        enable_api: true,
        built_in_field_enabled: false,
        created_at: ts,
        updated_at: ts,
    };
    store
        .save_dataset(&d)
        .await
        .or_conflict(|| KnowledgeError::NameDuplicate)?;
    Ok(ok(&dataset_json(&state, &d, false).await?))
}

pub(crate) async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let q = query_pairs(&req);
    let (page, limit, take) = page_limit(&q, 1)?;
    let keyword = query_param(&q, "keyword").filter(|k| !k.is_empty());
    let tag_ids: Vec<String> = q
        .iter()
        .filter(|(k, v)| k == "tag_ids" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let (rows, total) = state
        .store()
        .datasets_page(&ctx.workspace_id, keyword.as_deref(), &tag_ids, page, take)
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for d in &rows {
        data.push(dataset_json(&state, d, false).await?);
    }
    let has_more = data.len() as i64 == limit;
    Ok(ok(
        &json!({"data": data, "has_more": has_more, "limit": limit, "total": total, "page": page}),
    ))
}

async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let mut v = dataset_json(&state, &call.dataset, true).await?;
    if call.dataset.permission == "partial_members" {
        v["partial_member_list"] = json!([]);
    }
    Ok(ok(&v))
}

async fn update(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    let body: Map<String, Value> = json_object(req).await?;
    let mut d = call.dataset;
    let store = state.store();
    if let Some(name) = opt_str(&body, "name")? {
        check_name(&name)?;
        if store
            .dataset_name_taken(&d.workspace_id, &name, Some(&d.id))
            .await?
        {
            return Err(KnowledgeError::invalid("Dataset name already exists").into());
        }
        d.name = name;
    }
    if let Some(desc) = opt_str(&body, "description")? {
        check_description(&desc)?;
        d.description = desc;
    }
    if let Some(p) = opt_str(&body, "permission")? {
        if !PERMISSIONS.contains(&p.as_str()) {
            return Err(KnowledgeError::invalid(
                "permission must be only_me, all_team_members or partial_members",
            )
            .into());
        }
        d.permission = p;
    }
    let mut reindex = false;
    if let Some(t) = opt_str(&body, "indexing_technique")? {
        check_technique(&t)?;
        reindex |= d.indexing_technique.as_deref() != Some(t.as_str());
        d.indexing_technique = Some(t);
    }
    let provider = opt_str(&body, "embedding_model_provider")?;
    let model = opt_str(&body, "embedding_model")?;
    if d.indexing_technique.as_deref() == Some("high_quality")
        && (provider.is_some() || model.is_some() || d.embedding_model.is_none())
    {
        let (p, m) = embedding_model(
            &state,
            provider.or(d.embedding_model_provider.clone()),
            model.or(d.embedding_model.clone()),
        )?;
        reindex |= d.embedding_model.as_deref() != Some(m.as_str())
            || d.embedding_model_provider.as_deref() != Some(p.as_str());
        d.embedding_model_provider = Some(p);
        d.embedding_model = Some(m);
    }
    if let Some(v) = body.get("retrieval_model").filter(|v| !v.is_null()) {
        d.retrieval_model = Some(retrieval_model(&state, v)?);
    }
    d.updated_at = now();
    store
        .save_dataset(&d)
        .await
        .or_conflict(|| KnowledgeError::NameDuplicate)?;
    if reindex {
        // A new technique or embedding model: every document is indexed again.
        for doc in store.documents_of(&d.id).await? {
            if doc.indexing_status == crate::knowledge::status::COMPLETED {
                state.knowledge().queue.push(&d.id, &doc.id);
            }
        }
        state.knowledge().indexes.invalidate(&d.id).await;
    }
    let mut v = dataset_json(&state, &d, false).await?;
    v["partial_member_list"] = json!([]);
    Ok(ok(&v))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let call = dataset_gate(&state, &req).await?;
    // First the flag, so that a job finishing now does not write after the delete.
    state.knowledge().cancel_dataset(&call.dataset.id);
    state.store().delete_dataset(&call.dataset.id).await?;
    state.knowledge().indexes.invalidate(&call.dataset.id).await;
    Ok(no_content())
}

async fn models(state: AppState, req: Request<Body>) -> HandlerResult {
    let ctx = context::auth(&req)?.clone();
    let kind = path_param(&req, "model_type");
    if !MODEL_TYPES.contains(&kind.as_str()) {
        return Err(KnowledgeError::invalid(format!("'{kind}' is not a valid ModelType")).into());
    }
    let label = |s: &str| json!({"en_US": s, "zh_Hans": s});
    let mut data = Vec::new();
    for (name, p) in &state.settings().providers {
        let models = match kind.as_str() {
            "text-embedding" => &p.embedding_models,
            "rerank" => &p.rerank_models,
            "llm" => &p.llm_models,
            _ => continue,
        };
        if models.is_empty() {
            continue;
        }
        let items: Vec<Value> = models
            .iter()
            .map(|m| {
                json!({"model": m, "label": label(m), "model_type": kind, "features": null,
                    "fetch_from": "customizable-model", "model_properties": {}, "status": "active",
                    "deprecated": false, "load_balancing_enabled": false,
                    "has_invalid_load_balancing_configs": false})
            })
            .collect();
        data.push(json!({"provider": name, "label": label(name), "icon_small": label(""),
            "icon_small_dark": null, "status": "active", "tenant_id": ctx.workspace_id, "models": items}));
    }
    Ok(ok(&json!({"data": data})))
}
