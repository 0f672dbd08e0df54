//! The load driver: `c` workers, each on its own keep-alive HTTP/1.1 connection, sending one
//! scenario's requests back to back for a fixed time. Every answer is checked: a failed or
//! wrong answer is counted, never timed as a success.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use super::stub;

/// Turns per conversation before a worker starts a new one (history stays bounded).
pub const TURNS_PER_CONVERSATION: u32 = 8;

/// What a worker sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `GET /health` on the stub: the cheapest request there is.
    StubHealth,
    /// A chat completion straight at the stub.
    StubChat {
        /// Streaming.
        stream: bool,
    },
    /// `POST /v1/chat-messages` through weir, continuing conversations.
    ChatMessages {
        /// Streaming.
        stream: bool,
    },
    /// `POST /v1/completion-messages` (blocking) through weir.
    Completion,
    /// `POST /v1/workflows/run` (blocking) of the empty workflow through weir.
    Workflow,
}

/// Where a scenario's requests go, and with which app key.
#[derive(Clone, Debug)]
pub struct Target {
    /// Address.
    pub addr: SocketAddr,
    /// The app key (weir scenarios).
    pub key: String,
}

/// What a load run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Checked good answers.
    pub ok: u64,
    /// Transport failures and non-2xx answers.
    pub failed: u64,
    /// 2xx answers with the wrong content.
    pub wrong: u64,
    /// The first problem seen, for the report.
    pub first_problem: Option<String>,
    /// Latency of every good answer, µs.
    pub latencies_us: Vec<u32>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// Good answers per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A latency percentile, ms (after [`Outcome::finish`] sorted them).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn absorb(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.wrong += other.wrong;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.latencies_us.extend(other.latencies_us);
    }

    fn problem(&mut self, text: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text);
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Whether `GET path` answers 200.
pub async fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut sender) = connect(addr).await else {
        return false;
    };
    let req = Request::get(path)
        .header("host", "bench")
        .body(Full::new(Bytes::new()))
        .expect("request");
    matches!(sender.send_request(req).await, Ok(res) if res.status().is_success())
}

fn post(path: &str, key: &str, body: &Value) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

fn build(
    scenario: Scenario,
    key: &str,
    worker: usize,
    conversation: Option<&str>,
) -> Request<Full<Bytes>> {
    let user = format!("bench-{worker}");
    match scenario {
        Scenario::StubHealth => Request::get("/health")
            .header("host", "bench")
            .body(Full::new(Bytes::new()))
            .expect("request"),
        Scenario::StubChat { stream } => post(
            "/v1/chat/completions",
            "sk-bench",
            &json!({"model": "bench", "stream": stream, "messages": [
                {"role": "system", "content": "You are a benchmark. Answer briefly."},
                {"role": "user", "content": "hello"}]}),
        ),
        Scenario::ChatMessages { stream } => {
            let mut body = json!({"inputs": {}, "query": "hello", "user": user,
                "response_mode": if stream { "streaming" } else { "blocking" }});
            if let Some(c) = conversation {
                body["conversation_id"] = c.into();
            }
            post("/v1/chat-messages", key, &body)
        }
        Scenario::Completion => post(
            "/v1/completion-messages",
            key,
            &json!({"inputs": {"topic": "rivers"}, "response_mode": "blocking", "user": user}),
        ),
        Scenario::Workflow => post(
            "/v1/workflows/run",
            key,
            &json!({"inputs": {"x": "hi"}, "response_mode": "blocking", "user": user}),
        ),
    }
}

/// The `data:` payloads of an SSE body.
fn sse_data(body: &[u8]) -> Vec<&str> {
    std::str::from_utf8(body)
        .unwrap_or("")
        .split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .collect()
}

/// Checks an answer; returns the conversation to continue, if any.
fn check(scenario: Scenario, body: &[u8]) -> Result<Option<String>, String> {
    let expected = stub::answer();
    let json = || serde_json::from_slice::<Value>(body).map_err(|_| "not JSON".to_owned());
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let answer_is = |got: String| {
        if got == expected {
            Ok(())
        } else {
            Err(format!("answer {got:?}"))
        }
    };
    match scenario {
        Scenario::StubHealth => (body == b"ok")
            .then_some(None)
            .ok_or_else(|| "not ok".into()),
        Scenario::StubChat { stream: false } => {
            answer_is(text(&json()?["choices"][0]["message"]["content"])).map(|_| None)
        }
        Scenario::StubChat { stream: true } => {
            let frames = sse_data(body);
            if frames.last() != Some(&"[DONE]") {
                return Err("no [DONE]".into());
            }
            let got: String = frames
                .iter()
                .filter_map(|f| serde_json::from_str::<Value>(f).ok())
                .map(|v| text(&v["choices"][0]["delta"]["content"]))
                .collect();
            answer_is(got).map(|_| None)
        }
        Scenario::ChatMessages { stream: false } => {
            let v = json()?;
            answer_is(text(&v["answer"]))?;
            Ok(Some(text(&v["conversation_id"])))
        }
        Scenario::ChatMessages { stream: true } => {
            let events: Vec<Value> = sse_data(body)
                .iter()
                .filter_map(|f| serde_json::from_str(f).ok())
                .collect();
            let end = events
                .iter()
                .find(|e| e["event"] == "message_end")
                .ok_or("no message_end")?;
            let got: String = events
                .iter()
                .filter(|e| e["event"] == "message")
                .map(|e| text(&e["answer"]))
                .collect();
            answer_is(got)?;
            Ok(Some(text(&end["conversation_id"])))
        }
        Scenario::Completion => answer_is(text(&json()?["answer"])).map(|_| None),
        Scenario::Workflow => {
            let v = json()?;
            if v["data"]["status"] == "succeeded" && v["data"]["outputs"]["x"] == "hi" {
                Ok(None)
            } else {
                Err(format!("run {}", v["data"]))
            }
        }
    }
}

