//! Dispatch: claims stored events, builds their context, runs every plugin subscribed to each,
//! each in isolation, and commits the resulting outbox rows with the event's new status.

pub mod dispatcher;
pub mod enrich;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::grants::Grants;
use crate::model::{Action, Channel, Context, Event, Message};
use crate::runtime::{Failure, Invocation, Plugin, PluginError};
use crate::store::{NewMessage, StoredEvent};

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

/// Runs each plugin in `plugins` that subscribes to `event.kind`. A failing plugin is logged and
/// reported in its [`PluginRun`]; the others still run.
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

/// The outbox row a plugin's SMS or call becomes.
pub fn new_message(plugin: &str, channel: Channel, m: Message) -> NewMessage {
    NewMessage {
        plugin: plugin.to_string(),
        key: m.key,
        channel,
        to: m.to,
        body: m.body,
        // Already checked to be RFC 3339 by the runtime's output limits.
        not_before: m.not_before.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)),
    }
}

/// `actions` if every message body suits the sink that will send it (`check`: the sink's bounds
/// for a channel); else why not, which fails the plugin for the event (none of its output is
/// kept).
pub fn check_bodies(actions: Vec<Action>, check: impl Fn(Channel, &str) -> Result<(), String>) -> Result<Vec<Action>, Failure> {
    for (i, action) in actions.iter().enumerate() {
        let (channel, body) = match action {
            Action::Sms(m) => (Channel::Sms, &m.body),
            Action::Call(m) => (Channel::Call, &m.body),
            Action::Cancel { .. } => continue,
        };
        check(channel, body).map_err(|reason| Failure::Output(format!("action {i}: {reason}")))?;
    }
    Ok(actions)
}

/// `actions` if every message goes to a recipient `grants` permits; else why not (`action 1:
/// recipient team:sales not granted (allow_to = ["customer"])`), which fails the plugin for the
/// event like a bad body: none of its output is kept, nothing is sent.
pub fn check_grants(actions: Vec<Action>, grants: &Grants) -> Result<Vec<Action>, Failure> {
    grants.check(&actions).map_err(Failure::Output)?;
    Ok(actions)
}
