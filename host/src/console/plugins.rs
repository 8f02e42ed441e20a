//! `GET /console/plugins`: every plugin the configuration names or implies, with its version,
//! WIT contract version, subscriptions, whether it runs and why, and its recent failures.

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
    let (planned, notice) = match plugin_plan::plan(&state.config) {
        Ok(planned) => (planned, None),
        Err(e) => (Vec::new(), Some(Notice::error(e.to_string()))),
    };
    // `serve` loads the enabled plugins of the plan, in its order.
    let mut loaded = state.plugins.iter();
    let rows: Vec<_> = planned.iter().map(|p| (p, if p.enabled { loaded.next() } else { None })).collect();
    let failures_of = |name: &str| -> Vec<&(String, FailureRecord)> { recent.iter().filter(|(_, f)| f.plugin == name).take(PER_PLUGIN).collect() };
    let body = html! {
        h1 { "Plugins" }
        table #plugins {
            thead { tr { th { "Name" } th { "Version" } th { "WIT" } th { "Subscribes to" } th { "Enabled" } th { "Recent failures" } } }
            tbody {
                @for (planned, plugin) in &rows {
                    @let name = plugin.map_or(planned.name.as_str(), |p| p.name());
                    tr {
                        td { strong { (name) } @if let Some(p) = plugin { br; span.muted { (p.manifest().description) } } }
                        td { (plugin.map(|p| p.manifest().version.as_str()).unwrap_or("")) }
                        td { (plugin.map(|p| p.contract_version()).unwrap_or("")) }
                        td { (plugin.map(|p| p.manifest().subscribes.join(", ")).unwrap_or_default()) }
                        td { (if planned.enabled { "yes" } else { "no" }) br; span.muted { (planned.why) } }
                        td {
                            @let failures = failures_of(name);
                            @if failures.is_empty() { span.muted { "none" } }
                            @for (event, f) in failures {
                                div { (time(f.at)) " " a href={ "/console/events/" (segment(event)) } { (short(event, 32)) } ": " (short(&f.cause, 120)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Plugins", Some(&session), notice, body).into_response()
}
