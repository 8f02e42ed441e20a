//! Plugins installed into the store (`ml-connector plugin install|upgrade|rollback|enable|
//! disable`): their wasm by content hash, so every replica runs the same bytes, and per plugin
//! name the version in use, the one before it (for a rollback), whether it runs and the last
//! `plugin shadow` result against it. A running `serve` reads them every few seconds and swaps
//! its plugin set when they change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Result;

/// A plugin name's entry: the stored version it runs, if any, and whether it runs at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPlugin {
    /// The plugin's name (its manifest's).
    pub name: String,
    /// The SHA-256 (hex) of the stored wasm it runs; `None` when the entry only switches a
    /// configured or built-in plugin on or off.
    pub digest: Option<String>,
    /// The version it ran before the last install, upgrade or rollback.
    pub previous: Option<String>,
    /// Whether it runs.
    pub enabled: bool,
    /// When the entry last changed.
    pub updated_at: DateTime<Utc>,
}

/// The summary of the last `plugin shadow` run against a plugin, kept for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowResult {
    /// The live plugin the candidate was compared with.
    pub plugin: String,
    /// The candidate as it was given (a path or a built-in's name).
    pub candidate: String,
    /// The candidate's SHA-256 (hex).
    pub digest: String,
    /// How many recorded events were compared.
    pub events: u64,
    /// How many of them the candidate decided differently (failures included).
    pub different: u64,
    /// When the shadow run finished.
    pub ran_at: DateTime<Utc>,
}

/// Stored plugin versions and which one each name runs.
#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Stores `wasm` under its `digest` (a no-op when it is already there).
    async fn put_plugin_wasm(&self, digest: &str, wasm: Vec<u8>) -> Result<()>;

    /// The wasm stored under `digest`.
    async fn get_plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>>;

    /// Makes `name` run the stored version `digest` (enabled); the version it ran becomes its
    /// `previous`. Returns the entry as it is now.
    async fn install_plugin(&self, name: &str, digest: &str) -> Result<InstalledPlugin>;

    /// Switches `name` on or off (creating an entry without a stored version when there is
    /// none). Returns the entry as it is now.
    async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<InstalledPlugin>;

    /// Swaps `name`'s version with its previous one; `None` when it has no previous version.
    async fn rollback_plugin(&self, name: &str) -> Result<Option<InstalledPlugin>>;

    /// Every entry, by name.
    async fn list_installed_plugins(&self) -> Result<Vec<InstalledPlugin>>;

    /// Keeps `result` as the last shadow run against its plugin (replacing the one before).
    async fn record_shadow(&self, result: &ShadowResult) -> Result<()>;

    /// The last shadow run against each plugin, by plugin name.
    async fn last_shadows(&self) -> Result<Vec<ShadowResult>>;
}
