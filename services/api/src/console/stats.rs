//! The overview page's charts: per-day counts of an app's messages, conversations, end
//! users, tokens and cost, interactions, satisfaction, latency and speed (workflow apps:
//! runs, end users, tokens, interactions), in the account's time zone. Conversations from
//! the console's debugger are not counted, as Dify leaves them out.

use std::collections::{BTreeMap, HashSet};

use chrono::TimeZone;
use http::{Method, Request};
use serde_json::{json, Value};
use weir_layers::Body;

use super::logs::account_tz;
use super::{caller_and_app, USER};
use crate::error::ServiceError;
use crate::reply::ok;
use crate::request::{path_param, query_pairs, query_param};
use crate::state::AppState;
use crate::{handler, HandlerResult, Route};

/// The message charts.
pub const MESSAGE_CHARTS: [&str; 8] = [
    "daily-messages",
    "daily-conversations",
    "daily-end-users",
    "token-costs",
    "average-session-interactions",
    "user-satisfaction-rate",
    "average-response-time",
    "tokens-per-second",
];
/// The workflow charts.
pub const WORKFLOW_CHARTS: [&str; 4] = [
    "daily-conversations",
    "daily-terminals",
    "token-costs",
    "average-app-interactions",
];

/// The routes of this module.
pub fn routes(state: &AppState) -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/console/api/apps/{app_id}/statistics/{chart}",
            USER,
            handler(state, messages_chart),
        )
        .uuids(&["app_id"]),
        Route::new(
            Method::GET,
            "/console/api/apps/{app_id}/workflow/statistics/{chart}",
            USER,
            handler(state, workflow_chart),
        )
        .uuids(&["app_id"]),
    ]
}

/// `[start, end)` of a chart query in `tz` (`YYYY-MM-DD HH:MM`; all time when absent).
fn range(q: &[(String, String)], tz: chrono_tz::Tz) -> Result<(i64, i64), ServiceError> {
    let at = |key: &str, default: i64, end: bool| -> Result<i64, ServiceError> {
        match query_param(q, key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => {
                let naive = chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%d %H:%M")
                    .map_err(|_| ServiceError::invalid(format!("Invalid {key}: {v}")))?;
                let ts = tz
                    .from_local_datetime(&naive)
                    .earliest()
                    .ok_or_else(|| ServiceError::invalid(format!("Invalid {key}: {v}")))?
                    .timestamp();
                Ok(if end { ts + 60 } else { ts })
            }
        }
    };
    Ok((at("start", 0, false)?, at("end", i64::MAX / 2, true)?))
}

/// The local date of a timestamp.
fn day(tz: chrono_tz::Tz, ts: i64) -> String {
    tz.timestamp_opt(ts, 0)
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[derive(Default)]
struct Day {
    messages: i64,
    conversations: HashSet<String>,
    users: HashSet<String>,
    tokens: i64,
    price: f64,
    latency: f64,
    answer_tokens: i64,
    likes: i64,
}

async fn messages_chart(state: AppState, req: Request<Body>) -> HandlerResult {
    let chart = path_param(&req, "chart");
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    if !MESSAGE_CHARTS.contains(&chart.as_str()) {
        return Err(ServiceError::not_found(format!("Unknown chart {chart}")).into());
    }
    let tz = account_tz(&state, &caller).await?;
    let (start, end) = range(&q, tz)?;
    let store = state.store();
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for m in store.stat_messages(&app.row.id, start, end).await? {
        let d = days.entry(day(tz, m.created_at)).or_default();
        d.messages += 1;
        d.conversations.insert(m.conversation_id);
        d.users.insert(m.end_user_id);
        d.tokens += m.tokens;
        d.price += m.total_price.parse::<f64>().unwrap_or(0.0);
        d.latency += m.latency;
        d.answer_tokens += m.answer_tokens;
    }
    for at in store.stat_likes(&app.row.id, start, end).await? {
        if let Some(d) = days.get_mut(&day(tz, at)) {
            d.likes += 1;
        }
    }
    let data: Vec<Value> = days
        .into_iter()
        .map(|(date, d)| match chart.as_str() {
            "daily-messages" => json!({"date": date, "message_count": d.messages}),
            "daily-conversations" => json!({"date": date, "conversation_count": d.conversations.len()}),
            "daily-end-users" => json!({"date": date, "terminal_count": d.users.len()}),
            "token-costs" => json!({"date": date, "token_count": d.tokens,
                "total_price": format!("{:.7}", d.price), "currency": "USD"}),
            "average-session-interactions" => json!({"date": date,
                "interactions": round2(d.messages as f64 / d.conversations.len().max(1) as f64)}),
            "user-satisfaction-rate" => json!({"date": date,
                "rate": round2(d.likes as f64 * 1000.0 / d.messages.max(1) as f64)}),
            "average-response-time" => json!({"date": date,
                "latency": round2(d.latency * 1000.0 / d.messages.max(1) as f64)}),
            _ => json!({"date": date,
                "tps": round2(if d.latency > 0.0 { d.answer_tokens as f64 / d.latency } else { 0.0 })}),
        })
        .collect();
    Ok(ok(&json!({"data": data})))
}

async fn workflow_chart(state: AppState, req: Request<Body>) -> HandlerResult {
    let chart = path_param(&req, "chart");
    let q = query_pairs(&req);
    let (caller, app) = caller_and_app(&state, &req).await?;
    if !WORKFLOW_CHARTS.contains(&chart.as_str()) {
        return Err(ServiceError::not_found(format!("Unknown chart {chart}")).into());
    }
    let tz = account_tz(&state, &caller).await?;
    let (start, end) = range(&q, tz)?;
    let mut days: BTreeMap<String, (i64, HashSet<String>, i64)> = BTreeMap::new();
    for (at, user, tokens) in state.store().stat_runs(&app.row.id, start, end).await? {
        let d = days.entry(day(tz, at)).or_default();
        d.0 += 1;
        d.1.extend(user);
        d.2 += tokens;
    }
    let data: Vec<Value> = days
        .into_iter()
        .map(|(date, (runs, users, tokens))| match chart.as_str() {
            "daily-conversations" => json!({"date": date, "runs": runs}),
            "daily-terminals" => json!({"date": date, "terminal_count": users.len()}),
            "token-costs" => {
                json!({"date": date, "token_count": tokens, "total_price": "0", "currency": "USD"})
            }
            _ => json!({"date": date,
                "interactions": round2(runs as f64 / users.len().max(1) as f64)}),
        })
        .collect();
    Ok(ok(&json!({"data": data})))
}
