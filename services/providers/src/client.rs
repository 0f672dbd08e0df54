//! The OpenAI-compatible HTTP client: one pooled connection set per provider table, connect
//! and read timeouts, upstream failures turned into [`ProviderError`]s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use weir_core::model::{
    estimate_tokens, ChatRequest, Embeddings, LlmEvent, LlmStream, ModelClient, Pricing,
    ProviderError, UpstreamMetrics, Usage,
};
use weir_core::settings::ProviderSettings;
use weir_core::util::error_chain;
use weir_core::BoxFuture;

use super::stream::{parse_blocking, SseEvents};

/// Default connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read timeout (longest silence between bytes).
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Most upstream error body kept in messages.
const ERROR_BODY_LIMIT: usize = 2000;
/// Largest answer read from an upstream (a blocking body, or a whole stream).
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// A client for one OpenAI-compatible provider.
pub struct OpenAiClient {
    name: String,
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    pricing: BTreeMap<String, Pricing>,
    metrics: Arc<dyn UpstreamMetrics>,
}

/// OpenAI's error code of an exhausted quota.
pub const QUOTA_CODE: &str = "insufficient_quota";
/// OpenAI's error code of an unknown or unavailable model.
pub const MODEL_NOT_FOUND_CODE: &str = "model_not_found";

/// The `error.code` (else `error.type`) of an OpenAI-style error body.
fn upstream_error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let err = v.get("error")?;
    err.get("code")
        .and_then(serde_json::Value::as_str)
        .or_else(|| err.get("type").and_then(serde_json::Value::as_str))
        .map(str::to_owned)
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// Request parameters that go upstream as-is (others in `completion_params` are Dify-only).
const PASSED_PARAMS: [&str; 9] = [
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "n",
    "logit_bias",
    "max_completion_tokens",
];

impl OpenAiClient {
    /// A client for the provider table `name`.
    pub fn new(name: &str, cfg: &ProviderSettings, metrics: Arc<dyn UpstreamMetrics>) -> Self {
        let api_key = if !cfg.api_key.is_empty() {
            Some(cfg.api_key.clone())
        } else if !cfg.api_key_env.is_empty() {
            std::env::var(&cfg.api_key_env)
                .ok()
                .filter(|k| !k.is_empty())
        } else {
            None
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(
                cfg.connect_timeout_s
                    .map_or(CONNECT_TIMEOUT, Duration::from_secs),
            )
            .read_timeout(cfg.read_timeout_s.map_or(READ_TIMEOUT, Duration::from_secs))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true);
        if cfg.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        let http = builder.build().unwrap_or_default();
        OpenAiClient {
            name: name.to_owned(),
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            api_key,
            http,
            pricing: cfg.pricing.clone(),
            metrics,
        }
    }

    /// The provider table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Prices of a model.
    pub fn pricing(&self, model: &str) -> Pricing {
        self.pricing.get(model).cloned().unwrap_or_default()
    }

    fn key(&self, model: &str) -> Result<&str, ProviderError> {
        self.api_key
            .as_deref()
            .ok_or_else(|| ProviderError::NotConfigured {
                provider: self.name.clone(),
                model: model.to_owned(),
            })
    }

