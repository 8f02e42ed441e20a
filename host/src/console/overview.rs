//! `GET /console`: messages per hour by status over the last 24 h (an SVG chart rendered here),
//! the queue, the last failures, and the state of each source and of the sender as `/healthz`
//! reports it.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use maud::{Markup, html};
use serde_json::Value;

use super::ConsoleState;
use crate::config::TwilioMode;
use super::auth::Session;
use super::layout::{self, segment, short, time};
use crate::store::{HourlyCount, MessageFilter, OutboxMessage, OutboxStatus, StoreError};

/// The chart's statuses, bottom to top, with their colours.
const SERIES: [(OutboxStatus, &str); 7] = [
    (OutboxStatus::Sent, "#2e7d32"),
    (OutboxStatus::DryRun, "#5c7cfa"),
    (OutboxStatus::Failed, "#c62828"),
    (OutboxStatus::Undeliverable, "#ef6c00"),
    (OutboxStatus::Pending, "#f9a825"),
    (OutboxStatus::Sending, "#fdd835"),
    (OutboxStatus::Cancelled, "#9e9e9e"),
];
/// Hours on the chart.
const HOURS: usize = 24;

/// `GET /console`.
pub(crate) async fn page(State(state): State<ConsoleState>, Extension(session): Extension<Session>) -> Response {
    match render(&state, &session).await {
        Ok(markup) => markup.into_response(),
        Err(e) => layout::store_error(&e),
    }
}

