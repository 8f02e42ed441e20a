//! The configuration's sections: `[server]`, `[store]`, `[secrets]`, `[wave]`, `[twilio]`,
//! `[builtin_plugins]` and `[[plugins]]`, each with its defaults. `[[qad]]` lives with its source
//! (`sources/qad/config.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveTime;
use serde::Deserialize;

use super::fields::*;
use super::Timezone;
use crate::model::grants::Grant;

/// `[builtin_plugins]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinPluginsConfig {
    /// Every built-in plugin runs unless a `[[plugins]]` entry disables it (true); false runs
    /// only the built-ins listed in `[[plugins]]`.
    pub enabled: bool,
}

impl Default for BuiltinPluginsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[installed_plugins]`: plugins installed with `plugin install` that no `[[plugins]]` entry
/// configures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstalledPluginsConfig {
    /// The recipients they may address (`["customer"]`); see [`Grant`] for the grammar.
    pub allow_to: Vec<Grant>,
}

impl Default for InstalledPluginsConfig {
    fn default() -> Self {
        Self { allow_to: vec![Grant::Customer] }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Public base URL (for Twilio callbacks and printed webhook URLs); see
    /// [`ServerConfig::resolved_public_url`].
    #[serde(deserialize_with = "opt_http_url")]
    pub public_url: Option<String>,
    /// Largest accepted request body (262144).
    #[serde(deserialize_with = "positive")]
    pub max_body_bytes: usize,
    /// A request not answered within this many ms, body included, gets 408 (30000).
    #[serde(deserialize_with = "positive")]
    pub request_timeout_ms: u64,
    /// Largest accepted request head: all header names and values together (16384); 431 above.
    #[serde(deserialize_with = "positive")]
    pub max_header_bytes: usize,
    /// Webhook submissions waiting for the store's group commit (8192); when full, webhooks get
    /// 503 with `Retry-After` instead of queueing more.
    #[serde(deserialize_with = "positive")]
    pub ingest_queue: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 256 * 1024,
            request_timeout_ms: 30_000,
            max_header_bytes: 16 * 1024,
            ingest_queue: 8192,
        }
    }
}

impl ServerConfig {
    /// `public_url`, or `http://{listen}` when unset.
    pub fn resolved_public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite database file (`ml-connector.db`).
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://user:password@host:port/database`): when set, the store is
    /// that database (shared by several replicas) and `path` is unused.
    pub url: Option<String>,
    /// Where compiled plugins are cached; see [`StoreConfig::resolved_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How long a claim on an event, message or poll lasts (30): a process killed while holding
    /// claims has its work taken over by another (or by itself after a restart) once they run
    /// out.
    #[serde(deserialize_with = "positive")]
    pub lease_secs: u64,
    /// How many days each plugin run (the context it saw, what it decided) is kept for replays
    /// and shadow runs (30).
    #[serde(deserialize_with = "positive")]
    pub run_retention_days: u64,
    /// Caps the SQLite database at this many MiB (unset: no cap beyond the disk's). A full
    /// store answers webhooks 503 with `Retry-After` and keeps everything it acknowledged;
    /// raise the cap (or free the disk) and the senders' retries get through. SQLite only.
    #[serde(deserialize_with = "opt_positive")]
    pub max_size_mib: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("ml-connector.db"),
            url: None,
            cache_dir: None,
            lease_secs: 30,
            run_retention_days: 30,
            max_size_mib: None,
        }
    }
}

impl StoreConfig {
    /// `cache_dir`, or the store path with `.cache` appended when unset.
    pub fn resolved_cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| {
            let mut dir = self.path.clone().into_os_string();
            dir.push(".cache");
            PathBuf::from(dir)
        })
    }
}

/// `[secrets]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// File holding the master key; `ML_CONNECTOR_MASTER_KEY` takes precedence over it.
    pub master_key_file: Option<PathBuf>,
}

