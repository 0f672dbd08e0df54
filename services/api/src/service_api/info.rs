//! App information: `/info`, `/parameters`, `/meta`, `/site`, `/end-users/{id}`.

use http::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, AuthKind, Body, HttpError, RouteMeta};

use crate::context::current_app;
use crate::error::ServiceError;
use crate::request::path_param;
use crate::runtime::config::enabled_agent_tools;
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::util::iso;
use crate::{handler, HandlerResult, Route};

const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);
/// The author shown in `/info` (weir has no console accounts).
pub const AUTHOR_NAME: &str = "admin";

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/info", APP_KEY, handler(state, info)),
        Route::new(
            Method::GET,
            "/v1/parameters",
            APP_KEY,
            handler(state, parameters),
        ),
        Route::new(Method::GET, "/v1/meta", APP_KEY, handler(state, meta)),
        Route::new(Method::GET, "/v1/site", APP_KEY, handler(state, site)),
        Route::new(
            Method::GET,
            "/v1/end-users/{end_user_id}",
            APP_KEY,
            handler(state, end_user),
        )
        .uuids(&["end_user_id"]),
    ]
}

async fn info(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"name": app.row.name, "description": app.row.description, "tags": [],
            "mode": app.row.mode, "author_name": AUTHOR_NAME}),
    ))
}

fn feature(f: &Map<String, Value>, key: &str, default: Value) -> Value {
    f.get(key)
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or(default)
}

/// The `user_input_form` of a workflow-based app: its start variables as one-key items.
fn start_form(app: &LoadedApp) -> Value {
    let nodes = app
        .dsl
        .pointer("/workflow/graph/nodes")
        .and_then(Value::as_array);
    let start = nodes.and_then(|n| {
        n.iter()
            .find(|n| n.pointer("/data/type").and_then(Value::as_str) == Some("start"))
    });
    let vars = start
        .and_then(|s| s.pointer("/data/variables"))
        .and_then(Value::as_array);
    Value::Array(
        vars.map(|vs| {
            vs.iter()
                .map(|v| {
                    let kind = v
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("text-input")
                        .to_owned();
                    json!({ kind: v })
                })
                .collect()
        })
        .unwrap_or_default(),
    )
}

/// The `/parameters` object of an app.
pub fn parameters_json(state: &AppState, app: &LoadedApp) -> Result<Value, ServiceError> {
    let features = app.features().ok_or(ServiceError::AppUnavailable)?;
    let workflow = app.mode.is_workflow_based();
    let off = || json!({"enabled": false});
    let mb = |b: u64| b / (1024 * 1024);
    let l = &state.settings().limits;
    let mut p = Map::new();
    p.insert(
        "opening_statement".into(),
        if app.mode == crate::dsl::AppMode::Workflow {
            Value::Null
        } else {
            feature(features, "opening_statement", json!(""))
        },
    );
    p.insert(
        "suggested_questions".into(),
        feature(features, "suggested_questions", json!([])),
    );
    p.insert(
        "suggested_questions_after_answer".into(),
        feature(features, "suggested_questions_after_answer", off()),
    );
    p.insert(
        "speech_to_text".into(),
        feature(features, "speech_to_text", off()),
    );
    p.insert(
        "text_to_speech".into(),
        feature(
            features,
            "text_to_speech",
            json!({"enabled": false, "voice": "", "language": ""}),
        ),
    );
    p.insert(
        "retriever_resource".into(),
        feature(
            features,
            "retriever_resource",
            if workflow {
                off()
            } else {
                json!({"enabled": true})
            },
        ),
    );
    p.insert("annotation_reply".into(), off());
    p.insert(
        "more_like_this".into(),
        feature(features, "more_like_this", off()),
    );
    p.insert(
        "user_input_form".into(),
        if workflow {
            start_form(app)
        } else {
            feature(features, "user_input_form", json!([]))
        },
    );
    p.insert(
        "sensitive_word_avoidance".into(),
        feature(
            features,
            "sensitive_word_avoidance",
            if workflow {
                off()
            } else {
                json!({"enabled": false, "type": "", "configs": []})
            },
        ),
    );
    p.insert(
        "file_upload".into(),
        feature(
            features,
            "file_upload",
            if workflow {
                json!({})
            } else {
                json!({"image": {"enabled": false, "number_limits": 3, "detail": "high", "transfer_methods": ["remote_url", "local_file"]}})
            },
        ),
    );
    p.insert(
        "system_parameters".into(),
        json!({"image_file_size_limit": mb(l.upload_image_bytes), "video_file_size_limit": mb(l.upload_video_bytes),
            "audio_file_size_limit": mb(l.upload_audio_bytes), "file_size_limit": mb(l.upload_file_bytes),
            "workflow_file_upload_limit": 10}),
    );
    Ok(Value::Object(p))
}

async fn parameters(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    Ok(body::json(StatusCode::OK, &parameters_json(&state, &app)?))
}

async fn meta(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    Ok(body::json(StatusCode::OK, &meta_json(&app)))
}

/// `GET /meta`: the icons of the tools an app uses.
pub fn meta_json(app: &LoadedApp) -> Value {
    let mut icons = Map::new();
    let mut add = |name: &str| {
        icons.insert(
            name.to_owned(),
            json!({"background": "#EFF1F5", "content": "🔧"}),
        );
    };
    if let Some(mc) = app.dsl.get("model_config").and_then(Value::as_object) {
        for t in enabled_agent_tools(mc) {
            add(&t.tool_name);
        }
    }
    for node in app
        .dsl
        .pointer("/workflow/graph/nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if node.pointer("/data/type").and_then(Value::as_str) == Some("tool") {
            if let Some(name) = node.pointer("/data/tool_name").and_then(Value::as_str) {
                add(name);
            }
        }
    }
    json!({"tool_icons": icons})
}

async fn site(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let site = state
        .store()
        .site(&app.row.id)
        .await?
        .ok_or_else(|| HttpError::forbidden("Site not found."))?;
    Ok(body::json(
        StatusCode::OK,
        &crate::console::app_json::site_public_json(&state, &site),
    ))
}

async fn end_user(state: AppState, req: Request<Body>) -> HandlerResult {
    let id = path_param(&req, "end_user_id").to_lowercase();
    let app = current_app(&state, &req).await?;
    let u = state
        .store()
        .end_user_by_id(&app.row.id, &id)
        .await?
        .ok_or(ServiceError::EndUserNotFound)?;
    Ok(body::json(
        StatusCode::OK,
        &json!({"id": u.id, "tenant_id": u.workspace_id, "app_id": u.app_id, "type": u.kind,
            "external_user_id": u.session_id, "name": u.name, "is_anonymous": u.is_anonymous,
            "session_id": u.session_id, "created_at": iso(u.created_at), "updated_at": iso(u.updated_at)}),
    ))
}
