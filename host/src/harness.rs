//! The plugin test harness: loads a built `.wasm` (or a default plugin) and
//! runs it against fixture events and contexts under the host's own runtime
//! and limits, with no network. Used by `ml-connector plugin run`, by
//! `plugin test` (case folders: [`cases`]) and by Rust tests (plugin authors
//! add `ml-connector` as a dev-dependency).

pub mod cases;
pub mod shadow;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::builtin;
use crate::dispatch::check_bodies;
use crate::model::{Action, Context, Event};
use crate::runtime::{Invocation, Limits, LoadError, Plugin, PluginError, Runtime, RuntimeOptions};
use crate::sources::wave::payload::{self, PayloadError};

/// What can go wrong in a harness run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Reading a fixture or a `.wasm` failed.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, not a `source`: it would be printed twice).
        cause: std::io::Error,
    },
    /// Neither a default plugin's name nor a readable `.wasm` path.
    #[error("no default plugin is called {0:?} and it is not a .wasm path (see `ml-connector plugin list`)")]
    UnknownPlugin(String),
    /// The event fixture is not a valid Wave webhook body.
    #[error("event fixture: {0}")]
    Event(PayloadError),
    /// The event fixture is not a valid event in the host's form.
    #[error("event fixture (host form): {0}")]
    HostEvent(serde_json::Error),
    /// The context fixture does not parse.
    #[error("context fixture: {0}")]
    Context(serde_json::Error),
    /// The plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The plugin failed on the event.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A runtime without a compile cache, for one-off runs.
pub struct Harness {
    runtime: Runtime,
}

impl Harness {
    /// A harness with the default runtime options.
    pub fn new() -> Result<Self, HarnessError> {
        Ok(Harness { runtime: Runtime::new(&RuntimeOptions::default())? })
    }

    /// Loads a default plugin by name, or a `.wasm` file by path.
    pub fn load(&self, name_or_path: &str, limits: Limits, settings: BTreeMap<String, String>) -> Result<Plugin, HarnessError> {
        if let Some(b) = builtin::find(name_or_path) {
            return Ok(self.runtime.load(b.name, b.wasm, limits, settings)?);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_none_or(|ext| ext != "wasm") && !path.exists() {
            return Err(HarnessError::UnknownPlugin(name_or_path.into()));
        }
        let wasm = read(path)?;
        Ok(self.runtime.load(name_or_path, &wasm, limits, settings)?)
    }

    /// Runs `plugin` on an event fixture (see [`parse_event`]). Without a context, the plugin
    /// sees only the event and the current time (what the host has before enrichment).
    pub fn run(&self, plugin: &Plugin, event_json: &[u8], context: Option<&Context>) -> Result<Invocation, HarnessError> {
        let event = parse_event(event_json)?;
        let bare;
        let context = match context {
            Some(c) => c,
            None => {
                bare = Context::bare(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true));
                &bare
            }
        };
        let mut invocation = plugin.handle(&event, context)?;
        // As the dispatcher does: every body must suit the sink that sends it (Twilio's bounds).
        invocation.actions = check_bodies(invocation.actions, crate::sinks::twilio::sink::check_body)
            .map_err(|cause| PluginError { plugin: plugin.name().to_owned(), event_id: event.id.clone(), cause })?;
        Ok(invocation)
    }
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, HarnessError> {
    std::fs::read(path).map_err(|cause| HarnessError::Read { path: path.display().to_string(), cause })
}

/// Parses an event fixture: a Wave webhook body exactly as Wave sends it, or an event in the
/// host's own form (`{"id", "source", "kind", "business_id", "received_at", "data"}`, `data` as
/// JSON text), as the host stores it, e.g. a Twilio `message.received`.
pub fn parse_event(json: &[u8]) -> Result<Event, HarnessError> {
    parse_event_at(json, Utc::now())
}

/// [`parse_event`], with a Wave event received at `received_at`.
pub fn parse_event_at(json: &[u8], received_at: DateTime<Utc>) -> Result<Event, HarnessError> {
    let host_form = serde_json::from_slice::<serde_json::Value>(json).is_ok_and(|v| v.get("source").is_some());
    if host_form {
        return serde_json::from_slice(json).map_err(HarnessError::HostEvent);
    }
    payload::parse(json, received_at).map_err(HarnessError::Event)
}

/// Parses a context fixture (the JSON form of [`Context`]).
pub fn parse_context(json: &[u8]) -> Result<Context, HarnessError> {
    serde_json::from_slice(json).map_err(HarnessError::Context)
}

/// The actions as the JSON array `plugin run` prints.
pub fn actions_json(actions: &[Action]) -> serde_json::Value {
    serde_json::to_value(actions).expect("actions always serialize")
}
