//! A fake OpenAI-compatible upstream: a real HTTP server on loopback, scripted per test,
//! recording what weir sent.
//!
//! Without a script it answers `echo: <last user message>`, word by word when streaming (as
//! the stand-in behind the recorded `tests/fixtures/wire/` answers did). A last user message containing
//! `[[upstream:500]]` (any status) gets that status.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::sync::Notify;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How the upstream answers one chat call.
#[derive(Clone, Debug)]
pub enum Script {
    /// This text (streamed word by word when streaming).
    Reply(String),
    /// A tool call: name and arguments JSON.
    ToolCall(String, String),
    /// This HTTP status with an OpenAI error body.
    Status(u16),
    /// This HTTP status with this JSON body.
    StatusBody(u16, Value),
    /// Stream two words, then cut the connection.
    Cut,
    /// Stream this text with a delay before each word.
    Slow(String, Duration),
    /// A 200 that is not JSON.
    Garbage,
    /// No answer for this long (past a client's read timeout), then an echo.
    Hang(Duration),
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<(String, Value)>>,
    scripts: Mutex<VecDeque<Script>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Hold every chat call until this many are in flight at once.
    gate: Mutex<Option<usize>>,
    /// Wait this long before answering an embeddings call.
    embedding_delay: Mutex<Duration>,
    gate_open: Notify,
}

/// The fake upstream.
#[derive(Clone)]
pub struct FakeUpstream {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<State>,
}

struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeUpstream {
    /// Starts it on an ephemeral port.
    pub async fn start() -> FakeUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeUpstream { addr, state }
    }

    /// The base URL to configure (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues scripts for the next chat calls (in order).
    pub fn push(&self, script: Script) {
        self.state.scripts.lock().unwrap().push_back(script);
    }

    /// Every request received: (path, JSON body).
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The chat completion requests received.
    pub fn chat_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|(p, _)| p.ends_with("/chat/completions"))
            .map(|(_, v)| v)
            .collect()
    }

    /// The most chat calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Chat calls still answering (a dropped stream counts as ended).
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Makes every embeddings call take `delay` (slow indexing).
    pub fn delay_embeddings(&self, delay: Duration) {
        *self.state.embedding_delay.lock().unwrap() = delay;
    }

    /// Holds every chat call until `n` are in flight at once (proves concurrency).
    pub fn gate(&self, n: usize) {
        *self.state.gate.lock().unwrap() = Some(n);
    }
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        })
        .unwrap_or_default()
}

fn full(status: StatusCode, body: Value) -> Response<Body> {
    let mut res = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|n| match n {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    res.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    res
}

fn chunk(delta: Value, finish: Option<&str>) -> Bytes {
    let v = json!({"id": "c", "object": "chat.completion.chunk", "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in text.split(' ').enumerate() {
        out.push(if i == 0 {
            w.to_owned()
        } else {
            format!(" {w}")
        });
    }
    out
}

fn usage(prompt: &Value, text: &str) -> Value {
    let prompt_tokens = prompt.to_string().split_whitespace().count() as u64;
    let completion_tokens = text.split_whitespace().count().max(1) as u64;
    json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens})
}

