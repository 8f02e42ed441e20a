//! `/console/messages`: the outbox filtered by status, plugin, event, record, number and time,
//! 50 a page; one message with its body, recipient, source event, every attempt, its status
//! history (Twilio's callbacks included) and the replies; and its replay, confirmed first.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::html;
use serde::Deserialize;

use super::ConsoleState;
use super::auth::Session;
use super::layout::{self, Notice, csrf_field, query, segment, short, time};
use crate::replay::{ReplayError, replay_message};
use crate::store::{MessageFilter, OutboxStatus};

/// Messages per page.
const PAGE: usize = 50;
/// Every status, for the filter.
const STATUSES: [&str; 7] = ["pending", "sending", "sent", "failed", "undeliverable", "dry-run", "cancelled"];

/// The list's filters, as the form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    status: String,
    plugin: String,
    event: String,
    record: String,
    number: String,
    since: String,
    until: String,
    page: usize,
}

/// Parses a time filter: RFC 3339, `YYYY-MM-DDTHH:MM` (a browser's local-time field, read as
/// UTC), or a date meaning its midnight UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| format!("{text:?} is not a time (YYYY-MM-DD, YYYY-MM-DDTHH:MM or RFC 3339)"))
}

impl Filters {
    /// The store filter for page `self.page`, or why a field is wrong.
    fn to_filter(&self) -> Result<MessageFilter, String> {
        let text = |s: &String| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let time = |s: &String| text(s).map(|t| parse_time(&t)).transpose();
        let status = match text(&self.status) {
            Some(s) => Some(OutboxStatus::parse(&s).ok_or_else(|| format!("{s:?} is not a status"))?),
            None => None,
        };
        Ok(MessageFilter {
            event_id: text(&self.event),
            record: text(&self.record),
            status,
            since: time(&self.since)?,
            until: time(&self.until)?,
            plugin: text(&self.plugin),
            number: text(&self.number),
            offset: self.page * PAGE,
            limit: PAGE + 1,
        })
    }

    /// The query string of these filters on `page`.
    fn link(&self, page: usize) -> String {
        let page = page.to_string();
        let pairs = [
            ("status", self.status.as_str()),
            ("plugin", &self.plugin),
            ("event", &self.event),
            ("record", &self.record),
            ("number", &self.number),
            ("since", &self.since),
            ("until", &self.until),
            ("page", if page == "0" { "" } else { &page }),
        ];
        format!("/console/messages?{}", query(&pairs))
    }
}

/// `GET /console/messages`.
pub(crate) async fn list(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Query(filters): Query<Filters>) -> Response {
    let (mut messages, notice) = match filters.to_filter() {
        Ok(filter) => match state.store.list_messages(&filter).await {
            Ok(messages) => (messages, None),
            Err(e) => return layout::store_error(&e),
        },
        Err(why) => (Vec::new(), Some(Notice::error(why))),
    };
    let more = messages.len() > PAGE;
    messages.truncate(PAGE);
    let body = html! {
        h1 { "Messages" }
        form.filters method="get" action="/console/messages" {
            label { "Status" select name="status" {
                option value="" { "any" }
                @for s in STATUSES { option value=(s) selected[filters.status == s] { (s) } }
            } }
            label { "Plugin" input name="plugin" value=(filters.plugin); }
            label { "Event" input name="event" value=(filters.event); }
            label { "Record" input name="record" value=(filters.record); }
            label { "Number" input name="number" value=(filters.number) placeholder="+14155550123 or team:NAME"; }
            label { "Changed since (UTC)" input name="since" value=(filters.since) placeholder="YYYY-MM-DD[THH:MM]"; }
            label { "Changed before (UTC)" input name="until" value=(filters.until) placeholder="YYYY-MM-DD[THH:MM]"; }
            button type="submit" { "Filter" }
            a href="/console/messages" { "Clear" }
        }
        @if messages.is_empty() { p.muted #no-messages { "No messages match." } } @else {
            table #messages {
                thead { tr { th { "#" } th { "Created" } th { "Status" } th { "Channel" } th { "Plugin" } th { "Recipient" } th { "Number" } th { "Body" } th { "Event" } } }
                tbody {
                    @for m in &messages {
                        tr {
                            td { a.message-link href={ "/console/messages/" (m.row.id) } { (m.row.id) } }
                            td { (time(m.row.created_at)) }
                            td { (layout::status(m.row.status.as_str())) }
                            td { (m.row.channel.as_str()) }
                            td { (m.row.plugin) }
                            td { (m.row.to.to_string()) }
                            td { (m.to_number.as_deref().unwrap_or("")) }
                            td { (short(&m.row.body, 80)) }
                            td { a href={ "/console/events/" (segment(&m.row.event_id)) } { (short(&m.row.event_id, 40)) } }
                        }
                    }
                }
            }
        }
        (layout::pager(filters.page, more, |page| filters.link(page)))
    };
    layout::page("Messages", Some(&session), notice, body).into_response()
}

