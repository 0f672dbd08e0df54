//! How the console shows an app: the list item (`AppPartial`), the detail (`AppDetail`,
//! and `AppDetailWithSite` with its web-app site), the easy-UI `ModelConfig` with every
//! key filled, and the site objects.

use http::Request;
use serde_json::{json, Map, Value};
use weir_layers::{Body, BoxError};

use crate::runtime::LoadedApp;
use crate::service_api::files::signed_url;
use crate::state::AppState;
use crate::store::{SiteRow, WorkflowRow};

/// Longest description kept when a pre-prompt stands in for it.
const DESCRIPTION_FROM_PROMPT: usize = 200;

/// The defaults of an easy-UI configuration: what an unset key reads as.
pub fn model_config_defaults() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "opening_statement": null, "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": false},
        "speech_to_text": {"enabled": false}, "text_to_speech": {"enabled": false},
        "retriever_resource": {"enabled": true}, "annotation_reply": {"enabled": false},
        "more_like_this": {"enabled": false},
        "sensitive_word_avoidance": {"enabled": false, "type": "", "config": {}},
        "external_data_tools": [], "model": null, "user_input_form": [],
        "dataset_query_variable": null, "pre_prompt": null,
        "agent_mode": {"enabled": false, "strategy": null, "tools": [], "prompt": null},
        "prompt_type": "simple", "chat_prompt_config": {}, "completion_prompt_config": {},
        "dataset_configs": {"retrieval_model": "multiple"},
        "file_upload": {"image": {"enabled": false, "number_limits": 3, "detail": "high",
            "transfer_methods": ["remote_url", "local_file"]}},
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

/// The app's easy-UI configuration as the console reads it (`null` for workflow apps).
pub fn model_config_json(app: &LoadedApp) -> Value {
    if app.mode.is_workflow_based() {
        return Value::Null;
    }
    let mut out = model_config_defaults();
    if let Some(stored) = app.dsl.get("model_config").and_then(Value::as_object) {
        for (k, v) in stored {
            if out.contains_key(k) && !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(d) = out
        .get_mut("dataset_configs")
        .and_then(Value::as_object_mut)
    {
        d.entry("retrieval_model")
            .or_insert_with(|| json!("single"));
    }
    let r = &app.row;
    out.insert("created_by".into(), json!(r.created_by));
    out.insert("created_at".into(), json!(r.created_at));
    out.insert("updated_by".into(), json!(r.updated_by));
    out.insert("updated_at".into(), json!(r.updated_at));
    Value::Object(out)
}

/// The `workflow` of an app: its published version, if any.
pub fn workflow_json(app: &LoadedApp, published: Option<&WorkflowRow>) -> Value {
    match published {
        Some(w) => json!({"id": w.id, "created_by": app.row.created_by, "created_at": w.created_at,
            "updated_by": app.row.updated_by, "updated_at": w.created_at}),
        None => Value::Null,
    }
}

/// The app's tags as `[{id, name, type}]`.
pub fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(id, name)| json!({"id": id, "name": name, "type": "app"}))
            .collect(),
    )
}

fn icon_url(state: &AppState, icon_type: Option<&str>, icon: Option<&str>) -> Value {
    match (icon_type, icon) {
        (Some("image"), Some(file)) if !file.is_empty() => json!(signed_url(state, file)),
        _ => Value::Null,
    }
}

/// What the list shows of an app.
pub struct Listed<'a> {
    /// The app.
    pub app: &'a LoadedApp,
    /// Its published workflow.
    pub published: Option<&'a WorkflowRow>,
    /// Its tags (id, name).
    pub tags: &'a [(String, String)],
    /// Its creator's name.
    pub author_name: Option<&'a str>,
}

/// `AppPartial`, a list item.
pub fn app_partial_json(state: &AppState, l: &Listed<'_>) -> Value {
    let r = &l.app.row;
    let description = if r.description.is_empty() {
        let prompt = l
            .app
            .dsl
            .pointer("/model_config/pre_prompt")
            .and_then(Value::as_str)
            .unwrap_or("");
        if prompt.chars().count() > DESCRIPTION_FROM_PROMPT {
            let cut: String = prompt.chars().take(DESCRIPTION_FROM_PROMPT).collect();
            format!("{cut}...")
        } else {
            prompt.to_owned()
        }
    } else {
        r.description.clone()
    };
    let model_config = if l.app.mode.is_workflow_based() {
        Value::Null
    } else {
        let mc = l.app.dsl.get("model_config");
        json!({"model": mc.and_then(|m| m.get("model")), "pre_prompt": mc.and_then(|m| m.get("pre_prompt")),
            "created_by": r.created_by, "created_at": r.created_at,
            "updated_by": r.updated_by, "updated_at": r.updated_at})
    };
    json!({"id": r.id, "name": r.name, "description": description, "mode": r.mode,
        "icon_type": r.icon_type, "icon": r.icon, "icon_background": r.icon_background,
        "icon_url": icon_url(state, Some(&r.icon_type), Some(&r.icon)),
        "max_active_requests": r.max_active_requests, "model_config": model_config,
        "workflow": workflow_json(l.app, l.published),
        "use_icon_as_answer_icon": r.use_icon_as_answer_icon,
        "created_by": r.created_by, "created_at": r.created_at,
        "updated_by": r.updated_by, "updated_at": r.updated_at,
        "tags": tags_json(l.tags), "access_mode": null, "create_user_name": null,
        "author_name": l.author_name, "has_draft_trigger": false})
}

