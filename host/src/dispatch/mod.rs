//! Dispatch: runs every plugin subscribed to an event, each in isolation,
//! and turns the results into outbox rows.

pub mod dispatcher;
pub mod enrich;

use chrono::SecondsFormat;

use crate::model::{Context, Event};
use crate::runtime::{Invocation, Plugin, PluginError};
use crate::store::StoredEvent;

/// A stored event as plugins see it.
pub fn plugin_event(stored: &StoredEvent) -> Event {
    Event {
        id: stored.id.clone(),
        source: stored.source.clone(),
        kind: stored.kind.clone(),
        business_id: stored.business_id.clone().unwrap_or_default(),
        received_at: stored.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data: stored.data.clone(),
    }
}

/// One plugin's result for one event.
#[derive(Debug)]
pub struct PluginRun<'p> {
    /// The plugin that ran.
    pub plugin: &'p Plugin,
    /// Its actions, or why it failed.
    pub outcome: Result<Invocation, PluginError>,
}

/// Runs each plugin in `plugins` that subscribes to `event.kind`. A failing
/// plugin is logged and reported in its [`PluginRun`]; the others still run.
pub fn run_plugins<'p>(plugins: &'p [Plugin], event: &Event, context: &Context) -> Vec<PluginRun<'p>> {
    plugins
        .iter()
        .filter(|p| p.manifest().subscribes_to(&event.kind))
        .map(|plugin| {
            let outcome = plugin.handle(event, context);
            if let Err(e) = &outcome {
                tracing::warn!(plugin = plugin.name(), event_id = %event.id, cause = %e.cause, "Plugin failed.");
            }
            PluginRun { plugin, outcome }
        })
        .collect()
}
