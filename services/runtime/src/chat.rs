//! One turn of an easy-UI app: store the conversation and message, check moderation, build
//! the prompt, call the model (or the agent loop), stream the answer, and save how it ended.
//!
//! The turn runs on its own task, never on the connection: a client that hangs up does not
//! end it (the answer is generated and saved whole, as in Dify); a stop request or the run's
//! deadline ends it cooperatively, and what was generated is saved either way. A failure is
//! saved on the message (`status: error`) before it is returned.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use weir_core::BoxError;

use super::config::AppConfig;
use super::files::{FileUploadConfig, ResolvedFile};
use super::tasks::StopFlag;
use super::{moderation, naming, prompt, LoadedApp};
use crate::events::{AgentThought, ChatEnvelope};
use crate::store::{
    ConversationRow, EndUserRow, MessageFileRow, MessageOutcome, NewConversation, NewMessage, Store,
};
use crate::util::{new_id, now};
use crate::Runtime;
use weir_core::events::{StreamClosed, StreamOut};
use weir_core::inputs::text_of;
use weir_core::model::{ChatMessage, ChatRequest, LlmEvent, ModelClient, Usage};

/// Turns of history sent as memory, at most.
pub const MEMORY_TURNS: i64 = 50;
/// Characters of history sent as memory, at most (oldest turns go first).
pub const MEMORY_CHARS: usize = 48_000;

/// Where a turn's events go.
pub enum Emitter {
    /// A stream to the client.
    Stream(Arc<dyn StreamOut>),
    /// A blocking call: events are folded into the result only.
    Blocking,
}

impl Emitter {
    /// Sends a frame; `Err` when the client is gone.
    pub async fn send(&self, frame: impl FnOnce() -> bytes::Bytes) -> Result<(), StreamClosed> {
        match self {
            Emitter::Stream(tx) => tx.send(frame()).await,
            Emitter::Blocking => Ok(()),
        }
    }

    /// Whether events are streamed.
    pub fn is_stream(&self) -> bool {
        matches!(self, Emitter::Stream(_))
    }
}

/// Who a turn is for, and how its events are shown.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The console account debugging the app (`None`: an end user).
    pub account_id: Option<String>,
    /// The answer this turn regenerates or branches from.
    pub parent_message_id: Option<String>,
    /// The web app's simple format: `message_end` carries no `usage` or
    /// `annotation_reply`.
    pub simple: bool,
}

impl Origin {
    /// The stored `from_source` of its conversations.
    pub fn from_source(&self) -> &'static str {
        if self.account_id.is_some() {
            "console"
        } else {
            "api"
        }
    }

    /// The metadata a client of this origin sees.
    pub fn shown_metadata(&self, metadata: &Value) -> Value {
        let mut shown = metadata.clone();
        if self.simple {
            if let Some(m) = shown.as_object_mut() {
                m.remove("usage");
                m.remove("annotation_reply");
            }
        }
        shown
    }
}

/// Everything a turn needs, validated by the handler.
pub struct Turn {
    /// The app.
    pub app: Arc<LoadedApp>,
    /// Its configuration.
    pub config: AppConfig,
    /// The model client.
    pub client: Arc<dyn ModelClient>,
    /// The caller.
    pub end_user: EndUserRow,
    /// The query (empty for completion apps).
    pub query: String,
    /// Validated inputs.
    pub inputs: Map<String, Value>,
    /// The conversation continued, if any.
    pub conversation: Option<ConversationRow>,
    /// Files of the request.
    pub files: Vec<ResolvedFile>,
    /// Generate a name for a new conversation.
    pub auto_generate_name: bool,
    /// Ids and time of the turn.
    pub envelope: ChatEnvelope,
    /// The conversation id (also for completion apps, where it stays hidden).
    pub conversation_id: String,
    /// Who asks, and how they see the events.
    pub origin: Origin,
}

/// How a turn ended.
#[derive(Debug)]
pub struct TurnResult {
    /// The answer.
    pub answer: String,
    /// `{annotation_reply, retriever_resources, usage}`.
    pub metadata: Value,
}

fn metadata(usage: &Usage, resources: Vec<Value>) -> Value {
    json!({"annotation_reply": null, "retriever_resources": resources, "usage": usage})
}