/// The app's published workflow and tags, as the detail shows them.
pub async fn detail_parts(
    state: &AppState,
    app: &LoadedApp,
) -> Result<(Option<WorkflowRow>, Vec<(String, String)>), BoxError> {
    let store = state.store();
    let published = match &app.row.workflow_id {
        Some(id) => store.workflow(id).await?,
        None => None,
    };
    let tags = store
        .app_tags(std::slice::from_ref(&app.row.id))
        .await?
        .into_iter()
        .map(|(_, id, name)| (id, name))
        .collect();
    Ok((published, tags))
}

/// `AppDetail`.
pub async fn app_detail_json(state: &AppState, app: &LoadedApp) -> Result<Value, BoxError> {
    let (published, tags) = detail_parts(state, app).await?;
    let r = &app.row;
    Ok(
        json!({"id": r.id, "name": r.name, "description": r.description, "mode": r.mode,
        "icon": r.icon, "icon_background": r.icon_background, "enable_site": r.enable_site,
        "enable_api": r.enable_api, "model_config": model_config_json(app),
        "workflow": workflow_json(app, published.as_ref()), "tracing": r.tracing,
        "use_icon_as_answer_icon": r.use_icon_as_answer_icon,
        "created_by": r.created_by, "created_at": r.created_at,
        "updated_by": r.updated_by, "updated_at": r.updated_at,
        "access_mode": null, "tags": tags_json(&tags)}),
    )
}

/// `http://host` of the request (behind a proxy: its forwarded scheme and host).
pub fn request_root(req: &Request<Body>) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}

/// The web apps' base URL: configured, else the request's root.
pub fn app_base_url(state: &AppState, root: &str) -> String {
    match state.settings().app_base_url() {
        "" => root.to_owned(),
        url => url.to_owned(),
    }
}

/// The web-app site as the app detail shows it.
pub fn site_json(state: &AppState, s: &SiteRow, base_url: &str) -> Value {
    json!({"access_token": s.code, "code": s.code, "title": s.title, "icon_type": s.icon_type,
        "icon": s.icon, "icon_background": s.icon_background,
        "icon_url": icon_url(state, s.icon_type.as_deref(), s.icon.as_deref()),
        "description": s.description, "default_language": s.default_language,
        "chat_color_theme": s.chat_color_theme, "chat_color_theme_inverted": s.chat_color_theme_inverted,
        "customize_domain": s.customize_domain, "copyright": s.copyright,
        "privacy_policy": s.privacy_policy, "custom_disclaimer": s.custom_disclaimer,
        "customize_token_strategy": s.customize_token_strategy, "prompt_public": s.prompt_public,
        "app_base_url": base_url, "show_workflow_steps": s.show_workflow_steps,
        "use_icon_as_answer_icon": s.use_icon_as_answer_icon,
        "created_by": s.created_by, "created_at": s.created_at,
        "updated_by": s.updated_by, "updated_at": s.updated_at})
}

/// The site as a published web app (and the Service API's `/v1/site`) shows it.
pub fn site_public_json(state: &AppState, s: &SiteRow) -> Value {
    json!({"title": s.title, "chat_color_theme": s.chat_color_theme,
        "chat_color_theme_inverted": s.chat_color_theme_inverted, "icon_type": s.icon_type,
        "icon": s.icon, "icon_background": s.icon_background, "description": s.description,
        "copyright": s.copyright, "privacy_policy": s.privacy_policy,
        "custom_disclaimer": s.custom_disclaimer, "default_language": s.default_language,
        "show_workflow_steps": s.show_workflow_steps,
        "use_icon_as_answer_icon": s.use_icon_as_answer_icon,
        "icon_url": icon_url(state, s.icon_type.as_deref(), s.icon.as_deref())})
}

/// The short `Site` answer of the site settings calls.
pub fn site_short_json(s: &SiteRow) -> Value {
    json!({"app_id": s.app_id, "access_token": s.code, "code": s.code, "title": s.title,
        "icon": s.icon, "icon_background": s.icon_background, "description": s.description,
        "default_language": s.default_language, "customize_domain": s.customize_domain,
        "copyright": s.copyright, "privacy_policy": s.privacy_policy,
        "custom_disclaimer": s.custom_disclaimer,
        "customize_token_strategy": s.customize_token_strategy, "prompt_public": s.prompt_public,
        "show_workflow_steps": s.show_workflow_steps,
        "use_icon_as_answer_icon": s.use_icon_as_answer_icon})
}

/// `AppDetailWithSite`.
pub async fn app_detail_with_site_json(
    state: &AppState,
    app: &LoadedApp,
    root: &str,
) -> Result<Value, BoxError> {
    let mut v = app_detail_json(state, app).await?;
    let r = &app.row;
    let site = state.store().site(&r.id).await?.unwrap_or_else(|| SiteRow {
        app_id: r.id.clone(),
        title: r.name.clone(),
        ..Default::default()
    });
    let api_base = match state.settings().service_api_url.trim_end_matches('/') {
        "" => format!("{root}/v1"),
        url if url.ends_with("/v1") => url.to_owned(),
        url => format!("{url}/v1"),
    };
    let extra = json!({"icon_type": r.icon_type,
        "icon_url": icon_url(state, Some(&r.icon_type), Some(&r.icon)),
        "api_base_url": api_base, "max_active_requests": r.max_active_requests,
        "deleted_tools": [], "site": site_json(state, &site, &app_base_url(state, root))});
    if let (Value::Object(out), Value::Object(more)) = (&mut v, extra) {
        out.extend(more);
    }
    Ok(v)
}
