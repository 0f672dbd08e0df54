//! Parsing SSE bodies as Dify frames them.

/// One frame of a stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `event: ping`.
    Ping,
    /// `data: {json}`.
    Data(serde_json::Value),
}

/// Splits an SSE body into frames; panics on anything that is not Dify's framing.
pub fn parse(text: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        // A re-attached stream numbers its events (`id: n`); the number is checked by
        // [`ids`].
        let block = match block.strip_prefix("id: ") {
            Some(rest) => rest.split_once('\n').map_or("", |(_, data)| data),
            None => block,
        };
        if block == "event: ping" {
            out.push(Frame::Ping);
        } else if let Some(json) = block.strip_prefix("data: ") {
            out.push(Frame::Data(
                serde_json::from_str(json).unwrap_or_else(|e| panic!("bad data line {json}: {e}")),
            ));
        } else {
            panic!("unexpected SSE block {block:?}");
        }
    }
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "stream must end after a full frame"
    );
    out
}

/// The `id:` of each numbered frame of a stream.
pub fn ids(text: &str) -> Vec<u64> {
    text.split("\n\n")
        .filter_map(|b| b.strip_prefix("id: "))
        .filter_map(|rest| rest.split('\n').next()?.parse().ok())
        .collect()
}

/// The data events of a stream.
pub fn events(text: &str) -> Vec<serde_json::Value> {
    parse(text)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Data(v) => Some(v),
            Frame::Ping => None,
        })
        .collect()
}

/// The `event` names of a stream's data events.
pub fn names(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_owned())
        .collect()
}
