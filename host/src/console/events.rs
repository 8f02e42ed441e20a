//! `/console/events`: stored events by kind and record, 50 a page; one event with its payload,
//! the actions each plugin decided (its outbox rows) and its plugin failures; and its replay,
//! confirmed first.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::ConsoleState;
use super::auth::Session;
use super::layout::{self, Notice, csrf_field, query, segment, short, time};
use crate::replay::{ReplayError, replay_event};
use crate::store::{EventFilter, MessageFilter, OutboxMessage};

/// Events per page.
const PAGE: usize = 50;

/// The list's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    kind: String,
    record: String,
    page: usize,
}

impl Filters {
    fn link(&self, page: usize) -> String {
        let page = page.to_string();
        format!("/console/events?{}", query(&[("kind", &self.kind), ("record", &self.record), ("page", if page == "0" { "" } else { &page })]))
    }
}

/// `GET /console/events`.
pub(crate) async fn list(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Query(filters): Query<Filters>) -> Response {
    let text = |s: &String| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let filter = EventFilter { kind: text(&filters.kind), record: text(&filters.record), offset: filters.page * PAGE, limit: PAGE + 1 };
    let mut events = match state.store.list_events(&filter).await {
        Ok(events) => events,
        Err(e) => return layout::store_error(&e),
    };
    let more = events.len() > PAGE;
    events.truncate(PAGE);
    let body = html! {
        h1 { "Events" }
        form.filters method="get" action="/console/events" {
            label { "Kind" input name="kind" value=(filters.kind) placeholder="invoice.overdue"; }
            label { "Record" input name="record" value=(filters.record); }
            button type="submit" { "Filter" }
            a href="/console/events" { "Clear" }
        }
        @if events.is_empty() { p.muted { "No events match." } } @else {
            table #events {
                thead { tr { th { "Id" } th { "Received" } th { "Source" } th { "Kind" } th { "Status" } th { "Runs" } th { "Record" } th { "Last error" } } }
                tbody {
                    @for e in &events {
                        tr {
                            td { a href={ "/console/events/" (segment(&e.id)) } { (short(&e.id, 48)) } }
                            td { (time(e.received_at)) }
                            td { (e.source) }
                            td { (e.kind) }
                            td { (layout::status(&e.status.to_string())) }
                            td.num { (e.attempts) }
                            td { (e.record.as_deref().unwrap_or("")) }
                            td { (short(e.last_error.as_deref().unwrap_or(""), 100)) }
                        }
                    }
                }
            }
        }
        (layout::pager(filters.page, more, |page| filters.link(page)))
    };
    layout::page("Events", Some(&session), None, body).into_response()
}

/// `?replayed=1` after a replay.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Done {
    replayed: bool,
}

/// `GET /console/events/{id}`.
pub(crate) async fn detail(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Path(id): Path<String>, Query(done): Query<Done>) -> Response {
    let store = &state.store;
    let event = match store.get_event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return layout::error(StatusCode::NOT_FOUND, &format!("No stored event has id {id:?}.")),
        Err(e) => return layout::store_error(&e),
    };
    let read = async {
        let messages = store.list_messages(&MessageFilter { event_id: Some(id.clone()), limit: 1000, ..MessageFilter::default() }).await?;
        Ok::<_, crate::store::StoreError>((messages, store.list_failures(&id).await?))
    };
    let (messages, failures) = match read.await {
        Ok(all) => all,
        Err(e) => return layout::store_error(&e),
    };
    let mut by_plugin: BTreeMap<&str, Vec<&OutboxMessage>> = BTreeMap::new();
    for m in messages.iter().rev() {
        by_plugin.entry(m.row.plugin.as_str()).or_default().push(m);
    }
    let payload = serde_json::from_str::<serde_json::Value>(&event.data)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| event.data.clone());
    let notice = done.replayed.then(|| Notice::done(format!("Event {id} is pending again: the dispatcher runs the plugins on it shortly.")));
    let body = html! {
        h1 { "Event " (id) " " (layout::status(&event.status.to_string())) }
        dl.fields {
            dt { "Source" } dd { (event.source) }
            dt { "Kind" } dd { (event.kind) }
            dt { "Business" } dd { (event.business_id.as_deref().unwrap_or("")) }
            dt { "Record" } dd { (event.record.as_deref().unwrap_or("")) }
            dt { "Received" } dd { (time(event.received_at)) }
            dt { "Dispatched" } dd { (event.dispatched_at.map(time).unwrap_or_default()) }
            dt { "Runs" } dd { (event.attempts) }
            dt { "Last error" } dd { (event.last_error.as_deref().unwrap_or("")) }
        }
        p { a href={ "/console/events/" (segment(&id)) "/replay" } #replay { "Replay this event…" } }
        h2 { "Actions by plugin" }
        @if by_plugin.is_empty() { p.muted { "No plugin decided anything." } }
        @for (plugin, rows) in &by_plugin {
            h3 { (plugin) }
            table {
                thead { tr { th { "#" } th { "Key" } th { "Channel" } th { "To" } th { "Status" } th { "Body" } } }
                tbody {
                    @for m in rows {
                        tr {
                            td { a href={ "/console/messages/" (m.row.id) } { (m.row.id) } }
                            td { (m.row.key) }
                            td { (m.row.channel.as_str()) }
                            td { (m.row.to.to_string()) }
                            td { (layout::status(m.row.status.as_str())) }
                            td { (short(&m.row.body, 120)) }
                        }
                    }
                }
            }
        }
        h2 { "Plugin failures" }
        @if failures.is_empty() { p.muted { "None." } } @else {
            table #failures {
                thead { tr { th { "At" } th { "Plugin" } th { "Failure" } } }
                tbody { @for f in &failures { tr { td { (time(f.at)) } td { (f.plugin) } td { pre { (f.cause) } } } } }
            }
        }
        h2 { "Payload (data)" }
        pre #payload { (payload) }
    };
    layout::page(&format!("Event {id}"), Some(&session), notice, body).into_response()
}

/// `GET /console/events/{id}/replay`: the confirmation.
pub(crate) async fn confirm_replay(State(state): State<ConsoleState>, Extension(session): Extension<Session>, Path(id): Path<String>) -> Response {
    let event = match state.store.get_event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return layout::error(StatusCode::NOT_FOUND, &format!("No stored event has id {id:?}.")),
        Err(e) => return layout::store_error(&e),
    };
    let body = html! {
        h1 { "Replay event " (id) "?" }
        p { "It is " (event.status.to_string()) " (" (event.kind) ", received " (time(event.received_at)) "). "
            "Replaying sets it pending again: every subscribed plugin runs on it again. Messages already in the outbox for it are not duplicated." }
        form method="post" action={ "/console/events/" (segment(&id)) "/replay" } {
            (csrf_field(&session))
            button.danger #confirm-replay type="submit" { "Yes, replay this event" }
            " "
            a href={ "/console/events/" (segment(&id)) } { "Cancel" }
        }
    };
    layout::page("Replay event", Some(&session), None, body).into_response()
}

/// `POST /console/events/{id}/replay` (CSRF checked by the session layer).
pub(crate) async fn replay(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match replay_event(state.store.as_ref(), &id).await {
        Ok(()) => {
            tracing::info!(event_id = %id, "Event set pending again from the console.");
            Redirect::to(&format!("/console/events/{}?replayed=true", segment(&id))).into_response()
        }
        Err(ReplayError::Store(e)) => layout::store_error(&e),
        Err(e) => layout::error(StatusCode::NOT_FOUND, &e.to_string()),
    }
}
