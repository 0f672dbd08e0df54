//! Apps in the console: list (filters, tags, paging), create for every mode, detail, edit,
//! rename, icon, copy and delete. Apps made here and apps imported by the CLI or
//! `/openapi/v1` are the same rows: the Service API serves both.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Method, Request};
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError};

use super::app_json::{
    app_detail_json, app_detail_with_site_json, app_partial_json, request_root, Listed,
};
use super::{caller_and_app, lax_bool, models, object_or_empty, text, Caller, USER};
use crate::dsl::{AppMode, CURRENT_VERSION};
use crate::error::ServiceError;
use crate::reply::{created, no_content, ok};
use crate::request::{query_pairs, query_param};
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::store::{AppEdit, AppFilter, NewApp};
use crate::util::canonical_uuid;
use crate::{handler, HandlerResult, Route};

/// Longest description.
pub const MAX_DESCRIPTION: usize = 400;
/// Characters of `name` the list filter uses.
pub const NAME_FILTER_CHARS: usize = 30;

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let id = &["app_id"];
    vec![
        Route::new(Method::GET, "/console/api/apps", USER, handler(state, list)),
        Route::new(
            Method::POST,
            "/console/api/apps",
            USER,
            handler(state, create),
        ),
        Route::new(
            Method::GET,
            "/console/api/apps/{app_id}",
            USER,
            handler(state, detail),
        )
        .uuids(id),
        Route::new(
            Method::PUT,
            "/console/api/apps/{app_id}",
            USER,
            handler(state, update),
        )
        .uuids(id),
        Route::new(
            Method::DELETE,
            "/console/api/apps/{app_id}",
            USER,
            handler(state, delete),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/name",
            USER,
            handler(state, rename),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/icon",
            USER,
            handler(state, icon),
        )
        .uuids(id),
        Route::new(
            Method::POST,
            "/console/api/apps/{app_id}/copy",
            USER,
            handler(state, copy),
        )
        .uuids(id),
    ]
}

/// A query list in either spelling: repeated `key=` or bracket-indexed `key[0]=`.
pub fn query_list(pairs: &[(String, String)], key: &str) -> Vec<String> {
    let indexed = format!("{key}[");
    pairs
        .iter()
        .filter(|(k, _)| k == key || (k.starts_with(&indexed) && k.ends_with(']')))
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect()
}

/// An integer query value within bounds, else 400 `invalid_param`.
fn bounded(
    pairs: &[(String, String)],
    key: &str,
    default: i64,
    (min, max): (i64, i64),
) -> Result<i64, ServiceError> {
    match query_param(pairs, key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ServiceError::invalid(format!("{key} must be an integer from {min} to {max}"))
            }),
    }
}

async fn list(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let q = query_pairs(&req);
    let page = bounded(&q, "page", 1, (1, 99_999))?;
    let limit = bounded(&q, "limit", 20, (1, 100))?;
    let mode = query_param(&q, "mode").unwrap_or_else(|| "all".into());
    let mode = match mode.as_str() {
        "all" => None,
        m if AppMode::parse(m).is_some() || m == "channel" => Some(m.to_owned()),
        m => return Err(ServiceError::invalid(format!("Invalid mode: {m}")).into()),
    };
    let name: Option<String> = query_param(&q, "name")
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(NAME_FILTER_CHARS).collect());
    let mut tag_ids = Vec::new();
    for raw in query_list(&q, "tag_ids") {
        tag_ids.push(
            canonical_uuid(&raw)
                .ok_or_else(|| ServiceError::invalid("Invalid UUID format in tag_ids."))?,
        );
    }
    let mine = query_param(&q, "is_created_by_me").and_then(|v| lax_bool(&v)) == Some(true);
    let filter = AppFilter {
        mode: mode.as_deref(),
        name: name.as_deref(),
        tag_ids: &tag_ids,
        created_by: mine.then_some(caller.account_id.as_str()),
    };
    let store = state.store();
    let (rows, total) = store
        .app_page(&caller.workspace_id, &filter, page, limit)
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (app, id, name) in store.app_tags(&ids).await? {
        tags.entry(app).or_default().push((id, name));
    }
    let creators: Vec<String> = rows.iter().filter_map(|r| r.created_by.clone()).collect();
    let names: HashMap<String, String> =
        store.account_names(&creators).await?.into_iter().collect();
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        let app = match state.app(&row.id).await? {
            Some(a) => a,
            None => continue,
        };
        let published = match &row.workflow_id {
            Some(id) => store.workflow(id).await?,
            None => None,
        };
        data.push(app_partial_json(
            &state,
            &Listed {
                app: &app,
                published: published.as_ref(),
                tags: tags.get(&row.id).map_or(&[], Vec::as_slice),
                author_name: row
                    .created_by
                    .as_ref()
                    .and_then(|c| names.get(c))
                    .map(String::as_str),
            },
        ));
    }
    Ok(ok(&json!({"page": page, "limit": limit, "total": total,
        "has_more": page * limit < total, "data": data})))
}

