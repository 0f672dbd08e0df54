//! Generation endpoints of easy-UI apps: `POST /chat-messages`, `POST /completion-messages`
//! and their `…/{task_id}/stop`.

use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use weir_layers::{body, AuthKind, Body, BoxError, RouteMeta, Surface};

use crate::context::{current_app, end_user, required_user};
use crate::error::{messages, ServiceError};
use crate::events::{self, ChatEnvelope};
use crate::request::{json_object, user_string};
use crate::runtime::chat::{self, Emitter, Origin, Turn};
use crate::runtime::config::AppConfig;
use crate::runtime::files::{self, FileUploadConfig};
use crate::runtime::LoadedApp;
use crate::state::AppState;
use crate::store::{ConversationRow, EndUserRow};
use crate::{handler, HandlerResult, Route};
use weir_core::inputs;
use weir_core::model::Models;

/// How a generation is served: on which surface (errors, stream framing), for whom and in
/// which event format, and — in the console's debugger — with which configuration instead
/// of the app's stored one.
#[derive(Clone, Debug)]
pub struct Serving {
    /// The surface.
    pub surface: Surface,
    /// Who asks.
    pub origin: Origin,
    /// A configuration to use instead of the app's (the debugger's unsaved one).
    pub config: Option<AppConfig>,
}

impl From<Surface> for Serving {
    fn from(surface: Surface) -> Self {
        Serving {
            surface,
            origin: Origin::default(),
            config: None,
        }
    }
}

const GENERATE: RouteMeta = RouteMeta::auth(AuthKind::AppKey).generation();
const APP_KEY: RouteMeta = RouteMeta::auth(AuthKind::AppKey);

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/v1/chat-messages",
            GENERATE,
            handler(state, chat_messages),
        ),
        Route::new(
            Method::POST,
            "/v1/completion-messages",
            GENERATE,
            handler(state, completion_messages),
        ),
        Route::new(
            Method::POST,
            "/v1/chat-messages/{task_id}/stop",
            APP_KEY,
            handler(state, stop_chat),
        ),
        Route::new(
            Method::POST,
            "/v1/completion-messages/{task_id}/stop",
            APP_KEY,
            handler(state, stop_completion),
        ),
    ]
}

/// `response_mode`: `true` for streaming.
pub fn streaming(body: &Map<String, Value>) -> Result<bool, ServiceError> {
    match body.get("response_mode") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(m)) if m == "blocking" => Ok(false),
        Some(Value::String(m)) if m == "streaming" => Ok(true),
        Some(_) => Err(ServiceError::invalid(
            "response_mode must be 'blocking' or 'streaming'",
        )),
    }
}

/// `inputs`: a required object.
pub fn inputs_object(body: &Map<String, Value>) -> Result<Map<String, Value>, ServiceError> {
    match body.get("inputs") {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Err(ServiceError::invalid("inputs is required")),
        Some(_) => Err(ServiceError::invalid("inputs must be an object")),
    }
}

/// `files`: null or a list.
pub fn files_list(body: &Map<String, Value>) -> Result<Vec<Value>, ServiceError> {
    match body.get("files") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(ServiceError::invalid("files must be a list")),
    }
}

/// `conversation_id`: blank → new conversation; otherwise a UUID.
pub fn conversation_id(body: &Map<String, Value>) -> Result<Option<String>, ServiceError> {
    match body.get("conversation_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => crate::util::canonical_uuid(s)
            .map(Some)
            .ok_or_else(|| ServiceError::invalid("conversation_id must be a valid UUID")),
        Some(_) => Err(ServiceError::invalid(
            "conversation_id must be a valid UUID",
        )),
    }
}

/// A boolean field with a default (`null` counts as the default).
pub fn bool_field(
    body: &Map<String, Value>,
    key: &str,
    default: bool,
) -> Result<bool, ServiceError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ServiceError::invalid(format!("{key} must be a boolean"))),
    }
}

/// The `user` of a JSON body, required.
pub async fn body_user(
    state: &AppState,
    app: &LoadedApp,
    body: &Map<String, Value>,
) -> Result<EndUserRow, BoxError> {
    let user = required_user(user_string(body.get("user")))?;
    end_user(state, app, Some(&user)).await
}

/// The `query` of a chat turn: a non-empty string (NUL characters dropped).
pub fn required_query(body: &Map<String, Value>) -> Result<String, ServiceError> {
    let query = match body.get("query") {
        Some(Value::String(q)) => q.replace('\0', ""),
        None | Some(Value::Null) => return Err(ServiceError::invalid("query is required")),
        Some(_) => return Err(ServiceError::invalid("query must be a string")),
    };
    if query.is_empty() {
        return Err(ServiceError::invalid("query is required"));
    }
    Ok(query)
}