fn rendered(config: &AppConfig, inputs: &Map<String, Value>) -> HashMap<String, String> {
    config
        .form
        .iter()
        .map(|f| {
            (
                f.variable.clone(),
                inputs.get(&f.variable).map(text_of).unwrap_or_default(),
            )
        })
        .collect()
}

/// What a model call produced before it ended (normally or not).
pub(super) struct Generated {
    pub answer: String,
    pub usage: Option<Usage>,
    pub stopped: bool,
    pub error: Option<BoxError>,
}

/// Streams one model call: each text delta goes out through `frame` while the client
/// listens; a stop flag or the run's deadline end it early, a client that left does not.
pub(super) async fn stream_answer(
    client: &dyn ModelClient,
    req: &ChatRequest,
    out: &Emitter,
    stop: &StopFlag,
    deadline: tokio::time::Instant,
    frame: impl Fn(&str) -> bytes::Bytes,
) -> Generated {
    let mut g = Generated {
        answer: String::new(),
        usage: None,
        stopped: false,
        error: None,
    };
    let mut stream = match client.chat(req).await {
        Ok(s) => s,
        Err(e) => {
            g.error = Some(e.into());
            return g;
        }
    };
    let mut client_gone = false;
    loop {
        let next = tokio::select! {
            biased;
            () = stop.stopped() => { g.stopped = true; break; }
            () = tokio::time::sleep_until(deadline) => { g.stopped = true; break; }
            next = stream.next() => next,
        };
        match next {
            None => break,
            Some(Err(e)) => {
                g.error = Some(e.into());
                break;
            }
            Some(Ok(LlmEvent::Text(t))) => {
                g.answer.push_str(&t);
                if !client_gone && out.send(|| frame(&t)).await.is_err() {
                    client_gone = true;
                }
            }
            Some(Ok(LlmEvent::Usage(u))) => g.usage = Some(u),
            Some(Ok(_)) => {}
        }
    }
    g
}

