//! Several weir instances on one Postgres and one Redis behave as one: a stop reaches the
//! instance running the task, app slots and rate limits count across instances, a revoked
//! token is refused everywhere within a second, a pending import is confirmed anywhere, a
//! run is replayed and followed from another instance, and a run whose instance is killed
//! is failed and its readers released, an upload to one is served by all (S3), and every
//! instance retrieves what any indexed (pgvector).

#[path = "../common/mod.rs"]
mod common;

mod coordination;
mod files;
mod indexing;
mod retention;
mod runs;
mod vectors;

use std::time::Duration;

use common::cluster::Cluster;
use serde_json::{json, Value};

/// A streaming response read event by event.
pub struct Events {
    res: reqwest::Response,
    buf: String,
    /// The raw text read so far.
    pub text: String,
}

impl Events {
    /// Reads `res` as an event stream.
    pub fn new(res: reqwest::Response) -> Events {
        Events {
            res,
            buf: String::new(),
            text: String::new(),
        }
    }

    /// The next data event, or `None` when the stream ended (or broke).
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if let Some(event) = common::sse::events(&frame).into_iter().next() {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.res.chunk().await.ok()??;
            let text = String::from_utf8_lossy(&chunk);
            self.text.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// Every remaining event.
    pub async fn rest(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}

/// POST a JSON body with a bearer credential.
pub async fn post(
    c: &Cluster,
    node: usize,
    bearer: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    c.client
        .post(c.url(node, path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// GET with a bearer credential: (status, JSON body).
pub async fn get(c: &Cluster, node: usize, bearer: &str, path: &str) -> (u16, Value) {
    let res = c
        .client
        .get(c.url(node, path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    common::status_json(res).await
}

/// A slow streamed answer: `words` words, `gap` apart.
pub fn slow_answer(words: usize, gap: Duration) -> common::upstream::Script {
    let text: Vec<String> = (1..=words).map(|i| format!("w{i}")).collect();
    common::upstream::Script::Slow(text.join(" "), gap)
}

/// A chat request body for the fixture chat app.
pub fn chat_body(query: &str, user: &str) -> Value {
    json!({"inputs": {"budget": "luxury"}, "query": query, "user": user, "response_mode": "streaming"})
}