/// The caller's conversation a turn continues (`None`: a new one); 404 if it is not the
/// caller's, `conversation_completed` if it has ended.
pub async fn open_conversation(
    state: &AppState,
    app: &LoadedApp,
    user: &EndUserRow,
    id: Option<&str>,
) -> Result<Option<ConversationRow>, BoxError> {
    let Some(id) = id else { return Ok(None) };
    let c = state
        .store()
        .conversation(&app.row.id, &user.id, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(messages::CONVERSATION_NOT_EXISTS))?;
    if c.status != "normal" {
        return Err(ServiceError::ConversationCompleted.into());
    }
    Ok(Some(c))
}

/// A blocking run's JSON reply (`application/json; charset=utf-8`).
pub fn blocking_json(value: &Value) -> http::Response<Body> {
    let mut res = body::json(StatusCode::OK, value);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

async fn chat_messages(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = body_user(&state, &app, &body).await?;
    crate::context::require_chat(&app)?;
    if app.mode.is_workflow_based() {
        return crate::service_api::workflows::advanced_chat(
            state,
            app,
            user,
            body,
            Surface::ServiceApi.into(),
        )
        .await;
    }
    chat_turn(state, app, user, body, Surface::ServiceApi.into()).await
}

/// A chat or agent-chat turn from a request body (`query`, `inputs`, `response_mode`,
/// `conversation_id`, `files`, `auto_generate_name`, `parent_message_id`) of a caller
/// already known.
pub async fn chat_turn(
    state: AppState,
    app: Arc<LoadedApp>,
    user: EndUserRow,
    body: Map<String, Value>,
    mut serving: Serving,
) -> HandlerResult {
    let b = ChatBody::parse(&body)?;
    let conversation = open_conversation(&state, &app, &user, b.conversation_id.as_deref()).await?;
    if serving.origin.parent_message_id.is_none() {
        serving.origin.parent_message_id = body
            .get("parent_message_id")
            .and_then(Value::as_str)
            .and_then(crate::util::canonical_uuid);
    }
    let ask = Ask {
        query: b.query,
        raw_inputs: b.inputs,
        conversation,
        file_maps: b.files,
        auto_generate_name: b.auto_generate_name,
        stream: b.stream,
    };
    generate(state, app, user, ask, serving).await
}

/// The checked fields of a chat turn's body, shared by chat and chatflow apps.
pub struct ChatBody {
    /// `query`, required and non-empty.
    pub query: String,
    /// `inputs`, as sent.
    pub inputs: Map<String, Value>,
    /// `response_mode` is `streaming`.
    pub stream: bool,
    /// `conversation_id`, canonical, when given.
    pub conversation_id: Option<String>,
    /// `files`, as sent.
    pub files: Vec<Value>,
    /// `auto_generate_name` (default true).
    pub auto_generate_name: bool,
}

impl ChatBody {
    /// Reads and checks the fields in turn; the first bad one is the error.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, ServiceError> {
        Ok(ChatBody {
            query: required_query(body)?,
            inputs: inputs_object(body)?,
            stream: streaming(body)?,
            conversation_id: conversation_id(body)?,
            files: files_list(body)?,
            auto_generate_name: bool_field(body, "auto_generate_name", true)?,
        })
    }
}

async fn completion_messages(state: AppState, req: Request<Body>) -> HandlerResult {
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = body_user(&state, &app, &body).await?;
    if app.mode != crate::dsl::AppMode::Completion {
        return Err(ServiceError::AppUnavailable.into());
    }
    completion_turn(state, app, user, body, Surface::ServiceApi.into()).await
}

/// A completion from a request body (`query`, `inputs`, `response_mode`, `files`) of a
/// caller already known; completions never name a conversation.
pub async fn completion_turn(
    state: AppState,
    app: Arc<LoadedApp>,
    user: EndUserRow,
    body: Map<String, Value>,
    serving: Serving,
) -> HandlerResult {
    let query = match body.get("query") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(q)) => q.replace('\0', ""),
        Some(_) => return Err(ServiceError::invalid("query must be a string").into()),
    };
    let ask = Ask {
        query,
        raw_inputs: inputs_object(&body)?,
        conversation: None,
        file_maps: files_list(&body)?,
        auto_generate_name: false,
        stream: streaming(&body)?,
    };
    generate(state, app, user, ask, serving).await
}