/// `?replayed=N` after a replay.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Done {
    replayed: Option<u32>,
}

/// `GET /console/messages/{id}`.
pub(crate) async fn detail(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Path(id): Path<i64>, Query(done): Query<Done>) -> Response {
    let store = &state.store;
    let message = match store.get_message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => return layout::error(StatusCode::NOT_FOUND, &format!("No message has outbox id {id}.")),
        Err(e) => return layout::store_error(&e),
    };
    let read = async { Ok::<_, crate::store::StoreError>((store.list_attempts(id).await?, store.list_history(id).await?, store.delivery_status(id).await?, store.list_replies(id).await?)) };
    let (attempts, history, delivery, replies) = match read.await {
        Ok(all) => all,
        Err(e) => return layout::store_error(&e),
    };
    let m = &message;
    let notice = done.replayed.map(|series| Notice::done(format!("Message {id} re-queued as attempt series {series}; the sender picks it up shortly.")));
    let body = html! {
        h1 { "Message #" (id) " " (layout::status(m.row.status.as_str())) }
        dl.fields {
            dt { "Channel" } dd { (m.row.channel.as_str()) }
            dt { "Recipient" } dd { (m.row.to.to_string()) }
            dt { "Number" } dd #to-number { (m.to_number.as_deref().unwrap_or("not resolved yet")) }
            dt { "Plugin" } dd { (m.row.plugin) }
            dt { "Key" } dd { (m.row.key) }
            dt { "Source event" } dd { a href={ "/console/events/" (segment(&m.row.event_id)) } { (m.row.event_id) } }
            dt { "Created" } dd { (time(m.row.created_at)) }
            dt { "Not before" } dd { (m.row.not_before.map(time).unwrap_or_default()) }
            dt { "Attempt series" } dd #series { (m.series) }
            dt { "Attempts" } dd { (m.attempts) }
            dt { "Next attempt" } dd { (m.next_attempt_at.map(time).unwrap_or_default()) }
            dt { "SID" } dd { (m.sid.as_deref().unwrap_or("")) }
            dt { "Twilio status" } dd { (delivery.as_deref().unwrap_or("")) }
            dt { "Error" } dd { (m.error_code.map(|c| format!("{c}: ")).unwrap_or_default()) (m.error_message.as_deref().unwrap_or("")) }
        }
        h2 { "Body" }
        pre #body { (m.row.body) }
        @if m.row.status.is_replayable() {
            p { a href={ "/console/messages/" (id) "/replay" } #replay { "Replay this message…" } }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() { p.muted { "None yet." } } @else {
            table #attempts {
                thead { tr { th { "Started" } th { "Series" } th { "Kind" } th { "Request" } th { "HTTP" } th { "SID" } th { "Error" } th { "Latency" } } }
                tbody {
                    @for a in &attempts {
                        tr {
                            td { (time(a.started_at)) }
                            td.num { (a.series) }
                            td { (a.kind) }
                            td {
                                (a.request_path())
                                @for (name, value) in a.request_form() { br; span.muted { (name) ": " } (short(&value, 200)) }
                            }
                            td { (a.http_status.map(|s| s.to_string()).unwrap_or_else(|| if a.kind == "dry-run" { "not sent".into() } else { "no answer".into() })) }
                            td { (a.sid.as_deref().unwrap_or("")) }
                            td { (a.error_code.map(|c| format!("{c}: ")).unwrap_or_default()) (a.error_message.as_deref().unwrap_or("")) }
                            td.num { (a.latency_ms) " ms" }
                        }
                    }
                }
            }
        }
        h2 { "Status history" }
        table #history {
            thead { tr { th { "At" } th { "Status" } th { "Detail" } } }
            tbody {
                @for h in &history {
                    tr { td { (time(h.at)) } td { (layout::status(&h.status)) } td { (h.detail.as_deref().unwrap_or("")) } }
                }
            }
        }
        h2 { "Replies" }
        @if replies.is_empty() { p.muted { "None." } } @else {
            table #replies {
                thead { tr { th { "Received" } th { "From" } th { "Body" } th { "SID" } th { "Opt-out" } } }
                tbody {
                    @for r in &replies {
                        tr {
                            td { (time(r.message.received_at)) }
                            td { (r.message.from) }
                            td { (r.message.body) }
                            td { (r.message.sid) }
                            td { (r.message.opt_out_type.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    layout::page(&format!("Message {id}"), Some(&session), notice, body).into_response()
}

/// `GET /console/messages/{id}/replay`: the confirmation.
pub(crate) async fn confirm_replay(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Path(id): Path<i64>) -> Response {
    let message = match state.store.get_message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => return layout::error(StatusCode::NOT_FOUND, &format!("No message has outbox id {id}.")),
        Err(e) => return layout::store_error(&e),
    };
    let body = html! {
        h1 { "Replay message #" (id) "?" }
        p { "It is " (message.row.status.as_str()) " (" (message.error_message.as_deref().unwrap_or("no error recorded")) "). "
            "Replaying re-queues it as attempt series " (message.series + 1) "; the earlier attempts stay in its history." }
        p { "To " (message.row.to.to_string()) " by " (message.row.channel.as_str()) ":" }
        pre { (message.row.body) }
        form method="post" action={ "/console/messages/" (id) "/replay" } {
            (csrf_field(&session))
            button.danger #confirm-replay type="submit" { "Yes, replay message #" (id) }
            " "
            a href={ "/console/messages/" (id) } { "Cancel" }
        }
    };
    layout::page(&format!("Replay message {id}"), Some(&session), None, body).into_response()
}

/// `POST /console/messages/{id}/replay` (CSRF checked by the session layer).
pub(crate) async fn replay(State(state): State<ConsoleState>, Path(id): Path<i64>) -> Response {
    match replay_message(state.store.as_ref(), id).await {
        Ok(series) => {
            tracing::info!(id, series, "Message re-queued from the console.");
            Redirect::to(&format!("/console/messages/{id}?replayed={series}")).into_response()
        }
        Err(ReplayError::Store(e)) => layout::store_error(&e),
        Err(e @ ReplayError::UnknownMessage(_)) => layout::error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => layout::error(StatusCode::CONFLICT, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters_also_take_a_browsers_local_time_field_as_utc() {
        for (text, utc) in [("2026-03-31T10:05", "2026-03-31T10:05:00+00:00"), ("2026-03-31 10:05", "2026-03-31T10:05:00+00:00"), ("2026-03-31", "2026-03-31T00:00:00+00:00")] {
            assert_eq!(parse_time(text).unwrap().to_rfc3339(), utc, "{text}");
        }
        assert!(parse_time("10:05").is_err());
    }

    #[test]
    fn filters_become_a_store_filter_and_keep_themselves_in_page_links() {
        let filters = Filters { status: "failed".into(), number: " +14155550100 ".into(), page: 2, ..Filters::default() };
        let filter = filters.to_filter().unwrap();
        assert_eq!((filter.status, filter.number.as_deref(), filter.offset, filter.limit), (Some(OutboxStatus::Failed), Some("+14155550100"), 100, 51));
        assert_eq!(filters.link(3), "/console/messages?status=failed&number=+%2B14155550100+&page=3");
        assert!(Filters { status: "lost".into(), ..Filters::default() }.to_filter().is_err());
    }
}