async fn render(state: &ConsoleState, session: &Session) -> Result<Markup, StoreError> {
    let now = Utc::now();
    let start = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now) - TimeDelta::hours(HOURS as i64 - 1);
    let counts = state.store.count_messages_by_hour(start).await?;
    let queued = state.store.count_messages(OutboxStatus::Pending).await? + state.store.count_messages(OutboxStatus::Sending).await?;
    let mut failed: Vec<OutboxMessage> = Vec::new();
    for status in [OutboxStatus::Failed, OutboxStatus::Undeliverable] {
        failed.extend(state.store.list_messages(&MessageFilter { status: Some(status), limit: 10, ..MessageFilter::default() }).await?);
    }
    failed.sort_by_key(|m| std::cmp::Reverse(m.row.id));
    failed.truncate(10);
    let plugin_failures = state.store.recent_failures(10).await?;
    let (_, health) = crate::server::health::report(&state.health).await;
    let last_day: u64 = counts.iter().map(|c| c.count).sum();
    let body = html! {
        h1 { "Overview" }
        div.cards {
            div.card { div.muted { "Messages, last 24 h" } div.big { (last_day) } }
            div.card { div.muted { "Queue (pending + sending)" } div.big #queue-depth { (queued) } }
            div.card { div.muted { "Service" } div.big { (layout::status(health["status"].as_str().unwrap_or("unknown"))) } }
            div.card { div.muted { "Plugins loaded" } div.big { (state.dispatcher.plugins().len()) } }
        }
        h2 { "Messages per hour by status (UTC, by creation time)" }
        (chart(start, &counts))
        h2 { "Sources and sender" }
        (components(&health, state.config.twilio.mode))
        h2 { "Last failed messages" }
        @if failed.is_empty() { p.muted { "None." } } @else {
            table {
                thead { tr { th { "#" } th { "Changed" } th { "Status" } th { "Plugin" } th { "To" } th { "Error" } } }
                tbody {
                    @for m in &failed {
                        tr {
                            td { a href={ "/console/messages/" (m.row.id) } { (m.row.id) } }
                            td { (time(m.updated_at.unwrap_or(m.row.created_at))) }
                            td { (layout::status(m.row.status.as_str())) }
                            td { (m.row.plugin) }
                            td { (m.to_number.as_deref().unwrap_or("")) " " span.muted { (m.row.to.to_string()) } }
                            td { (short(m.error_message.as_deref().unwrap_or(""), 120)) }
                        }
                    }
                }
            }
        }
        h2 { "Last plugin failures" }
        @if plugin_failures.is_empty() { p.muted { "None." } } @else {
            table {
                thead { tr { th { "At" } th { "Plugin" } th { "Event" } th { "Failure" } } }
                tbody {
                    @for (event, f) in &plugin_failures {
                        tr {
                            td { (time(f.at)) }
                            td { (f.plugin) }
                            td { a href={ "/console/events/" (segment(event)) } { (event) } }
                            td { (short(&f.cause, 160)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Overview", Some(session), None, body))
}

/// `/healthz`'s components: the store, the sender's mode, then every source and sink that
/// reports its health, with its state and details.
fn components(health: &Value, mode: TwilioMode) -> Markup {
    let mode = match mode {
        TwilioMode::Live => "live",
        TwilioMode::DryRun => "dry-run",
    };
    let mut rows: Vec<(String, &Value)> = Vec::new();
    if let Some(map) = health.as_object() {
        for (key, value) in map {
            match key.as_str() {
                "status" | "store" | "plugins" => {}
                _ if value.is_object() && value.get("status").is_none() => {
                    rows.extend(value.as_object().into_iter().flatten().map(|(name, v)| (format!("{key}.{name}"), v)));
                }
                _ => rows.push((key.clone(), value)),
            }
        }
    }
    html! {
        table {
            thead { tr { th { "Component" } th { "State" } th { "Details" } } }
            tbody {
                tr { td { "store" } td { (layout::status(health["store"].as_str().unwrap_or("?"))) } td {} }
                tr { td { "sender (Twilio)" } td { (layout::status(mode)) } td { "mode" } }
                @for (name, value) in &rows {
                    tr {
                        td { (name) }
                        td { (layout::status(value.get("status").and_then(Value::as_str).unwrap_or("?"))) }
                        td { code { (short(&value.to_string(), 300)) } }
                    }
                }
            }
        }
    }
}

/// Stacked bars, one per hour from `start`, with a legend and a `<title>` per segment.
fn chart(start: DateTime<Utc>, counts: &[HourlyCount]) -> Markup {
    let mut hours = [[0u64; SERIES.len()]; HOURS];
    for c in counts {
        let slot = usize::try_from((c.hour - start).num_hours()).ok().filter(|h| *h < HOURS);
        let series = SERIES.iter().position(|(s, _)| *s == c.status);
        if let (Some(slot), Some(series)) = (slot, series) {
            hours[slot][series] += c.count;
        }
    }
    let max = hours.iter().map(|h| h.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let (left, top, width, height, bar) = (40.0, 10.0, 912.0, 200.0, 38.0);
    let scale = |n: u64| n as f64 * height / max as f64;
    // (x, y, height, colour, tooltip) of every segment, stacked from the axis up.
    let mut segments = Vec::new();
    for (i, counts) in hours.iter().enumerate() {
        let x = left + i as f64 * width / HOURS as f64 + 0.5;
        let hour = start + TimeDelta::hours(i as i64);
        let mut y = top + height;
        for (j, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            y -= scale(*n);
            segments.push((x, y, scale(*n), SERIES[j].1, format!("{} {}: {n}", hour.format("%H:00"), SERIES[j].0.as_str())));
        }
    }
    let labels: Vec<(f64, String)> =
        (0..HOURS).step_by(3).map(|i| (left + i as f64 * width / HOURS as f64, (start + TimeDelta::hours(i as i64)).format("%H:00").to_string())).collect();
    html! {
        svg.chart #hourly-chart viewBox="0 0 960 240" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Messages per hour by status" {
            line x1=(left) y1=(top + height) x2=(left + width) y2=(top + height) stroke="#888" {}
            text x="4" y=(top + 10.0) font-size="11" fill="#555" { (max) }
            text x="4" y=(top + height) font-size="11" fill="#555" { "0" }
            @for (x, y, h, colour, tip) in &segments {
                rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(bar) height=(format!("{h:.1}")) fill=(colour) { title { (tip) } }
            }
            @for (x, label) in &labels {
                text x=(format!("{x:.1}")) y=(top + height + 18.0) font-size="11" fill="#555" { (label) }
            }
        }
        div.legend {
            @for (status, _) in SERIES { span { i class={ "l-" (status.as_str()) } {} (status.as_str()) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_stacks_each_hours_statuses_and_leaves_out_other_hours() {
        let start = DateTime::parse_from_rfc3339("2026-03-31T00:00:00Z").unwrap().with_timezone(&Utc);
        let count = |hours, status, count| HourlyCount { hour: start + TimeDelta::hours(hours), status, count };
        let counts = [count(2, OutboxStatus::Sent, 3), count(2, OutboxStatus::Failed, 1), count(-1, OutboxStatus::Sent, 9), count(24, OutboxStatus::Sent, 9)];
        let svg = chart(start, &counts).into_string();
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("<title>02:00 sent: 3</title>") && svg.contains("<title>02:00 failed: 1</title>"), "{svg}");
        // The tallest hour (4) fills the height: sent from the axis up 150, failed above it 50.
        assert!(svg.contains(r#"y="60.0" width="38" height="150.0""#) && svg.contains(r#"y="10.0" width="38" height="50.0""#), "{svg}");
    }
}
