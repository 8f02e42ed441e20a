//! What each plugin saw and decided, kept with every dispatch: the exact context it was given
//! (stored once per distinct context, by hash) and its actions or failure, with the plugin's
//! version (the SHA-256 of its wasm). A replay runs a stored event with its stored context;
//! a shadow run (`plugin shadow`) runs a new version on them and compares. Kept for
//! `store.run_retention_days`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use super::Result;

/// The context a dispatch gave its plugins, as JSON, with its hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedContext {
    /// Hex SHA-256 of `json`.
    pub hash: String,
    /// The context, serialized.
    pub json: String,
}

impl RecordedContext {
    /// Wraps a serialized context with its hash.
    pub fn new(json: String) -> Self {
        RecordedContext { hash: hex::encode(Sha256::digest(json.as_bytes())), json }
    }
}

/// One plugin's run on one event, to record with the dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The plugin's name.
    pub plugin: String,
    /// Its version: the SHA-256 of its wasm, hex.
    pub digest: String,
    /// Its actions as JSON, or why it failed.
    pub outcome: std::result::Result<String, String>,
}

/// A recorded run, with its event's kind and the context it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    /// Increasing with each run.
    pub id: i64,
    /// The event.
    pub event_id: String,
    /// The event's kind.
    pub kind: String,
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version (SHA-256 of its wasm, hex).
    pub digest: String,
    /// The context it was given, JSON.
    pub context: String,
    /// Its actions as JSON, or why it failed.
    pub outcome: std::result::Result<String, String>,
    /// When it ran.
    pub ran_at: DateTime<Utc>,
}

/// Which runs [`RunStore::list_runs`] returns: the latest run of `plugin` on each event, newest
/// first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// The plugin.
    pub plugin: String,
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only runs at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many.
    pub limit: usize,
}

/// Recorded runs. They are written by [`super::InboxStore::complete_dispatches`], in the same
/// transaction as the dispatch they belong to.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// The latest run of the filter's plugin on each event, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>>;

    /// Deletes runs from before `before`, and contexts no run refers to any more; how many runs.
    async fn prune_runs(&self, before: DateTime<Utc>) -> Result<usize>;
}
