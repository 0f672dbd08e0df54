//! The upstream stub: an OpenAI-compatible `/v1/chat/completions` on loopback (HTTP/1.1 and
//! h2c), answering [`ANSWER_TOKENS`] tokens with zero think-time. A model named
//! `drip-<ms>` waits that long before each token (open-stream tests); `GET /health` is the
//! cheapest request the stub serves (its own limit); `/v1/embeddings` answers deterministic
//! hashed bag-of-words vectors (knowledge benches).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Tokens in every answer.
pub const ANSWER_TOKENS: usize = 16;
/// Tokens of a dripping answer (`drip-<ms>` models): long enough to hold streams open.
pub const DRIP_TOKENS: usize = 90;

/// The answer the stub gives, token by token.
pub fn tokens() -> Vec<String> {
    tokens_of(ANSWER_TOKENS)
}

fn tokens_of(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            if i == 0 {
                "w0".to_owned()
            } else {
                format!(" w{i}")
            }
        })
        .collect()
}

/// The whole answer.
pub fn answer() -> String {
    tokens().concat()
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(body)).boxed());
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    res
}

fn usage() -> Value {
    json!({"prompt_tokens": 12, "completion_tokens": ANSWER_TOKENS, "total_tokens": 12 + ANSWER_TOKENS})
}

fn chunk(delta: Value, finish: Option<&str>, usage: Option<Value>) -> Bytes {
    let mut v = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    if let Some(u) = usage {
        v["usage"] = u;
    }
    Bytes::from(format!("data: {v}\n\n"))
}

async fn completions(req: Request<Incoming>) -> Response<Body> {
    let Ok(collected) = req.into_body().collect().await else {
        return full(StatusCode::BAD_REQUEST, b"{}".to_vec(), "application/json");
    };
    let body: Value = serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null);
    let delay = body["model"]
        .as_str()
        .and_then(|m| m.strip_prefix("drip-"))
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    if !body["stream"].as_bool().unwrap_or(false) {
        let v = json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer()}, "finish_reason": "stop"}],
            "usage": usage()});
        return full(
            StatusCode::OK,
            v.to_string().into_bytes(),
            "application/json",
        );
    }
    let count = if delay.is_zero() {
        ANSWER_TOKENS
    } else {
        DRIP_TOKENS
    };
    let mut frames: Vec<Bytes> = tokens_of(count)
        .into_iter()
        .map(|t| chunk(json!({"content": t}), None, None))
        .collect();
    frames.push(chunk(json!({}), Some("stop"), Some(usage())));
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let stream = futures_util::stream::unfold(frames.into_iter(), move |mut it| async move {
        let frame = it.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, Infallible>(Frame::data(frame)), it))
    });
    let mut res = Response::new(StreamBody::new(stream).boxed());
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    res
}

/// Dimensions of the stub's embeddings.
pub const EMBEDDING_DIMS: usize = 256;

/// A deterministic embedding: a hashed bag of lower-cased words, normalised.
pub fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; EMBEDDING_DIMS];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 1469598103934665603;
        for b in word.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
        }
        v[(h % EMBEDDING_DIMS as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / norm).collect()
}

async fn embeddings(req: Request<Incoming>) -> Response<Body> {
    let body: Value = match req.into_body().collect().await {
        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_owned())
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    let v = json!({"object": "list", "data": data, "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}});
    full(
        StatusCode::OK,
        v.to_string().into_bytes(),
        "application/json",
    )
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method().as_str(), req.uri().path()) {
        ("POST", "/v1/chat/completions") => completions(req).await,
        ("POST", "/v1/embeddings") => embeddings(req).await,
        ("GET", "/health") => full(StatusCode::OK, b"ok".to_vec(), "text/plain"),
        _ => full(StatusCode::NOT_FOUND, b"{}".to_vec(), "application/json"),
    })
}

/// Serves forever on `listener`.
pub async fn serve(listener: TcpListener) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(100_000);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = builder
            .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