    fn body(&self, req: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), req.model.clone().into());
        body.insert(
            "messages".into(),
            Value::Array(req.messages.iter().map(|m| m.to_json()).collect()),
        );
        for key in PASSED_PARAMS {
            if let Some(v) = req.params.get(key).filter(|v| !v.is_null()) {
                body.insert(key.into(), v.clone());
            }
        }
        match req.params.get("stop") {
            Some(Value::Array(stops)) if !stops.is_empty() => {
                body.insert("stop".into(), Value::Array(stops.clone()));
            }
            Some(Value::String(s)) if !s.is_empty() => {
                body.insert("stop".into(), json!([s]));
            }
            _ => {}
        }
        match req.params.get("response_format") {
            Some(Value::String(kind)) if !kind.is_empty() => {
                body.insert("response_format".into(), json!({"type": kind}));
            }
            Some(v @ Value::Object(_)) => {
                body.insert("response_format".into(), v.clone());
            }
            _ => {}
        }
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(user) = &req.user {
            body.insert("user".into(), user.clone().into());
        }
        body.insert("stream".into(), req.stream.into());
        if req.stream {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Value::Object(body)
    }

    fn transport_error(&self, err: reqwest::Error) -> ProviderError {
        transport_error(&self.name, err)
    }

    /// Text from upstream with the provider's address taken out: clients never learn where
    /// the operator's model server lives.
    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.base_url)
    }

    /// Reads an answer's body up to `cap` bytes.
    async fn read_body(
        &self,
        res: reqwest::Response,
        cap: u64,
    ) -> Result<bytes::Bytes, ProviderError> {
        if res.content_length().is_some_and(|n| n > cap) {
            return Err(self.invalid(format!("the answer exceeds {cap} bytes")));
        }
        let mut body = bytes::BytesMut::new();
        let mut stream = res.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(e))?;
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(self.invalid(format!("the answer exceeds {cap} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    async fn post(
        &self,
        path: &str,
        model: &str,
        body: &Value,
    ) -> Result<reqwest::Response, ProviderError> {
        let key = self.key(model)?;
        let res = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = res.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(res);
        }
        let mut text = match self.read_body(res, 64 * 1024).await {
            Ok(b) => self.scrub(&String::from_utf8_lossy(&b)),
            Err(_) => String::new(),
        };
        if text.len() > ERROR_BODY_LIMIT {
            let mut end = ERROR_BODY_LIMIT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        let provider = self.name.clone();
        let code = upstream_error_code(&text);
        Err(match (status, code.as_deref()) {
            (_, Some(QUOTA_CODE)) => ProviderError::QuotaExceeded {
                provider,
                body: text,
            },
            (_, Some(MODEL_NOT_FOUND_CODE)) => ProviderError::ModelNotSupported {
                provider,
                body: text,
            },
            (401, _) => ProviderError::Auth {
                provider,
                status,
                body: text,
            },
            (429, _) => ProviderError::RateLimited {
                provider,
                body: text,
            },
            _ => ProviderError::Status {
                provider,
                status,
                body: text,
            },
        })
    }

    /// Calls `/chat/completions`. The stream yields text and tool-call deltas, then usage
    /// (priced, with latency) and the finish reason. Errors before the first byte are
    /// returned here; later ones come through the stream.
    pub async fn chat(&self, req: &ChatRequest) -> Result<LlmStream, ProviderError> {
        let started = Instant::now();
        let body = self.body(req);
        let res = self.post("/chat/completions", &req.model, &body).await?;
        let pricing = self.pricing(&req.model);
        let prompt_estimate = estimate_tokens(&body["messages"].to_string());
        let metrics = self.metrics.clone();
        let provider = self.name.clone();
        if !req.stream {
            let bytes = self.read_body(res, MAX_RESPONSE_BYTES).await?;
            let mut events = parse_blocking(&provider, &bytes)?;
            finish_usage(&mut events, &pricing, started, None, prompt_estimate);
            metrics.observe_upstream(&provider, started.elapsed().as_secs_f64());
            return Ok(Box::pin(futures_util::stream::iter(
                events.into_iter().map(Ok),
            )));
        }
        let name = self.name.clone();
        let bytes = res
            .bytes_stream()
            .map(move |r| r.map_err(|e| transport_error(&name, e)));
        let state = StreamState {
            sse: SseEvents::new(provider.clone(), Box::pin(bytes)),
            pricing,
            metrics,
            provider,
            started,
            prompt_estimate,
            first_token: None,
            saw_usage: false,
            completion_chars: 0,
            done: false,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        });
        Ok(Box::pin(stream))
    }

    /// Calls `/embeddings`; returns one vector per input and the tokens used.
    pub async fn embeddings(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, u64), ProviderError> {
        let started = Instant::now();
        let res = self
            .post(
                "/embeddings",
                model,
                &json!({"model": model, "input": inputs}),
            )
            .await?;
        let body = self.read_body(res, MAX_RESPONSE_BYTES).await?;
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| self.invalid(e.to_string()))?;
        self.metrics
            .observe_upstream(&self.name, started.elapsed().as_secs_f64());
        let data = value["data"]
            .as_array()
            .ok_or_else(|| self.invalid("no data".into()))?;
        let mut out = vec![Vec::new(); inputs.len()];
        for (i, item) in data.iter().enumerate() {
            let index = item["index"].as_u64().map_or(i, |x| x as usize);
            let vector = item["embedding"]
                .as_array()
                .ok_or_else(|| self.invalid("embedding is not a list".into()))?
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                .collect();
            if let Some(slot) = out.get_mut(index) {
                *slot = vector;
            }
        }
        if out.iter().any(Vec::is_empty) {
            return Err(self.invalid("missing embeddings".into()));
        }
        let tokens = value["usage"]["total_tokens"].as_u64().unwrap_or(0);
        Ok((out, tokens))
    }

    /// Calls `/rerank` (Jina/Cohere shape); returns (document index, relevance) best first.
    pub async fn rerank(
        &self,
        model: &str,
        query: &str,
        documents: &[String],
        top_n: usize,
    ) -> Result<Vec<(usize, f64)>, ProviderError> {
        let res = self
            .post(
                "/rerank",
                model,
                &json!({"model": model, "query": query, "documents": documents, "top_n": top_n}),
            )
            .await?;
        let body = self.read_body(res, MAX_RESPONSE_BYTES).await?;
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| self.invalid(e.to_string()))?;
        let results = value["results"]
            .as_array()
            .ok_or_else(|| self.invalid("no results".into()))?;
        let mut out: Vec<(usize, f64)> = results
            .iter()
            .filter_map(|r| {
                Some((
                    r["index"].as_u64()? as usize,
                    r["relevance_score"].as_f64()?,
                ))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    fn invalid(&self, message: String) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.name.clone(),
            message,
        }
    }
}

impl ModelClient for OpenAiClient {
    fn name(&self) -> &str {
        &self.name
    }