/// The icon fields of a create or edit body, checked.
struct Icon {
    icon_type: Option<String>,
    icon: Option<String>,
    icon_background: Option<String>,
}

fn icon_fields(body: &Map<String, Value>) -> Result<Icon, ServiceError> {
    let icon_type = text(body, "icon_type");
    if let Some(t) = &icon_type {
        if !matches!(t.as_str(), "emoji" | "image" | "link") {
            return Err(ServiceError::invalid(
                "icon_type must be emoji, image or link",
            ));
        }
    }
    Ok(Icon {
        icon_type,
        icon: text(body, "icon"),
        icon_background: text(body, "icon_background"),
    })
}

fn name_field(body: &Map<String, Value>) -> Result<String, ServiceError> {
    text(body, "name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ServiceError::invalid("name is required"))
}

fn description_field(body: &Map<String, Value>) -> Result<String, ServiceError> {
    let d = text(body, "description").unwrap_or_default();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(ServiceError::invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(d)
}

/// The DSL document of a new console app: Dify's default template of its mode, with the
/// workspace's default LLM for easy-UI apps.
fn new_document(mode: AppMode, app: &Map<String, Value>, model: Option<(String, String)>) -> Value {
    let mut doc = json!({"version": CURRENT_VERSION, "kind": "app", "app": app});
    if !mode.is_workflow_based() {
        let (provider, name) = model.unwrap_or_else(|| ("openai".into(), "gpt-4o".into()));
        let mut mc = json!({"model": {"provider": provider, "name": name, "mode": "chat",
            "completion_params": {}}});
        if mode == AppMode::Completion {
            mc["user_input_form"] = json!([{"paragraph": {"label": "Query", "variable": "query",
                "required": true, "default": ""}}]);
            mc["pre_prompt"] = json!("{{query}}");
        }
        doc["model_config"] = mc;
    }
    doc
}

async fn create(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let name = name_field(&body)?;
    let mode = text(&body, "mode")
        .and_then(|m| AppMode::parse(&m))
        .ok_or_else(|| {
            ServiceError::invalid(
                "mode must be chat, agent-chat, advanced-chat, workflow or completion",
            )
        })?;
    let description = description_field(&body)?;
    let icon = icon_fields(&body)?;
    let icon_type = icon.icon_type.unwrap_or_else(|| "emoji".into());
    let icon_value = icon.icon.unwrap_or_else(|| "🤖".into());
    let background = icon.icon_background.unwrap_or_else(|| "#FFEAD5".into());
    let app_part = json!({"name": name, "mode": mode.as_str(), "description": description,
        "icon_type": icon_type, "icon": icon_value, "icon_background": background,
        "use_icon_as_answer_icon": false});
    let Value::Object(app_part) = app_part else {
        unreachable!("an object literal")
    };
    let model = models::default_llm(&state, &caller.workspace_id).await?;
    let doc = new_document(mode, &app_part, model);
    let id = state
        .store()
        .insert_app(&NewApp {
            workspace_id: caller.workspace_id.clone(),
            name,
            mode: mode.as_str().to_owned(),
            description,
            icon: icon_value,
            icon_type,
            icon_background: background,
            use_icon_as_answer_icon: false,
            dsl_version: CURRENT_VERSION.to_owned(),
            dsl: doc.to_string(),
            workflow: None,
            created_by: Some(caller.account_id.clone()),
        })
        .await?;
    let app = super::app_of(&state, &caller, &id).await?;
    Ok(created(&app_detail_json(&state, &app).await?))
}

async fn detail(state: AppState, req: Request<Body>) -> HandlerResult {
    let root = request_root(&req);
    let (_, app) = caller_and_app(&state, &req).await?;
    Ok(ok(&app_detail_with_site_json(&state, &app, &root).await?))
}

/// Saves an edit of the app's own fields, in its row and in its stored DSL's `app` part.
async fn save_edit(
    state: &AppState,
    caller: &Caller,
    app: &LoadedApp,
    edit: &AppEdit,
) -> Result<Arc<LoadedApp>, BoxError> {
    let mut doc: Value = serde_json::from_str(&app.row.dsl).unwrap_or_else(|_| json!({}));
    if let Some(part) = doc.get_mut("app").and_then(Value::as_object_mut) {
        part.insert("name".into(), json!(edit.name));
        part.insert("description".into(), json!(edit.description));
        part.insert("icon_type".into(), json!(edit.icon_type));
        part.insert("icon".into(), json!(edit.icon));
        part.insert("icon_background".into(), json!(edit.icon_background));
        part.insert(
            "use_icon_as_answer_icon".into(),
            json!(edit.use_icon_as_answer_icon),
        );
    }
    state
        .store()
        .edit_app(&app.row.id, edit, &caller.account_id, &doc.to_string())
        .await?;
    state.forget_app(&app.row.id);
    super::app_of(state, caller, &app.row.id).await
}

fn current_edit(app: &LoadedApp) -> AppEdit {
    let r = &app.row;
    AppEdit {
        name: r.name.clone(),
        description: r.description.clone(),
        icon_type: r.icon_type.clone(),
        icon: r.icon.clone(),
        icon_background: r.icon_background.clone(),
        use_icon_as_answer_icon: r.use_icon_as_answer_icon,
        max_active_requests: r.max_active_requests,
    }
}

async fn update(state: AppState, req: Request<Body>) -> HandlerResult {
    let root = request_root(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let icon = icon_fields(&body)?;
    let max_active = match body.get("max_active_requests") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
            ServiceError::invalid("max_active_requests must be a non-negative integer")
        })?,
    };
    let edit = AppEdit {
        name: name_field(&body)?,
        description: description_field(&body)?,
        icon_type: icon.icon_type.unwrap_or_else(|| app.row.icon_type.clone()),
        icon: icon.icon.unwrap_or_default(),
        icon_background: icon.icon_background.unwrap_or_default(),
        use_icon_as_answer_icon: body
            .get("use_icon_as_answer_icon")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        max_active_requests: max_active,
    };
    let app = save_edit(&state, &caller, &app, &edit).await?;
    Ok(ok(&app_detail_with_site_json(&state, &app, &root).await?))
}