async fn worker(target: Target, scenario: Scenario, id: usize, deadline: Instant) -> Outcome {
    let mut out = Outcome::default();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    let mut conversation: Option<String> = None;
    let mut turns = 0;
    while Instant::now() < deadline {
        let sender = match conn.as_mut() {
            Some(s) => s,
            None => match connect(target.addr).await {
                Ok(s) => conn.insert(s),
                Err(e) => {
                    out.failed += 1;
                    out.problem(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if turns >= TURNS_PER_CONVERSATION {
            conversation = None;
            turns = 0;
        }
        let req = build(scenario, &target.key, id, conversation.as_deref());
        let started = Instant::now();
        let sent = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        }
        .await;
        match sent {
            Ok((status, body)) if status.is_success() => match check(scenario, &body) {
                Ok(next) => {
                    out.ok += 1;
                    out.latencies_us
                        .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    if next.is_some() {
                        conversation = next;
                        turns += 1;
                    }
                }
                Err(e) => {
                    out.wrong += 1;
                    out.problem(format!("wrong answer: {e}"));
                }
            },
            Ok((status, body)) => {
                out.failed += 1;
                out.problem(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ));
            }
            Err(e) => {
                out.failed += 1;
                out.problem(e);
                conn = None;
            }
        }
    }
    out
}

/// Runs `scenario` with `concurrency` workers for `duration`.
pub async fn run(
    target: &Target,
    scenario: Scenario,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|id| tokio::spawn(worker(target.clone(), scenario, id, deadline)))
        .collect();
    let mut out = Outcome::default();
    for w in workers {
        match w.await {
            Ok(o) => out.absorb(o),
            Err(e) => {
                out.failed += 1;
                out.problem(format!("worker: {e}"));
            }
        }
    }
    out.elapsed = started.elapsed();
    out.latencies_us.sort_unstable();
    out
}

/// Opens `n` streaming chat turns at once and holds them open until `release` is
/// notified. Returns how many reached their first event, and after `release`, drops them.
pub struct HeldStreams {
    /// Streams that delivered their first event.
    pub open: Arc<AtomicUsize>,
    /// Streams that failed to open.
    pub failed: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl HeldStreams {
    /// Starts opening `n` streams to `target` (`opening` at a time).
    pub fn open(target: &Target, n: usize, opening: usize) -> HeldStreams {
        let open = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::new(tokio::sync::Semaphore::new(opening));
        let tasks = (0..n)
            .map(|id| {
                let (target, open, failed, release, gate) = (
                    target.clone(),
                    open.clone(),
                    failed.clone(),
                    release.clone(),
                    gate.clone(),
                );
                tokio::spawn(async move {
                    let permit = gate.acquire_owned().await;
                    let held = async {
                        let mut sender = connect(target.addr).await?;
                        let req = build(
                            Scenario::ChatMessages { stream: true },
                            &target.key,
                            id,
                            None,
                        );
                        sender.ready().await.map_err(|e| e.to_string())?;
                        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
                        if !res.status().is_success() {
                            return Err(format!("status {}", res.status()));
                        }
                        let mut body = res.into_body();
                        // Wait for a first data event (not just a ping).
                        loop {
                            let frame = body
                                .frame()
                                .await
                                .ok_or("ended")?
                                .map_err(|e| e.to_string())?;
                            if frame.data_ref().is_some_and(|d| d.starts_with(b"data: ")) {
                                break;
                            }
                        }
                        Ok::<_, String>((sender, body))
                    }
                    .await;
                    drop(permit);
                    match held {
                        Ok(hold) => {
                            open.fetch_add(1, Ordering::SeqCst);
                            release.notified().await;
                            drop(hold);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        HeldStreams {
            open,
            failed,
            release,
            tasks,
        }
    }

    /// Waits until every stream opened or failed, or `timeout` passed.
    pub async fn settle(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.open.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Closes every stream.
    pub async fn close(self) {
        self.release.notify_waiters();
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}
