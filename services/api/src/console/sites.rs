//! Publishing an app: its web-app site settings and public code, the web app and Service
//! API switches, and the app's API keys.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{Body, HttpError};

use super::app_json::{app_detail_json, site_short_json};
use super::auth::is_language;
use super::{caller_and_app, object_or_empty, USER};
use crate::credentials::{create_console_app_key, MAX_APP_KEYS};
use crate::error::ServiceError;
use crate::reply::{created, no_content, ok};
use crate::request::path_param;
use crate::state::AppState;
use crate::store::{KeyListing, SiteRow};
use crate::{handler, HandlerResult, Route};

/// Longest site disclaimer.
pub const MAX_DISCLAIMER: usize = 512;
/// Code of the refusal to mint an eleventh key.
pub const MAX_KEYS_CODE: &str = "max_keys_exceeded";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let id = &["app_id"];
    let r = |m: Method, p: &'static str, h| Route::new(m, p, USER, h).uuids(id);
    vec![
        r(
            Method::POST,
            "/console/api/apps/{app_id}/site",
            handler(state, update_site),
        ),
        r(
            Method::POST,
            "/console/api/apps/{app_id}/site/access-token-reset",
            handler(state, reset_code),
        ),
        r(
            Method::POST,
            "/console/api/apps/{app_id}/site-enable",
            handler(state, site_enable),
        ),
        r(
            Method::POST,
            "/console/api/apps/{app_id}/api-enable",
            handler(state, api_enable),
        ),
        r(
            Method::GET,
            "/console/api/apps/{app_id}/api-keys",
            handler(state, list_keys),
        ),
        r(
            Method::POST,
            "/console/api/apps/{app_id}/api-keys",
            handler(state, create_key),
        ),
        Route::new(
            Method::DELETE,
            "/console/api/apps/{app_id}/api-keys/{key_id}",
            USER,
            handler(state, delete_key),
        )
        .uuids(&["app_id", "key_id"]),
    ]
}

fn opt_text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ServiceError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ServiceError::invalid(format!("{key} must be a string"))),
    }
}

fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ServiceError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ServiceError::invalid(format!("{key} must be a boolean"))),
    }
}

/// Applies the non-null fields of a site settings body.
fn apply_site(site: &mut SiteRow, body: &Map<String, Value>) -> Result<(), ServiceError> {
    if let Some(v) = opt_text(body, "title")? {
        site.title = v;
    }
    for (key, slot) in [
        ("icon_type", &mut site.icon_type),
        ("icon", &mut site.icon),
        ("icon_background", &mut site.icon_background),
        ("description", &mut site.description),
        ("chat_color_theme", &mut site.chat_color_theme),
        ("customize_domain", &mut site.customize_domain),
        ("copyright", &mut site.copyright),
        ("privacy_policy", &mut site.privacy_policy),
    ] {
        if let Some(v) = opt_text(body, key)? {
            *slot = Some(v);
        }
    }
    if let Some(lang) = opt_text(body, "default_language")? {
        if !is_language(&lang) {
            return Err(ServiceError::invalid(format!(
                "{lang} is not a valid language."
            )));
        }
        site.default_language = lang;
    }
    if let Some(d) = opt_text(body, "custom_disclaimer")? {
        if d.chars().count() > MAX_DISCLAIMER {
            return Err(ServiceError::invalid(format!(
                "Custom disclaimer cannot exceed {MAX_DISCLAIMER} characters."
            )));
        }
        site.custom_disclaimer = d;
    }
    if let Some(s) = opt_text(body, "customize_token_strategy")? {
        if !matches!(s.as_str(), "must" | "allow" | "not_allow") {
            return Err(ServiceError::invalid(
                "customize_token_strategy must be must, allow or not_allow",
            ));
        }
        site.customize_token_strategy = s;
    }
    for (key, slot) in [
        (
            "chat_color_theme_inverted",
            &mut site.chat_color_theme_inverted,
        ),
        ("prompt_public", &mut site.prompt_public),
        ("show_workflow_steps", &mut site.show_workflow_steps),
        ("use_icon_as_answer_icon", &mut site.use_icon_as_answer_icon),
    ] {
        if let Some(v) = opt_bool(body, key)? {
            *slot = v;
        }
    }
    Ok(())
}

async fn update_site(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let body = object_or_empty(req).await?;
    let store = state.store();
    let mut site = store
        .site(&app.row.id)
        .await?
        .ok_or_else(|| ServiceError::not_found("Site not found."))?;
    apply_site(&mut site, &body)?;
    site.updated_by = Some(caller.account_id);
    store.save_site(&site).await?;
    Ok(ok(&site_short_json(&site)))
}

async fn reset_code(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_admin()?;
    let store = state.store();
    store.reset_site_code(&app.row.id).await?;
    let site = store
        .site(&app.row.id)
        .await?
        .ok_or_else(|| ServiceError::not_found("Site not found."))?;
    Ok(ok(&site_short_json(&site)))
}

fn switch(body: &Map<String, Value>, key: &str) -> Result<bool, ServiceError> {
    body.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| ServiceError::invalid(format!("{key} is required")))
}

async fn site_enable(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let on = switch(&object_or_empty(req).await?, "enable_site")?;
    state.store().set_site_enabled(&app.row.id, on).await?;
    state.forget_app(&app.row.id);
    let app = super::app_of(&state, &caller, &app.row.id).await?;
    Ok(ok(&app_detail_json(&state, &app).await?))
}

async fn api_enable(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_admin()?;
    let on = switch(&object_or_empty(req).await?, "enable_api")?;
    state.store().set_app_api_enabled(&app.row.id, on).await?;
    state.forget_app(&app.row.id);
    // Keys of the app see the switch at once on this instance.
    state.revoke_all().await;
    let app = super::app_of(&state, &caller, &app.row.id).await?;
    Ok(ok(&app_detail_json(&state, &app).await?))
}

fn key_json(state: &AppState, k: &KeyListing) -> Value {
    let token = k
        .sealed
        .as_deref()
        .and_then(|s| state.secrets().open(s).ok())
        .unwrap_or_else(|| k.hint.clone());
    json!({"id": k.id, "type": "app", "token": token, "last_used_at": k.last_used_at,
        "created_at": k.created_at})
}

async fn list_keys(state: AppState, req: Request<Body>) -> HandlerResult {
    let (_, app) = caller_and_app(&state, &req).await?;
    let keys = state.store().app_keys(&app.row.id).await?;
    let data: Vec<Value> = keys.iter().map(|k| key_json(&state, k)).collect();
    Ok(ok(&json!({"data": data})))
}

async fn create_key(state: AppState, req: Request<Body>) -> HandlerResult {
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_edit()?;
    let store = state.store();
    if store.app_keys(&app.row.id).await?.len() >= MAX_APP_KEYS {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            MAX_KEYS_CODE,
            format!("Cannot create more than {MAX_APP_KEYS} API keys for this resource type."),
        )
        .into());
    }
    let (listing, _) =
        create_console_app_key(store, state.secrets(), &app.row.workspace_id, &app.row.id).await?;
    Ok(created(&key_json(&state, &listing)))
}

async fn delete_key(state: AppState, req: Request<Body>) -> HandlerResult {
    let key_id = path_param(&req, "key_id").to_lowercase();
    let (caller, app) = caller_and_app(&state, &req).await?;
    caller.require_admin()?;
    if !state.store().delete_app_key(&app.row.id, &key_id).await? {
        return Err(ServiceError::not_found("API key not found").into());
    }
    // The key stops working at once on this instance.
    state.revoke_all().await;
    Ok(no_content())
}
