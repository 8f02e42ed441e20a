//! `GET /console/plugins`: every plugin that runs now (the configuration's, with the store's
//! installs, upgrades and switches on top), with its version and wasm hash (and the previous
//! one, for a rollback), the last `plugin shadow` result against it, WIT contract version,
//! subscriptions and recent failures; then the plugins the configuration or the store leaves
//! out, and why.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::ConsoleState;
use super::auth::Session;
use super::layout::{self, Notice, segment, short, time};
use crate::plugin_plan;
use crate::store::FailureRecord;

/// How many recent plugin failures are searched for each plugin's last ones.
const RECENT: usize = 200;
/// Failures shown per plugin.
const PER_PLUGIN: usize = 3;

/// `GET /console/plugins`.
pub(crate) async fn page(State(state): State<ConsoleState>, Extension(session): Extension<Session>) -> Response {
    let recent = match state.store.recent_failures(RECENT).await {
        Ok(recent) => recent,
        Err(e) => return layout::store_error(&e),
    };
    let installed = match state.store.list_installed_plugins().await {
        Ok(installed) => installed,
        Err(e) => return layout::store_error(&e),
    };
    let shadows = match state.store.last_shadows().await {
        Ok(shadows) => shadows,
        Err(e) => return layout::store_error(&e),
    };
    let (planned, notice) = match plugin_plan::plan(&state.config) {
        Ok(planned) => (planned, None),
        Err(e) => (Vec::new(), Some(Notice::error(e.to_string()))),
    };
    // What runs now (the configuration, then the store's entries on top), and what the
    // configuration or the store leaves out.
    let running = state.dispatcher.plugins();
    let entry_of = |name: &str| installed.iter().find(|e| e.name == name);
    let why_running = |name: &str| match entry_of(name) {
        Some(e) if e.digest.is_some() => "installed with `plugin install` / `upgrade`".to_owned(),
        _ => planned.iter().find(|p| p.enabled && p.name == name).map_or_else(|| "configured".to_owned(), |p| p.why.clone()),
    };
    let left_out: Vec<(String, String)> = planned
        .iter()
        .filter(|p| !p.enabled)
        .map(|p| (p.name.clone(), p.why.clone()))
        .chain(installed.iter().filter(|e| !e.enabled).map(|e| (e.name.clone(), "disabled by `plugin disable`".to_owned())))
        .collect();
    let shadow_of = |name: &str| shadows.iter().find(|s| s.plugin == name);
    let failures_of = |name: &str| -> Vec<&(String, FailureRecord)> { recent.iter().filter(|(_, f)| f.plugin == name).take(PER_PLUGIN).collect() };
    let body = html! {
        h1 { "Plugins" }
        table #plugins {
            thead { tr { th { "Name" } th { "Version" } th { "Last shadow run" } th { "WIT" } th { "Subscribes to" } th { "Runs" } th { "Recent failures" } } }
            tbody {
                @for plugin in running.iter() {
                    @let name = plugin.name();
                    tr {
                        td { strong { (name) } br; span.muted { (plugin.manifest().description) } }
                        td {
                            (plugin.manifest().version) br;
                            span.muted title=(plugin.digest()) { "wasm " (short(plugin.digest(), 12)) }
                            @if let Some(previous) = entry_of(name).and_then(|e| e.previous.as_deref()) {
                                br; span.muted title=(previous) { "previous " (short(previous, 12)) }
                            }
                        }
                        td.shadow {
                            @match shadow_of(name) {
                                Some(shadow) => {
                                    @if shadow.different == 0 {
                                        "identical on " (events(shadow.events))
                                    } @else {
                                        strong { (shadow.different) " of " (events(shadow.events)) " differ" }
                                    }
                                    br; span.muted title=(shadow.digest) { (short(&shadow.candidate, 40)) " (" (short(&shadow.digest, 12)) ")" }
                                    br; span.muted { (time(shadow.ran_at)) }
                                }
                                None => span.muted { "none" },
                            }
                        }
                        td { (plugin.contract_version()) }
                        td { (plugin.manifest().subscribes.join(", ")) }
                        td { "yes" br; span.muted { (why_running(name)) } }
                        td {
                            @let failures = failures_of(name);
                            @if failures.is_empty() { span.muted { "none" } }
                            @for (event, f) in failures {
                                div { (time(f.at)) " " a href={ "/console/events/" (segment(event)) } { (short(event, 32)) } ": " (short(&f.cause, 120)) }
                            }
                        }
                    }
                }
                @for (name, why) in &left_out {
                    tr {
                        td { strong { (name) } }
                        td {} td {} td {} td {}
                        td { "no" br; span.muted { (why) } }
                        td {}
                    }
                }
            }
        }
    };
    layout::page("Plugins", Some(&session), notice, body).into_response()
}

/// "1 event", "40 events".
fn events(n: u64) -> String {
    if n == 1 { "1 event".to_owned() } else { format!("{n} events") }
}
