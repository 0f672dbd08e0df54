//! Model calls: the request and answer types of an OpenAI-style chat API, usage and prices,
//! the failures of a call, and the traits the engine, knowledge and runtime call models
//! through ([`ModelClient`], resolved by [`Models`]). The providers crate implements them.

mod error;
mod types;
mod usage;

pub use error::ProviderError;
pub use types::{
    ChatMessage, ChatRequest, Content, ContentPart, LlmEvent, LlmOutput, LlmStream, ToolCall,
    ToolDef,
};
pub use usage::{Pricing, Usage};

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::BoxFuture;

/// The LLM an app calls.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// DSL provider name (`openai`, `langgenius/openai/openai`).
    pub provider: String,
    /// Model name.
    pub name: String,
    /// `chat` or `completion` (the model's API style).
    pub mode: String,
    /// `completion_params`.
    pub params: Map<String, Value>,
}

impl ModelSpec {
    /// Reads `{provider, name, mode, completion_params}`.
    pub fn from_value(v: &Value) -> Option<ModelSpec> {
        Some(ModelSpec {
            provider: v.get("provider")?.as_str()?.to_owned(),
            name: v.get("name")?.as_str()?.to_owned(),
            mode: v
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("chat")
                .to_owned(),
            params: v
                .get("completion_params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// The last path segment of a DSL provider name (`langgenius/openai/openai` → `openai`).
pub fn provider_key(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name).trim()
}

/// A rough token count (4 characters per token) for upstreams that report none.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Embeddings of several texts (one vector each) and the tokens used.
pub type Embeddings = (Vec<Vec<f32>>, u64);

/// One model provider's API: chat (streamed or folded), embeddings, rerank.
pub trait ModelClient: Send + Sync {
    /// The provider table's name.
    fn name(&self) -> &str;

    /// Prices of a model (zero when unpriced).
    fn pricing(&self, model: &str) -> Pricing;

    /// A chat completion as a stream of events (text and tool-call deltas, then usage and
    /// the finish reason). Errors before the first byte come back here, later ones through
    /// the stream.
    fn chat<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<LlmStream, ProviderError>>;

    /// Embeddings of `inputs` (one vector each) and the tokens used.
    fn embeddings<'a>(
        &'a self,
        model: &'a str,
        inputs: &'a [String],
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>>;

    /// `documents` reranked for `query`: (index, relevance), best first.
    fn rerank<'a>(
        &'a self,
        model: &'a str,
        query: &'a str,
        documents: &'a [String],
        top_n: usize,
    ) -> BoxFuture<'a, Result<Vec<(usize, f64)>, ProviderError>>;

    /// A chat completion folded into one answer.
    fn chat_output<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<LlmOutput, ProviderError>> {
        Box::pin(async move {
            use futures_util::StreamExt;
            let mut stream = self.chat(req).await?;
            let mut out = LlmOutput::default();
            while let Some(ev) = stream.next().await {
                out.push(&ev?);
            }
            Ok(out)
        })
    }
}

/// The configured providers: the client serving a DSL provider name.
pub trait Models: Send + Sync {
    /// The client of `provider` (for `model`), or `provider_not_initialize`.
    fn get(&self, provider: &str, model: &str) -> Result<Arc<dyn ModelClient>, ProviderError>;
}

/// Where a provider reports how long its calls took (the metrics registry, in the server).
pub trait UpstreamMetrics: Send + Sync {
    /// One upstream call of `provider` took `seconds`.
    fn observe_upstream(&self, provider: &str, seconds: f64);
}

/// Metrics that go nowhere (tools and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl UpstreamMetrics for NoMetrics {
    fn observe_upstream(&self, _provider: &str, _seconds: f64) {}
}
