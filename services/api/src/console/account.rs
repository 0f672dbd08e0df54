//! What every console page loads first, and the account settings page: the account's
//! profile, its workspaces and role, the feature flags (system-wide and per workspace), the
//! version check and the ping.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::{Body, BoxError, HttpError};

use super::auth::{hash, is_language, MAX_NAME};
use super::{object_or_empty, text, Caller, OPEN, USER};
use crate::error::{ConsoleError, ServiceError};
use crate::reply::ok;
use crate::request::{query_pairs, query_param};
use crate::runtime::accounts;
use crate::state::AppState;
use crate::store::{AccountRow, MembershipRow, ProfileChange};
use crate::{handler, HandlerResult, Route};

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let r = |method: Method, path: &'static str, meta, h| Route::new(method, path, meta, h);
    vec![
        r(
            Method::GET,
            "/console/api/system-features",
            OPEN,
            handler(state, system_features),
        ),
        r(
            Method::GET,
            "/console/api/version",
            OPEN,
            handler(state, version),
        ),
        r(Method::GET, "/console/api/ping", OPEN, handler(state, ping)),
        r(
            Method::GET,
            "/console/api/account/profile",
            USER,
            handler(state, profile),
        ),
        r(
            Method::POST,
            "/console/api/workspaces/current",
            USER,
            handler(state, current_workspace),
        ),
        r(
            Method::POST,
            "/console/api/info",
            USER,
            handler(state, current_workspace),
        ),
        r(
            Method::GET,
            "/console/api/workspaces",
            USER,
            handler(state, workspaces),
        ),
        r(
            Method::POST,
            "/console/api/workspaces/switch",
            USER,
            handler(state, switch),
        ),
        r(
            Method::GET,
            "/console/api/features",
            USER,
            handler(state, features),
        ),
        r(
            Method::POST,
            "/console/api/account/name",
            USER,
            handler(state, set_name),
        ),
        r(
            Method::POST,
            "/console/api/account/interface-language",
            USER,
            handler(state, set_language),
        ),
        r(
            Method::POST,
            "/console/api/account/interface-theme",
            USER,
            handler(state, set_theme),
        ),
        r(
            Method::POST,
            "/console/api/account/timezone",
            USER,
            handler(state, set_timezone),
        ),
        r(
            Method::POST,
            "/console/api/account/password",
            USER,
            handler(state, set_password),
        ),
    ]
}

/// The DSL version weir writes and reads (`app_dsl_version`).
pub const APP_DSL_VERSION: &str = "0.6.0";

/// The system-wide feature flags: password login on, and off every feature weir does not
/// have (marketplace, plugins, SSO, collaboration, branding, trial apps).
pub fn system_features_json() -> Value {
    json!({
        "app_dsl_version": APP_DSL_VERSION,
        "sso_enforced_for_signin": false, "sso_enforced_for_signin_protocol": "",
        "enable_marketplace": false, "max_plugin_package_size": 15_728_640,
        "enable_email_code_login": false, "enable_email_password_login": true,
        "enable_social_oauth_login": false, "enable_collaboration_mode": false,
        "is_allow_register": false, "is_allow_create_workspace": false, "is_email_setup": false,
        "license": {"status": "none", "expired_at": "", "workspaces": {"enabled": false, "size": 0, "limit": 0}},
        "branding": {"enabled": false, "application_title": "", "login_page_logo": "", "workspace_logo": "", "favicon": ""},
        "webapp_auth": {"enabled": false, "allow_sso": false, "sso_config": {"protocol": ""},
            "allow_email_code_login": false, "allow_email_password_login": false},
        "plugin_installation_permission": {"plugin_installation_scope": "all", "restrict_to_marketplace_only": false},
        "enable_change_email": false,
        "plugin_manager": {"enabled": false},
        "trial_models": [],
        "enable_creators_platform": false,
        "enable_trial_app": false, "enable_explore_banner": false,
    })
}

async fn system_features(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&system_features_json()))
}

/// No update check: the caller's own version is the newest.
async fn version(_state: AppState, req: Request<Body>) -> HandlerResult {
    let current = query_param(&query_pairs(&req), "current_version")
        .ok_or_else(|| ServiceError::invalid("current_version is required"))?;
    Ok(ok(
        &json!({"version": current, "release_date": "", "release_notes": "",
        "can_auto_update": false,
        "features": {"can_replace_logo": false, "model_load_balancing_enabled": false}}),
    ))
}

async fn ping(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"result": "pong"})))
}

/// The account object of the profile and the settings calls.
pub fn account_json(a: &AccountRow) -> Value {
    json!({"id": a.id, "name": a.name, "email": a.email, "avatar": a.avatar,
        "avatar_url": a.avatar.as_ref().filter(|v| v.starts_with("http")),
        "is_password_set": a.password_hash.is_some(),
        "interface_language": a.interface_language, "interface_theme": a.interface_theme,
        "timezone": a.timezone, "last_login_at": a.last_login_at, "last_login_ip": a.last_login_ip,
        "created_at": a.created_at})
}

async fn caller_account(state: &AppState, caller: &Caller) -> Result<AccountRow, BoxError> {
    state
        .store()
        .account(&caller.account_id)
        .await?
        .ok_or_else(|| HttpError::unauthorized(crate::sessions::messages::UNAUTHORIZED).into())
}

async fn profile(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    Ok(ok(&account_json(&caller_account(&state, &caller).await?)))
}

/// A workspace's display name: its title, else its name.
pub fn workspace_name(m: &MembershipRow) -> &str {
    m.workspace_title.as_deref().unwrap_or(&m.workspace_name)
}