/// A deterministic embedding: hashed bag of lower-cased words, normalised.
pub fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; 64];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 1469598103934665603;
        for b in word.bytes() {
            h = (h ^ b as u64).wrapping_mul(1099511628211);
        }
        v[(h % 64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / norm).collect()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state
        .requests
        .lock()
        .unwrap()
        .push((path.clone(), body.clone()));
    if path.ends_with("/embeddings") {
        let delay = *state.embedding_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect(),
            _ => vec![],
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
            .collect();
        let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
        return Ok(full(
            StatusCode::OK,
            json!({"object": "list", "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
        ));
    }
    if path.ends_with("/rerank") {
        let query: Vec<String> = body["query"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let docs = body["documents"].as_array().cloned().unwrap_or_default();
        let results: Vec<Value> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let text = d.as_str().unwrap_or("").to_lowercase();
                let hits = query.iter().filter(|w| text.contains(w.as_str())).count();
                json!({"index": i, "relevance_score": hits as f64 / query.len().max(1) as f64})
            })
            .collect();
        return Ok(full(StatusCode::OK, json!({"results": results})));
    }
    if !path.ends_with("/chat/completions") {
        return Ok(full(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "not found"}}),
        ));
    }

    let n = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(n, Ordering::SeqCst);
    let guard = InFlight(state.clone());
    let gate = *state.gate.lock().unwrap();
    if let Some(needed) = gate {
        if n >= needed {
            state.gate_open.notify_waiters();
        } else {
            let wait = state.gate_open.notified();
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
    }

    let user = last_user_text(&body);
    let script = state
        .scripts
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| {
            match user
                .split("[[upstream:")
                .nth(1)
                .and_then(|r| r.split("]]").next())
                .and_then(|s| s.parse().ok())
            {
                Some(status) => Script::Status(status),
                None => Script::Reply(format!("echo: {user}")),
            }
        });
    let stream = body["stream"].as_bool().unwrap_or(false);
    let (text, delay, cut) = match script {
        Script::StatusBody(status, body) => {
            return Ok(full(StatusCode::from_u16(status).unwrap(), body));
        }
        Script::Status(status) => {
            let code = if status == 401 {
                "invalid_api_key"
            } else if status == 429 {
                "rate_limit_exceeded"
            } else {
                "server_error"
            };
            return Ok(full(
                StatusCode::from_u16(status).unwrap(),
                json!({"error": {"message": format!("fake upstream failure {status}"), "type": code, "param": null, "code": code}}),
            ));
        }
        Script::Garbage => {
            let mut res = Response::new(
                Full::new(Bytes::from_static(b"<html>oops</html>"))
                    .map_err(|n| match n {})
                    .boxed_unsync(),
            );
            res.headers_mut()
                .insert("content-type", "text/html".parse().unwrap());
            if stream {
                res.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                *res.body_mut() = Full::new(Bytes::from_static(b"data: {not json}\n\n"))
                    .map_err(|n| match n {})
                    .boxed_unsync();
            }
            return Ok(res);
        }
        Script::ToolCall(name, args) => {
            let call = json!([{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}]);
            if !stream {
                return Ok(full(
                    StatusCode::OK,
                    json!({"id": "c", "object": "chat.completion", "choices": [{"index": 0,
                    "message": {"role": "assistant", "content": null, "tool_calls": call}, "finish_reason": "tool_calls"}],
                    "usage": usage(&body["messages"], "call")}),
                ));
            }
            let frames = vec![
                chunk(json!({"role": "assistant", "tool_calls": call}), None),
                chunk(json!({}), Some("tool_calls")),
                Bytes::from(format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": usage(&body["messages"], "call")})
                )),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ];
            let s = futures_util::stream::iter(
                frames
                    .into_iter()
                    .map(|b| Ok::<_, std::io::Error>(Frame::data(b))),
            );
            let mut res = Response::new(StreamBody::new(s).boxed_unsync());
            res.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            drop(guard);
            return Ok(res);
        }
        Script::Hang(wait) => {
            tokio::time::sleep(wait).await;
            (format!("echo: {user}"), Duration::ZERO, false)
        }
        Script::Reply(text) => (text, Duration::ZERO, false),
        Script::Slow(text, delay) => (text, delay, false),
        Script::Cut => ("partial answer then".to_owned(), Duration::ZERO, true),
    };
    if !stream && cut {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(
                b"{\"id\": \"c\", \"choices\": [",
            ))),
            Err(std::io::Error::other("cut")),
        ];
        let mut res =
            Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync());
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return Ok(res);
    }
    if !stream {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        drop(guard);
        return Ok(full(
            StatusCode::OK,
            json!({"id": "c", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage(&body["messages"], &text)}),
        ));
    }
    let usage = usage(&body["messages"], &text);
    let mut frames: Vec<(Duration, Result<Bytes, ()>)> = Vec::new();
    let ws = words(&text);
    let take = if cut { 2.min(ws.len()) } else { ws.len() };
    for w in ws.iter().take(take) {
        frames.push((delay, Ok(chunk(json!({"content": w}), None))));
    }
    if cut {
        frames.push((Duration::ZERO, Err(())));
    } else {
        frames.push((
            Duration::ZERO,
            Ok(chunk(json!({"content": ""}), Some("stop"))),
        ));
        frames.push((
            Duration::ZERO,
            Ok(Bytes::from(format!(
                "data: {}\n\n",
                json!({"choices": [], "usage": usage})
            ))),
        ));
        frames.push((Duration::ZERO, Ok(Bytes::from_static(b"data: [DONE]\n\n"))));
    }
    let s = futures_util::stream::unfold(
        (frames.into_iter(), Some(guard)),
        |(mut it, guard)| async move {
            let (delay, item) = it.next()?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let out = match item {
                Ok(b) => Ok(Frame::data(b)),
                Err(()) => Err(std::io::Error::other("cut")),
            };
            Some((out, (it, guard)))
        },
    );
    let mut res = Response::new(StreamBody::new(s).boxed_unsync());
    res.headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    Ok(res)
}