async fn rename(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let edit = AppEdit {
        name: name_field(&body)?,
        ..current_edit(&app)
    };
    let app = save_edit(&state, &caller, &app, &edit).await?;
    Ok(ok(&app_detail_json(&state, &app).await?))
}

async fn icon(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let icon = icon_fields(&body)?;
    let current = current_edit(&app);
    let edit = AppEdit {
        icon_type: icon.icon_type.unwrap_or(current.icon_type.clone()),
        icon: icon.icon.unwrap_or(current.icon.clone()),
        icon_background: icon
            .icon_background
            .unwrap_or(current.icon_background.clone()),
        ..current
    };
    let app = save_edit(&state, &caller, &app, &edit).await?;
    Ok(ok(&app_detail_json(&state, &app).await?))
}

async fn delete(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    state.store().delete_app(&app.row.id).await?;
    state.forget_app(&app.row.id);
    // Its keys stop working at once on this instance.
    state.revoke_all().await;
    Ok(no_content())
}

/// Copies an app through a DSL round trip (secrets included), with the body's overrides.
async fn copy(state: AppState, req: Request<Body>) -> HandlerResult {
    let root = request_root(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let yaml = crate::apps::export(&app.row, state.secrets(), true);
    let options = crate::apps::ImportOptions {
        name: text(&body, "name"),
        description: Some(description_field(&body)?).filter(|d| !d.is_empty()),
        icon_type: text(&body, "icon_type"),
        icon: text(&body, "icon"),
        icon_background: text(&body, "icon_background"),
        created_by: Some(caller.account_id.clone()),
        ..Default::default()
    };
    let answer = crate::imports::import_text(&state, &caller.workspace_id, yaml, options).await?;
    match (answer.status, answer.app_id.clone()) {
        ("completed" | "completed-with-warnings", Some(id)) => {
            let copy = super::app_of(&state, &caller, &id).await?;
            Ok(created(
                &app_detail_with_site_json(&state, &copy, &root).await?,
            ))
        }
        _ => Ok(answer.response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_come_in_two_spellings() {
        let pairs: Vec<(String, String)> = [
            ("tag_ids", "a"),
            ("tag_ids", "b"),
            ("tag_ids[0]", "c"),
            ("x", "d"),
            ("tag_ids", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(query_list(&pairs, "tag_ids"), vec!["a", "b", "c"]);
    }

    #[test]
    fn new_documents_follow_difys_templates() {
        let app = Map::new();
        let doc = new_document(AppMode::Completion, &app, Some(("p".into(), "m".into())));
        assert_eq!(doc["model_config"]["pre_prompt"], "{{query}}");
        assert_eq!(doc["model_config"]["model"]["name"], "m");
        let doc = new_document(AppMode::Workflow, &app, None);
        assert!(doc.get("model_config").is_none());
        let doc = new_document(AppMode::Chat, &app, None);
        assert_eq!(doc["model_config"]["model"]["name"], "gpt-4o");
    }
}
