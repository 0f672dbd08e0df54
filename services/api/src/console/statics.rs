//! Calls every console page makes about features weir does not have: plugins and the
//! marketplace, education and notifications, tracing, MCP servers, triggers, annotations,
//! tools, extensions. Each answers what is true of weir — nothing installed, nothing
//! configured, switched off — so the console renders quietly; the feature flags of
//! `system-features` and `features` keep the console from offering them.
//!
//! Also the workspace's knowledge list, which every page's header loads.

use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::Body;

use super::{caller_and_app, Caller, USER};
use crate::reply::{ok, success};
use crate::request::{query_pairs, query_param};
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// Retrieval methods weir's knowledge bases support.
pub const RETRIEVAL_METHODS: [&str; 3] = ["semantic_search", "full_text_search", "hybrid_search"];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    let get = |p: &'static str, h| Route::new(Method::GET, p, USER, h);
    let post = |p: &'static str, h| Route::new(Method::POST, p, USER, h);
    let app = |m: Method, p: &'static str, h| Route::new(m, p, USER, h).uuids(&["app_id"]);
    vec![
        get(
            "/console/api/workspaces/current/plugin/preferences/fetch",
            handler(state, plugin_preferences),
        ),
        get(
            "/console/api/workspaces/current/plugin/tasks",
            handler(state, plugin_tasks),
        ),
        get(
            "/console/api/workspaces/current/plugin/list",
            handler(state, plugin_list),
        ),
        post(
            "/console/api/workspaces/current/plugin/list/installations/ids",
            handler(state, installed_ids),
        ),
        post(
            "/console/api/workspaces/current/plugin/list/latest-versions",
            handler(state, latest_versions),
        ),
        get("/console/api/account/education", handler(state, education)),
        get("/console/api/notification", handler(state, notification)),
        post("/console/api/notification/dismiss", handler(state, dismiss)),
        get(
            "/console/api/datasets/retrieval-setting",
            handler(state, retrieval_setting),
        ),
        get(
            "/console/api/datasets",
            handler(state, crate::datasets::bases::list),
        ),
        post(
            "/console/api/apps/workflows/online-users",
            handler(state, online_users),
        ),
        get(
            "/console/api/workspaces/current/tool-providers",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/tools/builtin",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/tools/api",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/tools/workflow",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/tools/mcp",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/triggers",
            handler(state, empty_list),
        ),
        get(
            "/console/api/workspaces/current/agent-providers",
            handler(state, empty_list),
        ),
        get(
            "/console/api/api-based-extension",
            handler(state, empty_list),
        ),
        get(
            "/console/api/code-based-extension",
            handler(state, code_extensions),
        ),
        get(
            "/console/api/rag/pipelines/recommended-plugins",
            handler(state, recommended_plugins),
        ),
        get(
            "/console/api/app/prompt-templates",
            handler(state, prompt_templates),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/trace",
            handler(state, trace),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/trace-config",
            handler(state, trace_config),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/server",
            handler(state, mcp_server),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/triggers",
            handler(state, app_triggers),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/annotations/count",
            handler(state, annotation_count),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/annotation-setting",
            handler(state, annotation_setting),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/annotations",
            handler(state, annotations),
        ),
        app(
            Method::GET,
            "/console/api/apps/{app_id}/text-to-audio/voices",
            handler(state, voices),
        ),
    ]
}

async fn plugin_preferences(_s: AppState, req: Request<Body>) -> HandlerResult {
    Caller::of(&req)?;
    // `noone` keeps the console from polling plugin installation tasks.
    Ok(ok(&json!({
        "permission": {"install_permission": "noone", "debug_permission": "noone"},
        "auto_upgrade": {"strategy_setting": "disabled", "upgrade_time_of_day": 0,
            "upgrade_mode": "exclude", "exclude_plugins": [], "include_plugins": []}})))
}

async fn plugin_tasks(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"tasks": []})))
}

async fn plugin_list(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"plugins": [], "total": 0})))
}

async fn installed_ids(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"plugins": []})))
}

async fn latest_versions(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"versions": {}})))
}

async fn education(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(
        &json!({"is_student": false, "allow_refresh": false, "expire_at": null}),
    ))
}

async fn notification(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"should_show": false, "notifications": []})))
}

async fn dismiss(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(success())
}

async fn retrieval_setting(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"retrieval_method": RETRIEVAL_METHODS})))
}

async fn online_users(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!({"data": {}})))
}

async fn empty_list(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(&json!([])))
}

async fn code_extensions(_s: AppState, req: Request<Body>) -> HandlerResult {
    let module = query_param(&query_pairs(&req), "module").unwrap_or_default();
    Ok(ok(&json!({"module": module, "data": []})))
}

async fn recommended_plugins(_s: AppState, _req: Request<Body>) -> HandlerResult {
    Ok(ok(
        &json!({"installed_recommended_plugins": [], "uninstalled_recommended_plugins": []}),
    ))
}

/// Expert-mode starting prompts: the simple prompt's parts laid out for editing.
async fn prompt_templates(_s: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    let app_mode = query_param(&q, "app_mode").unwrap_or_else(|| "chat".into());
    let model_mode = query_param(&q, "model_mode").unwrap_or_else(|| "chat".into());
    let context = query_param(&q, "has_context").as_deref() == Some("true");
    let context_part = if context {
        "Use the following context as your learned knowledge, inside <context></context> XML tags.\n<context>\n{{#context#}}\n</context>\n\n"
    } else {
        ""
    };
    let v: Value = if model_mode == "completion" {
        let history = if app_mode == "chat" {
            "Here is the chat history, between the user and you, inside <histories></histories> XML tags.\n<histories>\n{{#histories#}}\n</histories>\n\nHuman: {{#query#}}\n\nAssistant: "
        } else {
            "{{#query#}}"
        };
        json!({"chat_prompt_config": {}, "completion_prompt_config": {
            "prompt": {"text": format!("{{{{#pre_prompt#}}}}\n{context_part}{history}")},
            "conversation_histories_role": {"user_prefix": "Human", "assistant_prefix": "Assistant"}},
            "stop": if app_mode == "chat" { json!(["Human:"]) } else { json!([]) }})
    } else {
        json!({"chat_prompt_config": {"prompt": [{"role": "system",
            "text": format!("{context_part}{{{{#pre_prompt#}}}}")}]},
            "completion_prompt_config": {}, "stop": []})
    };
    Ok(ok(&v))
}

async fn trace(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({"enabled": false, "tracing_provider": null})))
}

async fn trace_config(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({"has_not_configured": true})))
}

async fn mcp_server(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({})))
}

async fn app_triggers(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({"data": []})))
}

async fn annotation_count(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({"count": 0})))
}

async fn annotation_setting(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!({"enabled": false})))
}

async fn annotations(state: AppState, req: Request<Body>) -> HandlerResult {
    let q = query_pairs(&req);
    caller_and_app(&state, &req).await?;
    let page = query_param(&q, "page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1);
    let limit = query_param(&q, "limit")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(20);
    Ok(ok(
        &json!({"data": [], "has_more": false, "limit": limit, "total": 0, "page": page}),
    ))
}

async fn voices(state: AppState, req: Request<Body>) -> HandlerResult {
    caller_and_app(&state, &req).await?;
    Ok(ok(&json!([])))
}