/// `[wave]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaveConfig {
    /// The Wave business whose events are accepted (raw id, as in webhook payloads).
    pub business_id: Option<String>,
    /// OAuth application client id.
    pub client_id: Option<String>,
    /// GraphQL endpoint.
    #[serde(deserialize_with = "http_url")]
    pub graphql_url: String,
    /// OAuth token endpoint.
    #[serde(deserialize_with = "http_url")]
    pub token_url: String,
    /// OAuth authorization page.
    #[serde(deserialize_with = "http_url")]
    pub authorize_url: String,
    /// Largest accepted distance between a signature's timestamp and now (300, Wave's 5 minutes).
    #[serde(deserialize_with = "positive")]
    pub signature_tolerance_secs: u32,
    /// How often to reconcile against Wave's API for missed webhooks; unset turns it off.
    #[serde(deserialize_with = "opt_positive")]
    pub reconcile_interval_secs: Option<u64>,
}

impl Default for WaveConfig {
    fn default() -> Self {
        Self {
            business_id: None,
            client_id: None,
            graphql_url: "https://gql.waveapps.com/graphql/public".into(),
            token_url: "https://api.waveapps.com/oauth2/token/".into(),
            authorize_url: "https://api.waveapps.com/oauth2/authorize/".into(),
            signature_tolerance_secs: 300,
            reconcile_interval_secs: None,
        }
    }
}

/// Whether messages really go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TwilioMode {
    /// Messages are recorded but never sent (the default).
    #[default]
    DryRun,
    /// Messages are sent through Twilio.
    Live,
}

/// `[twilio]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioConfig {
    /// Account SID, `AC` + 32 hex digits.
    #[serde(deserialize_with = "opt_account_sid")]
    pub account_sid: Option<String>,
    /// Sender number; exactly one of this and `messaging_service_sid` in live mode.
    #[serde(deserialize_with = "opt_non_empty")]
    pub from: Option<String>,
    /// Messaging service SID, `MG` + 32 hex digits.
    #[serde(deserialize_with = "opt_messaging_service_sid")]
    pub messaging_service_sid: Option<String>,
    /// REST API base (`https://api.twilio.com`).
    #[serde(deserialize_with = "http_url")]
    pub api_base: String,
    /// Lookups API base (`https://lookups.twilio.com`).
    #[serde(deserialize_with = "http_url")]
    pub lookups_base: String,
    /// Region for numbers written without a country code (`US`).
    #[serde(deserialize_with = "region")]
    pub default_region: String,
    /// Sending rate limit (1); Twilio queues, then fails, messages above a sender's rate.
    #[serde(deserialize_with = "positive")]
    pub messages_per_second: u32,
    /// `dry-run` (default) or `live`.
    pub mode: TwilioMode,
    /// Local hours during which nothing is sent, e.g. `21:00-08:00`.
    pub quiet_hours: Option<QuietHours>,
    /// The business's time zone (an IANA name such as `America/Chicago`, or an offset such as
    /// `-05:00`) for quiet hours and the plugins' clock; unset means UTC. A connected Wave
    /// business's own time zone wins for its events.
    pub timezone: Option<Timezone>,
    /// Per-request timeout for Twilio calls in milliseconds (10000); a timeout is retried.
    #[serde(deserialize_with = "positive")]
    pub request_timeout_ms: u64,
    /// Retries after a 429, 5xx, timeout or connection error (3): at most 4 attempts.
    pub max_retries: u32,
    /// Backoff base in milliseconds (1000): retry `n` waits a random time up to
    /// `base * 2^(n-1)` (full jitter), capped at 5 minutes, unless `Retry-After` says otherwise.
    #[serde(deserialize_with = "positive")]
    pub retry_base_ms: u64,
    /// How long a call whose request went unanswered (a timeout, a crash) waits for Twilio's
    /// status callback, which names its message, before the sender looks for it in Twilio's
    /// list of calls (60000): calls to one number carry nothing in that list to tell them
    /// apart, and Twilio calls back when the call ends.
    #[serde(deserialize_with = "positive")]
    pub call_callback_wait_ms: u64,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: None,
            from: None,
            messaging_service_sid: None,
            api_base: "https://api.twilio.com".into(),
            lookups_base: "https://lookups.twilio.com".into(),
            default_region: "US".into(),
            messages_per_second: 1,
            mode: TwilioMode::DryRun,
            quiet_hours: None,
            timezone: None,
            request_timeout_ms: 10_000,
            max_retries: 3,
            retry_base_ms: 1_000,
            call_callback_wait_ms: 60_000,
        }
    }
}