fn workspace_json(m: &MembershipRow) -> Value {
    json!({"id": m.workspace_id, "name": workspace_name(m), "plan": m.plan,
        "status": m.workspace_status, "created_at": m.workspace_created_at, "role": m.role,
        "in_trial": null, "trial_end_reason": null, "custom_config": null, "trial_credits": null,
        "trial_credits_used": null, "next_credit_reset_date": null})
}

async fn current_membership(state: &AppState, caller: &Caller) -> Result<MembershipRow, BoxError> {
    state
        .store()
        .memberships(&caller.account_id)
        .await?
        .into_iter()
        .find(|m| m.workspace_id == caller.workspace_id)
        .ok_or_else(|| HttpError::unauthorized(crate::sessions::messages::UNAUTHORIZED).into())
}

async fn current_workspace(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    Ok(ok(&workspace_json(
        &current_membership(&state, &caller).await?,
    )))
}

async fn workspaces(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let list: Vec<Value> = state
        .store()
        .memberships(&caller.account_id)
        .await?
        .iter()
        .map(|m| {
            json!({"id": m.workspace_id, "name": workspace_name(m), "plan": "sandbox",
                "status": m.workspace_status, "created_at": m.workspace_created_at,
                "current": m.workspace_id == caller.workspace_id})
        })
        .collect();
    Ok(ok(&json!({"workspaces": list})))
}

async fn switch(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let body = object_or_empty(req).await?;
    let tenant = text(&body, "tenant_id").unwrap_or_default();
    if !state
        .store()
        .switch_workspace(&caller.account_id, &tenant)
        .await?
    {
        return Err(ConsoleError::AccountNotLinkTenant.into());
    }
    let switched = Caller {
        workspace_id: tenant,
        ..caller
    };
    let m = current_membership(&state, &switched).await?;
    Ok(ok(
        &json!({"result": "success", "new_tenant": workspace_json(&m)}),
    ))
}

/// The per-workspace features of a self-hosted server: billing and education off (the
/// console then ignores the quota numbers and never calls the billing routes).
async fn features(_state: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({
        "billing": {"enabled": false, "subscription": {"plan": "sandbox", "interval": ""}},
        "education": {"enabled": false, "activated": false},
        "members": {"size": 0, "limit": 1}, "apps": {"size": 0, "limit": 10},
        "vector_space": {"size": 0, "limit": 5}, "knowledge_rate_limit": 10,
        "annotation_quota_limit": {"size": 0, "limit": 10},
        "documents_upload_quota": {"size": 0, "limit": 50},
        "docs_processing": "standard", "can_replace_logo": false,
        "model_load_balancing_enabled": false, "dataset_operator_enabled": false,
        "webapp_copyright_enabled": false,
        "workspace_members": {"enabled": false, "size": 0, "limit": 0},
        "is_allow_transfer_workspace": false,
        "trigger_event": {"usage": 0, "limit": 3000, "reset_date": 0},
        "api_rate_limit": {"usage": 0, "limit": 5000, "reset_date": 0},
        "human_input_email_delivery_enabled": false,
        "knowledge_pipeline": {"publish_enabled": false},
        "next_credit_reset_date": 0,
    })))
}

async fn change(state: &AppState, caller: &Caller, change: ProfileChange) -> HandlerResult {
    state
        .store()
        .update_account(&caller.account_id, &change)
        .await?;
    Ok(ok(&account_json(&caller_account(state, caller).await?)))
}

async fn set_name(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let name = text(&object_or_empty(req).await?, "name").unwrap_or_default();
    let len = name.trim().chars().count();
    if !(3..=MAX_NAME).contains(&len) {
        return Err(
            ServiceError::invalid(format!("name must be 3 to {MAX_NAME} characters.")).into(),
        );
    }
    change(&state, &caller, ProfileChange::Name(name.trim().to_owned())).await
}

async fn set_language(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let lang = text(&object_or_empty(req).await?, "interface_language").unwrap_or_default();
    if !is_language(&lang) {
        return Err(ServiceError::invalid(format!("{lang} is not a valid language.")).into());
    }
    change(&state, &caller, ProfileChange::Language(lang)).await
}

async fn set_theme(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let theme = text(&object_or_empty(req).await?, "interface_theme").unwrap_or_default();
    if !matches!(theme.as_str(), "light" | "dark") {
        return Err(ServiceError::invalid("interface_theme must be light or dark").into());
    }
    change(&state, &caller, ProfileChange::Theme(theme)).await
}

async fn set_timezone(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let tz = text(&object_or_empty(req).await?, "timezone").unwrap_or_default();
    if tz.parse::<chrono_tz::Tz>().is_err() {
        return Err(ServiceError::invalid(format!("{tz} is not a valid timezone.")).into());
    }
    change(&state, &caller, ProfileChange::Timezone(tz)).await
}

async fn set_password(state: AppState, req: Request<Body>) -> HandlerResult {
    let caller = Caller::of(&req)?;
    let body = object_or_empty(req).await?;
    let new = text(&body, "new_password").unwrap_or_default();
    if text(&body, "repeat_new_password").as_deref() != Some(new.as_str()) {
        return Err(ConsoleError::RepeatPasswordNotMatch.into());
    }
    if !accounts::password_ok(&new) {
        return Err(ServiceError::invalid(accounts::PASSWORD_RULE).into());
    }
    let account = caller_account(&state, &caller).await?;
    if let Some(stored) = account.password_hash.clone() {
        let current = text(&body, "password").unwrap_or_default();
        let matches =
            tokio::task::spawn_blocking(move || accounts::verify_password(&current, &stored))
                .await?;
        if !matches {
            return Err(ConsoleError::CurrentPasswordIncorrect.into());
        }
    }
    let hashed = hash(new).await?;
    change(&state, &caller, ProfileChange::PasswordHash(hashed)).await
}