    fn pricing(&self, model: &str) -> Pricing {
        OpenAiClient::pricing(self, model)
    }

    fn chat<'a>(&'a self, req: &'a ChatRequest) -> BoxFuture<'a, Result<LlmStream, ProviderError>> {
        Box::pin(OpenAiClient::chat(self, req))
    }

    fn embeddings<'a>(
        &'a self,
        model: &'a str,
        inputs: &'a [String],
    ) -> BoxFuture<'a, Result<Embeddings, ProviderError>> {
        Box::pin(OpenAiClient::embeddings(self, model, inputs))
    }

    fn rerank<'a>(
        &'a self,
        model: &'a str,
        query: &'a str,
        documents: &'a [String],
        top_n: usize,
    ) -> BoxFuture<'a, Result<Vec<(usize, f64)>, ProviderError>> {
        Box::pin(OpenAiClient::rerank(self, model, query, documents, top_n))
    }
}

/// A transport failure: a timeout, or a connection error whose text names no URL.
fn transport_error(provider: &str, err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout {
            provider: provider.to_owned(),
        }
    } else {
        ProviderError::Connection {
            provider: provider.to_owned(),
            message: error_chain(&err.without_url()),
        }
    }
}

/// `text` without the base URL or its host.
fn scrub(text: &str, base_url: &str) -> String {
    let mut out = text.replace(base_url, "the provider");
    if let Some(host) = reqwest::Url::parse(base_url).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        })
    }) {
        out = out.replace(&host, "the provider");
    }
    out
}

/// The state of one upstream stream: prices usage, measures latency, estimates usage when
/// the upstream reports none.
struct StreamState {
    sse: SseEvents,
    pricing: Pricing,
    metrics: Arc<dyn UpstreamMetrics>,
    provider: String,
    started: Instant,
    prompt_estimate: u64,
    first_token: Option<Instant>,
    saw_usage: bool,
    completion_chars: usize,
    done: bool,
}

impl StreamState {
    async fn next(&mut self) -> Option<Result<LlmEvent, ProviderError>> {
        if self.done {
            return None;
        }
        match self.sse.next().await {
            Some(Ok(LlmEvent::Usage(u))) => {
                self.saw_usage = true;
                let mut u = Usage::priced(u.prompt_tokens, u.completion_tokens, &self.pricing);
                stamp(&mut u, self.started, self.first_token);
                Some(Ok(LlmEvent::Usage(u)))
            }
            Some(Ok(ev)) => {
                if let LlmEvent::Text(t) = &ev {
                    self.first_token.get_or_insert_with(Instant::now);
                    self.completion_chars += t.len();
                }
                Some(Ok(ev))
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                self.metrics
                    .observe_upstream(&self.provider, self.started.elapsed().as_secs_f64());
                if self.saw_usage {
                    return None;
                }
                // No usage from upstream: estimate it so clients still get numbers.
                let completion = (self.completion_chars as u64).div_ceil(4);
                let mut u = Usage::priced(self.prompt_estimate, completion, &self.pricing);
                stamp(&mut u, self.started, self.first_token);
                Some(Ok(LlmEvent::Usage(u)))
            }
        }
    }
}

fn stamp(u: &mut Usage, started: Instant, first_token: Option<Instant>) {
    u.latency = started.elapsed().as_secs_f64();
    if let Some(ft) = first_token {
        u.time_to_first_token = Some((ft - started).as_secs_f64());
        u.time_to_generate = Some(ft.elapsed().as_secs_f64());
    }
}

fn finish_usage(
    events: &mut Vec<LlmEvent>,
    pricing: &Pricing,
    started: Instant,
    first: Option<Instant>,
    prompt_estimate: u64,
) {
    let text_len: usize = events
        .iter()
        .map(|e| {
            if let LlmEvent::Text(t) = e {
                t.len()
            } else {
                0
            }
        })
        .sum();
    let reported = events.iter_mut().find_map(|e| match e {
        LlmEvent::Usage(u) => Some(u),
        _ => None,
    });
    let (p, c) = match &reported {
        Some(u) => (u.prompt_tokens, u.completion_tokens),
        None => (prompt_estimate, (text_len as u64).div_ceil(4)),
    };
    let mut usage = Usage::priced(p, c, pricing);
    stamp(&mut usage, started, first);
    events.retain(|e| !matches!(e, LlmEvent::Usage(_)));
    events.push(LlmEvent::Usage(usage));
}

#[cfg(test)]
mod error_code_tests {
    use super::*;

    #[test]
    fn upstream_error_codes() {
        let quota = r#"{"error":{"message":"x","type":"insufficient_quota","code":null}}"#;
        assert_eq!(upstream_error_code(quota).as_deref(), Some(QUOTA_CODE));
        let model =
            r#"{"error":{"message":"x","type":"invalid_request_error","code":"model_not_found"}}"#;
        assert_eq!(
            upstream_error_code(model).as_deref(),
            Some(MODEL_NOT_FOUND_CODE)
        );
        assert_eq!(upstream_error_code("<html>"), None);
    }
}