/// A daily window `start-end` in local time; it wraps midnight when `end < start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct QuietHours {
    /// First quiet minute.
    pub start: NaiveTime,
    /// First minute after the window.
    pub end: NaiveTime,
}

impl TryFrom<String> for QuietHours {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not a window like \"21:00-08:00\"");
        let (start, end) = text.split_once('-').ok_or_else(invalid)?;
        let start = parse_hh_mm(start.trim()).ok_or_else(invalid)?;
        let end = parse_hh_mm(end.trim()).ok_or_else(invalid)?;
        if start == end {
            return Err(format!("{text:?} is an empty window"));
        }
        Ok(Self { start, end })
    }
}

fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    // Digits only: `u32::from_str` would also take a sign, as in "+9:00".
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A plugin shipped inside the binary, by name.
    Builtin(String),
    /// A `.wasm` component file.
    File(PathBuf),
}

/// One `[[plugins]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawPlugin")]
pub struct PluginConfig {
    /// `name = "..."` (built-in) or `path = "....wasm"`; exactly one.
    pub source: PluginSource,
    /// Whether it runs (true).
    pub enabled: bool,
    /// CPU deadline per event in milliseconds (50).
    pub deadline_ms: u64,
    /// Memory cap in MiB (16).
    pub memory_mib: u32,
    /// `[plugins.settings]`: passed to the plugin; integers and booleans become strings.
    pub settings: BTreeMap<String, String>,
    /// `allow_to = ["customer", "team:accounting"]`: the recipients it may address (see
    /// [`Grant`] for the grammar). Unset: a built-in's own default, which follows its settings
    /// ([`crate::builtin::default_grants`]); the customer only for a `.wasm` file.
    pub allow_to: Option<Vec<Grant>>,
}

/// `[[plugins]]` as written, before `name`/`path` are resolved.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPlugin {
    name: Option<String>,
    path: Option<PathBuf>,
    enabled: bool,
    #[serde(deserialize_with = "positive")]
    deadline_ms: u64,
    #[serde(deserialize_with = "positive")]
    memory_mib: u32,
    #[serde(deserialize_with = "settings")]
    settings: BTreeMap<String, String>,
    allow_to: Option<Vec<Grant>>,
}

impl Default for RawPlugin {
    fn default() -> Self {
        Self {
            name: None,
            path: None,
            enabled: true,
            deadline_ms: 50,
            memory_mib: 16,
            settings: BTreeMap::new(),
            allow_to: None,
        }
    }
}

impl TryFrom<RawPlugin> for PluginConfig {
    type Error = String;

    fn try_from(raw: RawPlugin) -> Result<Self, String> {
        let source = match (raw.name, raw.path) {
            (Some(name), None) if !name.trim().is_empty() => PluginSource::Builtin(name),
            (None, Some(path)) if !path.as_os_str().is_empty() => PluginSource::File(path),
            (Some(_), Some(_)) => {
                return Err(
                    "set either `name` (a built-in plugin) or `path` (a .wasm file), not both"
                        .into(),
                );
            }
            _ => return Err("set `name` (a built-in plugin) or `path` (a .wasm file)".into()),
        };
        Ok(Self {
            source,
            enabled: raw.enabled,
            deadline_ms: raw.deadline_ms,
            memory_mib: raw.memory_mib,
            settings: raw.settings,
            allow_to: raw.allow_to,
        })
    }
}
