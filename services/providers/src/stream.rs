//! Parsing OpenAI answers: the streamed SSE form and the blocking JSON form.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde_json::Value;

use weir_core::model::{LlmEvent, Pricing, ProviderError, Usage};

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// Longest line of an upstream stream.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Events from an upstream SSE body.
pub(super) struct SseEvents {
    provider: String,
    bytes: ByteStream,
    buf: BytesMut,
    pending: std::collections::VecDeque<LlmEvent>,
    finished: bool,
    saw_finish: bool,
    received: u64,
}

impl SseEvents {
    pub(super) fn new(provider: String, bytes: ByteStream) -> Self {
        SseEvents {
            provider,
            bytes,
            buf: BytesMut::new(),
            pending: Default::default(),
            finished: false,
            saw_finish: false,
            received: 0,
        }
    }

    fn invalid(&self, message: String) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.provider.clone(),
            message,
        }
    }

    /// Refuses a line or a whole stream past its cap.
    fn check_size(&self) -> Result<(), ProviderError> {
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(self.invalid(format!("a stream line exceeds {MAX_LINE_BYTES} bytes")));
        }
        let cap = super::client::MAX_RESPONSE_BYTES;
        if self.received > cap {
            return Err(self.invalid(format!("the answer exceeds {cap} bytes")));
        }
        Ok(())
    }

    /// Parses complete lines in the buffer into events.
    fn drain_lines(&mut self) -> Result<(), ProviderError> {
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line = self.buf.split_to(pos + 1);
            let line = std::str::from_utf8(&line).map_err(|e| self.invalid(e.to_string()))?;
            let line = line.trim_end_matches(['\n', '\r']);
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim_start();
            if data == "[DONE]" {
                self.finished = true;
                return Ok(());
            }
            let chunk: Value = serde_json::from_str(data)
                .map_err(|e| self.invalid(format!("bad stream chunk: {e}")))?;
            if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
                return Err(ProviderError::Status {
                    provider: self.provider.clone(),
                    status: 500,
                    body: err.to_string(),
                });
            }
            let before = self.pending.len();
            chunk_events(&chunk, &mut self.pending);
            if self
                .pending
                .iter()
                .skip(before)
                .any(|e| matches!(e, LlmEvent::Finish(_)))
            {
                self.saw_finish = true;
            }
        }
        Ok(())
    }
}

/// The events of one chunk (streamed `delta` or blocking `message`).
fn chunk_events(chunk: &Value, out: &mut std::collections::VecDeque<LlmEvent>) {
    if let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) {
        let delta = choice.get("delta").or_else(|| choice.get("message"));
        if let Some(delta) = delta {
            if let Some(text) = delta["content"].as_str() {
                if !text.is_empty() {
                    out.push_back(LlmEvent::Text(text.to_owned()));
                }
            }
            if let Some(calls) = delta["tool_calls"].as_array() {
                for (i, call) in calls.iter().enumerate() {
                    let index = call["index"].as_u64().map_or(i, |x| x as usize);
                    out.push_back(LlmEvent::ToolCallDelta {
                        index,
                        id: call["id"].as_str().map(str::to_owned),
                        name: call["function"]["name"].as_str().map(str::to_owned),
                        arguments: call["function"]["arguments"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    });
                }
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            out.push_back(LlmEvent::Finish(reason.to_owned()));
        }
    }
    if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
        let prompt = usage["prompt_tokens"].as_u64().unwrap_or(0);
        let completion = usage["completion_tokens"].as_u64().unwrap_or(0);
        out.push_back(LlmEvent::Usage(Usage::priced(
            prompt,
            completion,
            &Pricing::default(),
        )));
    }
}

impl Stream for SseEvents {
    type Item = Result<LlmEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(ev)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            match self.bytes.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    self.received += bytes.len() as u64;
                    self.buf.extend_from_slice(&bytes);
                    let outcome = self.drain_lines().and_then(|()| self.check_size());
                    if let Err(e) = outcome {
                        self.finished = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    // The body ended: a final line without newline, then EOF.
                    if !self.buf.is_empty() {
                        self.buf.extend_from_slice(b"\n");
                        if let Err(e) = self.drain_lines() {
                            self.finished = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                        if !self.pending.is_empty() {
                            continue;
                        }
                    }
                    let cut = !self.finished && !self.saw_finish;
                    self.finished = true;
                    if cut {
                        return Poll::Ready(Some(Err(ProviderError::Connection {
                            provider: self.provider.clone(),
                            message: "the connection closed before the answer was complete".into(),
                        })));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The events of a blocking (non-streamed) answer.
pub(super) fn parse_blocking(provider: &str, bytes: &[u8]) -> Result<Vec<LlmEvent>, ProviderError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ProviderError::InvalidResponse {
            provider: provider.to_owned(),
            message: format!("not JSON: {e}"),
        })?;
    if value["choices"].as_array().is_none_or(|c| c.is_empty()) {
        return Err(ProviderError::InvalidResponse {
            provider: provider.to_owned(),
            message: "no choices in the answer".into(),
        });
    }
    let mut out = std::collections::VecDeque::new();
    chunk_events(&value, &mut out);
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn events(chunks: Vec<&'static str>) -> Vec<Result<LlmEvent, String>> {
        let bytes = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok(Bytes::from_static(c.as_bytes()))),
        );
        let sse = SseEvents::new("p".into(), Box::pin(bytes));
        sse.map(|r| r.map_err(|e| e.to_string())).collect().await
    }

    #[tokio::test]
    async fn parses_split_chunks_tool_calls_and_usage() {
        let out = events(vec![
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"He\"}}]}\n\nda",
            "ta: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"t\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
        ])
        .await;
        let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out[0], LlmEvent::Text("He".into()));
        assert_eq!(out[1], LlmEvent::Text("llo".into()));
        assert!(matches!(&out[2], LlmEvent::ToolCallDelta { id: Some(id), .. } if id == "c1"));
        assert_eq!(out[3], LlmEvent::Finish("stop".into()));
        assert!(matches!(&out[4], LlmEvent::Usage(u) if u.total_tokens == 5));
    }

    #[tokio::test]
    async fn a_cut_stream_is_an_error() {
        let out = events(vec![
            "data: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\n",
        ])
        .await;
        assert!(out
            .last()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .contains("closed before"));
    }

    #[tokio::test]
    async fn garbage_is_an_error() {
        let out = events(vec!["data: not json\n\n"]).await;
        assert!(out[0].as_ref().unwrap_err().contains("Invalid response"));
    }

    #[test]
    fn blocking_answers() {
        let ev = parse_blocking("p", br#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
        assert_eq!(ev[0], LlmEvent::Text("hi".into()));
        assert!(parse_blocking("p", b"<html>").is_err());
    }
}
