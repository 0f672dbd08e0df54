//! Re-attaching to a workflow run (`/openapi/v1 …/tasks/{run}/events`, the Service API's
//! `GET /v1/workflow/{run}/events`): replay of the run's log from a position, then live
//! until its `workflow_finished`, from whichever instance the client reached.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Request, Response};
use serde_json::Map;
use weir_layers::{sse, Body, Surface};

use crate::events::EventSender;
use crate::state::AppState;
use crate::store::WorkflowRunRow;

/// How often a re-attached reader without a log asks the store how its run is doing.
pub const REPLAY_POLL: Duration = Duration::from_millis(200);

/// The `workflow_finished` event of a stored run.
pub fn finished_frame(run: &WorkflowRunRow, session: Option<&str>) -> Bytes {
    sse::event_frame(&crate::runtime::runlog::finished_event(run, session))
}

/// The position a reconnecting client read up to (`Last-Event-ID`), 0 for none.
pub fn last_event_id(req: &Request<Body>) -> u64 {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The event stream re-attached to `run` for `session`'s end user, after position `after`.
pub fn reattach(
    state: AppState,
    run: WorkflowRunRow,
    session: String,
    after: u64,
    surface: Surface,
) -> Response<Body> {
    let (tx, body) = state.event_channel(surface);
    let limit = Duration::from_secs(state.settings().limits.max_execution_s.max(1));
    tokio::spawn(async move {
        // A finished run answers with its last word, unless a client that was following it
        // asks for the rest (its log outlives the run for a while).
        if run.status != "running" && after == 0 {
            let _ = tx.send_frame(finished_frame(&run, Some(&session))).await;
            return;
        }
        replay_until_finished(&state, tx, run, &session, after, limit).await;
    });
    let mut res = sse::response(body);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    res
}

/// Whether an event is a run's `workflow_finished`.
pub fn is_finished(event: &[u8]) -> bool {
    let needle = b"\"event\":\"workflow_finished\"";
    event.windows(needle.len()).any(|w| w == needle)
}

/// Replays a running run's log after position `after`, then follows it live, each event
/// with its position as its SSE `id` (what a client sends back as `Last-Event-ID`). When
/// the run has no log (a blocking run, or one whose first event is not written yet) or its
/// log ends early, the store says how the run is doing; a finished run's last word is its
/// stored `workflow_finished`.
async fn replay_until_finished(
    state: &AppState,
    tx: EventSender,
    run: WorkflowRunRow,
    session: &str,
    mut after: u64,
    limit: Duration,
) {
    let started = tokio::time::Instant::now();
    let mut current = run;
    loop {
        let mut log = state.coord().follow(&current.id, after);
        while let Some(item) = log.next().await {
            match item {
                Ok((position, event)) => {
                    after = position;
                    let last = is_finished(&event);
                    let frame = sse::data_frame_with_id(&event, position);
                    if tx.send_frame(frame).await.is_err() || last {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, run_id = current.id, "a run's log cannot be read");
                    break;
                }
            }
        }
        if tx.is_closed() || started.elapsed() >= limit {
            return;
        }
        match state.store().run(&current.app_id, &current.id).await {
            Ok(Some(r)) => current = r,
            Ok(None) => return,
            Err(e) => {
                tx.fail(&e, Map::new()).await;
                return;
            }
        }
        if current.status != "running" {
            let _ = tx.send_frame(finished_frame(&current, Some(session))).await;
            return;
        }
        tokio::time::sleep(REPLAY_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_frames_are_recognised() {
        assert!(is_finished(
            b"data: {\"event\":\"workflow_finished\",\"x\":1}\n\n"
        ));
        assert!(!is_finished(b"data: {\"event\":\"node_finished\"}\n\n"));
    }
}