/// What one generation asks, from its request body.
struct Ask {
    query: String,
    raw_inputs: Map<String, Value>,
    conversation: Option<ConversationRow>,
    file_maps: Vec<Value>,
    auto_generate_name: bool,
    stream: bool,
}

async fn generate(
    state: AppState,
    app: Arc<LoadedApp>,
    user: EndUserRow,
    ask: Ask,
    serving: Serving,
) -> HandlerResult {
    let config = match serving.config {
        Some(c) => c,
        None => app.config.clone().ok_or(ServiceError::AppUnavailable)?,
    };
    // Dify resolves the model before it validates inputs.
    let client = state
        .providers()
        .get(&config.model.provider, &config.model.name)?;
    let inputs = inputs::validate(&config.form, &ask.raw_inputs)?;
    let upload_cfg = FileUploadConfig::from_features(app.features());
    let files = if upload_cfg.enabled && !ask.file_maps.is_empty() {
        files::resolve(&state, &upload_cfg, &ask.file_maps, &user, false).await?
    } else {
        Vec::new()
    };
    let chat_like = app.mode.is_chat_like();
    let conversation_id = ask
        .conversation
        .as_ref()
        .map_or_else(crate::util::new_id, |c| c.id.clone());
    let envelope = chat::new_envelope(chat_like.then(|| conversation_id.clone()));
    let guard = state
        .tasks()
        .register(&envelope.task_id, &app.row.id, Some(&user.id));
    let simple = serving.origin.simple;
    let turn = Turn {
        app: app.clone(),
        config,
        client,
        end_user: user,
        query: ask.query,
        inputs,
        conversation: ask.conversation,
        files,
        auto_generate_name: ask.auto_generate_name,
        envelope: envelope.clone(),
        conversation_id,
        origin: serving.origin,
    };
    if ask.stream {
        let (tx, body) = state.event_channel(serving.surface);
        let flag = guard.flag.clone();
        let st = state.runtime().clone();
        let out = Emitter::Stream(std::sync::Arc::new(tx.clone()));
        events::spawn_producer(tx, envelope.error_keys(), async move {
            let _guard = guard;
            chat::run(st, turn, out, flag).await.map(|_| ())
        });
        return Ok(weir_layers::sse::response(body));
    }
    let flag = guard.flag.clone();
    // Boxed: the turn is a large future, and spawn would copy it by value.
    let task = tokio::spawn(Box::pin(async move {
        let _guard = guard;
        chat::run(state.runtime().clone(), turn, Emitter::Blocking, flag).await
    }));
    let result = task.await??;
    let metadata = if simple {
        Origin {
            simple,
            ..Default::default()
        }
        .shown_metadata(&result.metadata)
    } else {
        result.metadata
    };
    Ok(blocking_json(&blocking_reply(
        &envelope,
        &app,
        &result.answer,
        &metadata,
    )))
}

fn blocking_reply(env: &ChatEnvelope, app: &LoadedApp, answer: &str, metadata: &Value) -> Value {
    let mut v = Map::new();
    v.insert("event".into(), "message".into());
    v.insert("task_id".into(), env.task_id.clone().into());
    v.insert("id".into(), env.message_id.clone().into());
    v.insert("message_id".into(), env.message_id.clone().into());
    if let Some(c) = &env.conversation_id {
        v.insert("conversation_id".into(), c.clone().into());
    }
    v.insert("mode".into(), app.row.mode.clone().into());
    v.insert("answer".into(), answer.into());
    v.insert("metadata".into(), metadata.clone());
    v.insert("created_at".into(), env.created_at.into());
    Value::Object(v)
}

async fn stop(state: AppState, req: Request<Body>, completion: bool) -> HandlerResult {
    let task_id = crate::request::path_param(&req, "task_id");
    let app = current_app(&state, &req).await?;
    let body = json_object(req).await?;
    let user = body_user(&state, &app, &body).await?;
    if completion && app.mode != crate::dsl::AppMode::Completion {
        return Err(ServiceError::AppUnavailable.into());
    }
    if !completion {
        crate::context::require_chat(&app)?;
    }
    state
        .tasks()
        .stop(&task_id, &app.row.id, Some(&user.id))
        .await;
    Ok(body::json(StatusCode::OK, &json!({"result": "success"})))
}

async fn stop_chat(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, false).await
}

async fn stop_completion(state: AppState, req: Request<Body>) -> HandlerResult {
    stop(state, req, true).await
}
