//! Chat, completion and agent apps over the Service API against a fake OpenAI upstream.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::upstream::{FakeUpstream, Script};
use common::{sse, start_with_upstream, status_json, with_upstream, TestServer};
use serde_json::{json, Value};

mod failures;
mod modes;

fn chat_body(query: &str, mode: &str, conversation_id: &str) -> Value {
    json!({"inputs": {"budget": "luxury", "home_city": "Lisbon"}, "query": query, "response_mode": mode,
        "conversation_id": conversation_id, "user": "wire-user"})
}

fn assert_usage(usage: &Value) {
    for key in [
        "prompt_tokens",
        "prompt_unit_price",
        "prompt_price_unit",
        "prompt_price",
        "completion_tokens",
        "completion_unit_price",
        "completion_price_unit",
        "completion_price",
        "total_tokens",
        "total_price",
        "currency",
        "latency",
    ] {
        assert!(usage.get(key).is_some(), "usage.{key} missing: {usage}");
    }
}
