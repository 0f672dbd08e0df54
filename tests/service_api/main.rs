//! The Service API around generation: pagination, feedback, suggestions, conversations,
//! files, app information, keep-alive pings, and no 500 for any bad input.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::upstream::Script;
use common::{sse, start_with_upstream, status_json, wire_body, with_upstream, TestServer};
use serde_json::{json, Value};

mod bad_input;
mod conversations;
mod files;

async fn chat(
    server: &TestServer,
    key: &str,
    user: &str,
    query: &str,
    conversation: &str,
) -> Value {
    let (status, body) = status_json(
        server
            .post(key, "/v1/chat-messages", json!({"inputs": {"budget": "luxury"}, "query": query, "user": user, "conversation_id": conversation}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Which app's key a sweep case uses.
#[derive(Clone, Copy, Debug)]
enum K {
    Chat,
    Completion,
    Workflow,
}

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";