/// Runs a turn.
pub async fn run(
    state: Arc<Runtime>,
    turn: Turn,
    out: Emitter,
    stop: Arc<StopFlag>,
) -> Result<TurnResult, BoxError> {
    let started = Instant::now();
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(state.settings().limits.max_execution_s);
    let store = state.store();
    let app = &turn.app;
    let env = &turn.envelope;
    let inputs_json = Value::Object(turn.inputs.clone()).to_string();
    let is_new = turn.conversation.is_none();
    let values = rendered(&turn.config, &turn.inputs);

    // The conversation (when new) and the message are stored together.
    let mut start = Vec::with_capacity(2);
    if is_new {
        let introduction = (!turn.config.opening_statement.is_empty())
            .then(|| super::template::substitute(&turn.config.opening_statement, &values));
        let conversation = NewConversation {
            id: turn.conversation_id.clone(),
            app_id: app.row.id.clone(),
            end_user_id: turn.end_user.id.clone(),
            mode: app.row.mode.clone(),
            name: naming::initial_name(&turn.query),
            inputs: inputs_json.clone(),
            introduction,
            workflow_id: None,
            from_source: turn.origin.from_source(),
            from_account_id: turn.origin.account_id.clone(),
        };
        start.push(Store::insert_conversation_stmt(
            &conversation,
            crate::util::now(),
        ));
    }
    start.push(Store::insert_message_stmt(&NewMessage {
        id: env.message_id.clone(),
        app_id: app.row.id.clone(),
        conversation_id: turn.conversation_id.clone(),
        end_user_id: turn.end_user.id.clone(),
        mode: app.row.mode.clone(),
        task_id: env.task_id.clone(),
        query: turn.query.clone(),
        inputs: inputs_json,
        workflow_run_id: None,
        from_account_id: turn.origin.account_id.clone(),
        parent_message_id: turn.origin.parent_message_id.clone(),
        created_at: env.created_at,
    }));
    store.apply(start).await?;
    for f in &turn.files {
        store
            .insert_message_file(
                &app.row.id,
                &MessageFileRow {
                    id: new_id(),
                    message_id: env.message_id.clone(),
                    kind: f.kind.clone(),
                    transfer_method: f.transfer_method.clone(),
                    url: f.url.clone(),
                    belongs_to: "user".into(),
                    upload_file_id: f.upload.as_ref().map(|u| u.id.clone()),
                },
            )
            .await?;
        if let Some(u) = &f.upload {
            store.mark_upload_used(&u.id).await?;
        }
    }

    let is_agent = turn.config.agent.is_some();
    let chunk = |t: &str| {
        if is_agent {
            env.agent_message(t)
        } else {
            env.message(t, None)
        }
    };

    // Input moderation answers with the preset, without the model.
    if let Some(preset) = turn
        .config
        .moderation
        .as_ref()
        .and_then(|m| moderation::check_inputs(m, &turn.inputs, &turn.query))
    {
        let _ = out.send(|| chunk(&preset)).await;
        let prompt = prompt_json(&[ChatMessage::user(turn.query.clone())]);
        return finish(
            &state,
            &turn,
            Some(prompt),
            &out,
            preset,
            Usage::default(),
            Vec::new(),
            Vec::new(),
            started,
            is_new,
        )
        .await;
    }

    let history = if turn.config.mode.is_chat_like() && !is_new {
        let rows = store
            .history(&turn.conversation_id, &env.message_id, MEMORY_TURNS)
            .await?;
        let mut turns: Vec<(String, String)> =
            rows.into_iter().map(|m| (m.query, m.answer)).collect();
        let mut total: usize = turns.iter().map(|(q, a)| q.len() + a.len()).sum();
        while total > MEMORY_CHARS && !turns.is_empty() {
            let (q, a) = turns.remove(0);
            total -= q.len() + a.len();
        }
        turns
    } else {
        Vec::new()
    };
    // Knowledge: retrieve before answering; the chunks become the prompt's context.
    let mut resources = Vec::new();
    let mut context = String::new();
    if let Some(datasets) = turn.config.datasets.as_ref().filter(|_| !is_agent) {
        let query = match &datasets.query_variable {
            Some(var) if !turn.config.mode.is_chat_like() => {
                values.get(var).cloned().unwrap_or_default()
            }
            _ => turn.query.clone(),
        };
        let hits = crate::knowledge::consumers::retrieve_for_app(
            state.knowledge(),
            &app.row.workspace_id,
            datasets,
            &query,
        )
        .await?;
        context = crate::knowledge::consumers::context(&hits);
        if datasets.show_resources {
            resources = crate::knowledge::consumers::resources(&hits, "api");
        }
    }
    let upload_cfg = FileUploadConfig::from_features(app.features());
    let images = state
        .run_env()
        .files
        .image_parts(&turn.files, &upload_cfg.detail)
        .await;
    let prompt = prompt::build(prompt::PromptParts {
        config: &turn.config,
        inputs: &values,
        query: &turn.query,
        history: &history,
        context: Some(context.as_str()).filter(|c| !c.is_empty()),
        images,
    });
    let prompt_text = prompt_json(&prompt.messages);
    let mut req = ChatRequest::new(turn.config.model.name.clone(), prompt.messages);
    req.params = turn.config.model.params.clone();
    if !prompt.stop.is_empty() {
        let mut stops: Vec<Value> = req
            .params
            .get("stop")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        stops.extend(prompt.stop.into_iter().map(Value::String));
        req.params.insert("stop".into(), Value::Array(stops));
    }
    req.stream = out.is_stream();
    req.user = Some(turn.end_user.session_id.clone());

    if is_agent {
        let result = super::agent::run(&state, &turn, req, &out, &stop, deadline).await;
        return match result {
            Ok((answer, usage, thoughts)) => {
                finish(
                    &state,
                    &turn,
                    Some(prompt_text),
                    &out,
                    answer,
                    usage,
                    thoughts,
                    Vec::new(),
                    started,
                    is_new,
                )
                .await
            }
            Err((answer, thoughts, err)) => {
                fail(&state, &turn, Some(prompt_text), answer, thoughts, err).await
            }
        };
    }

    let g = stream_answer(&*turn.client, &req, &out, &stop, deadline, chunk).await;
    if let Some(err) = g.error {
        return fail(&state, &turn, Some(prompt_text), g.answer, Vec::new(), err).await;
    }
    let usage = g.usage.unwrap_or_else(|| {
        let pricing = turn.client.pricing(&turn.config.model.name);
        Usage::priced(0, weir_core::model::estimate_tokens(&g.answer), &pricing)
    });
    let mut answer = g.answer;
    if let Some(replacement) = turn
        .config
        .moderation
        .as_ref()
        .and_then(|m| moderation::check_output(m, &answer))
    {
        let _ = out.send(|| env.message_replace(&replacement, "")).await;
        answer = replacement;
    }
    finish(
        &state,
        &turn,
        Some(prompt_text),
        &out,
        answer,
        usage,
        Vec::new(),
        resources,
        started,
        is_new,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &Runtime,
    turn: &Turn,
    prompt: Option<String>,
    out: &Emitter,
    answer: String,
    mut usage: Usage,
    thoughts: Vec<AgentThought>,
    resources: Vec<Value>,
    started: Instant,
    is_new: bool,
) -> Result<TurnResult, BoxError> {
    usage.latency = started.elapsed().as_secs_f64();
    let metadata = metadata(&usage, resources);
    let store = state.store();
    let outcome = MessageOutcome {
        answer: answer.clone(),
        status: "normal",
        error: None,
        message_tokens: usage.prompt_tokens as i64,
        answer_tokens: usage.completion_tokens as i64,
        total_price: usage.total_price.clone(),
        currency: usage.currency.clone(),
        latency: usage.latency,
        metadata: metadata.to_string(),
        agent_thoughts: serde_json::to_string(&thoughts_for_history(&thoughts))
            .unwrap_or_else(|_| "[]".into()),
        prompt,
    };
    store
        .apply(vec![
            Store::finish_message_stmt(&turn.envelope.message_id, &outcome),
            Store::touch_conversation_stmt(&turn.conversation_id),
        ])
        .await?;
    let shown = turn.origin.shown_metadata(&metadata);
    let _ = out.send(|| turn.envelope.message_end(&shown, None)).await;
    if is_new && turn.auto_generate_name && turn.config.mode.is_chat_like() {
        naming::name_in_background(
            store.clone(),
            turn.client.clone(),
            turn.config.model.name.clone(),
            turn.conversation_id.clone(),
            turn.query.clone(),
        );
    }
    Ok(TurnResult { answer, metadata })
}

async fn fail(
    state: &Runtime,
    turn: &Turn,
    prompt: Option<String>,
    answer: String,
    thoughts: Vec<AgentThought>,
    err: BoxError,
) -> Result<TurnResult, BoxError> {
    let outcome = MessageOutcome {
        answer,
        status: "error",
        error: Some(state.describe(&*err)),
        metadata: metadata(&Usage::default(), Vec::new()).to_string(),
        agent_thoughts: serde_json::to_string(&thoughts_for_history(&thoughts))
            .unwrap_or_else(|_| "[]".into()),
        total_price: "0".into(),
        currency: "USD".into(),
        prompt,
        ..Default::default()
    };
    let saved = state
        .store()
        .apply(vec![
            Store::finish_message_stmt(&turn.envelope.message_id, &outcome),
            Store::touch_conversation_stmt(&turn.conversation_id),
        ])
        .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "saving a failed message failed");
    }
    Err(err)
}

/// The prompt as the console's message log shows it: `[{role, text, files}]`.
pub fn prompt_json(messages: &[ChatMessage]) -> String {
    let shown: Vec<Value> = messages
        .iter()
        .map(|m| json!({"role": m.role, "text": m.content.text(), "files": []}))
        .collect();
    Value::Array(shown).to_string()
}

/// Agent thoughts as stored for message history.
fn thoughts_for_history(thoughts: &[AgentThought]) -> Vec<Value> {
    thoughts
        .iter()
        .map(|t| {
            json!({"id": t.id, "position": t.position, "thought": t.thought, "tool": t.tool,
                "tool_labels": t.tool_labels, "tool_input": t.tool_input, "observation": t.observation,
                "files": t.message_files, "created_at": t.created_at})
        })
        .collect()
}

/// The envelope of a new turn.
pub fn new_envelope(conversation_id: Option<String>) -> ChatEnvelope {
    ChatEnvelope {
        conversation_id,
        message_id: new_id(),
        created_at: now(),
        task_id: uuid::Uuid::new_v4().to_string(),
    }
}
