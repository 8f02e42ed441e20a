//! Operator configuration: a TOML file (default `ml-connector.toml`) with every scalar key
//! overridable by an `ML_CONNECTOR_<SECTION>_<KEY>` environment variable.
//!
//! Unknown keys are errors, and every error names where the value came from (file and line, or
//! environment variable), the dotted key, and the reason. Relative paths are relative to the
//! working directory, not to the file. Secrets never live here: they are sealed in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use serde::Deserialize;
use serde::de::{self, Deserializer};

pub use crate::timezone::Timezone;
pub use variables::check_variable_names;

mod variables;

/// The file read when no path is given. Unlike an explicit path, it may be missing.
pub const DEFAULT_PATH: &str = "ml-connector.toml";

/// Prefix of override variables: `ML_CONNECTOR_TWILIO_MODE` sets `twilio.mode`.
pub const ENV_PREFIX: &str = "ML_CONNECTOR_";

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        cause: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's reason.
        message: String,
    },
    /// An `ML_CONNECTOR_*` variable names no configuration key.
    #[error("environment variable {var} is not a configuration key (see README, Configuration){hint}")]
    UnknownVariable {
        /// The variable.
        var: String,
        /// A suggestion, e.g. `; did you mean ML_CONNECTOR_TWILIO_MODE?`.
        hint: String,
    },
    /// A key is unknown, or a value is missing, mistyped or out of range.
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        /// Where the offending value came from.
        origin: Origin,
        /// Dotted path of the key, e.g. `twilio.messages_per_second` or `plugins[0]`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file, with the 1-based line and column when known.
    File {
        /// The file.
        path: PathBuf,
        /// `(line, column)` of the value.
        position: Option<(usize, usize)>,
    },
    /// An override variable.
    Env {
        /// The variable's name.
        var: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Self::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
            Self::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// The whole configuration. Every section is optional in the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The file it was read from (it may be absent: then every default applies), for messages
    /// that point at a key; empty when the configuration was built in code.
    #[serde(skip)]
    pub file: PathBuf,
    /// `[server]`: the HTTP listener.
    pub server: ServerConfig,
    /// `[store]`: the database.
    pub store: StoreConfig,
    /// `[secrets]`: the master key.
    pub secrets: SecretsConfig,
    /// `[wave]`: the Wave source.
    pub wave: WaveConfig,
    /// `[twilio]`: the Twilio sink.
    pub twilio: TwilioConfig,
    /// `[team]`: named contacts plugins may address as `team:NAME`, e.g. `billing = "+1555…"`.
    #[serde(deserialize_with = "team")]
    pub team: BTreeMap<String, String>,
    /// `[builtin_plugins]`: whether the built-in plugins run unless listed.
    pub builtin_plugins: BuiltinPluginsConfig,
    /// `[[plugins]]`: plugins to configure, disable (`enabled = false`) or add (`path`). Every
    /// built-in runs with default limits unless an entry disables it or `[builtin_plugins]
    /// enabled = false`; see [`crate::plugin_plan`].
    pub plugins: Vec<PluginConfig>,
    /// `[[qad]]`: QAD tenants polled for supplier invoices, purchase orders and goods receipts.
    pub qad: Vec<crate::sources::qad::config::QadConfig>,
    /// `[console]`: the web console (on by default only when listening on loopback).
    pub console: crate::console::ConsoleConfig,
}

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 256 * 1024,
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
    /// Where compiled plugins are cached; see [`StoreConfig::resolved_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How long a claim on an event, message or poll lasts (30): a process killed while holding
    /// claims has its work taken over by another (or by itself after a restart) once they run
    /// out.
    #[serde(deserialize_with = "positive")]
    pub lease_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("ml-connector.db"),
            cache_dir: None,
            lease_secs: 30,
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
        })
    }
}

/// The type of an overridable key, which decides how its variable is read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
}

/// Every scalar key, as `(section, key, kind)`. `[team]` and `[[plugins]]` have no overrides.
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("server", "listen", Kind::Text),
    ("server", "public_url", Kind::Text),
    ("server", "max_body_bytes", Kind::Integer),
    ("store", "path", Kind::Text),
    ("store", "cache_dir", Kind::Text),
    ("store", "lease_secs", Kind::Integer),
    ("secrets", "master_key_file", Kind::Text),
    ("wave", "business_id", Kind::Text),
    ("wave", "client_id", Kind::Text),
    ("wave", "graphql_url", Kind::Text),
    ("wave", "token_url", Kind::Text),
    ("wave", "authorize_url", Kind::Text),
    ("wave", "signature_tolerance_secs", Kind::Integer),
    ("wave", "reconcile_interval_secs", Kind::Integer),
    ("twilio", "account_sid", Kind::Text),
    ("twilio", "from", Kind::Text),
    ("twilio", "messaging_service_sid", Kind::Text),
    ("twilio", "api_base", Kind::Text),
    ("twilio", "lookups_base", Kind::Text),
    ("twilio", "default_region", Kind::Text),
    ("twilio", "messages_per_second", Kind::Integer),
    ("twilio", "mode", Kind::Text),
    ("twilio", "quiet_hours", Kind::Text),
    ("twilio", "timezone", Kind::Text),
    ("twilio", "request_timeout_ms", Kind::Integer),
    ("twilio", "max_retries", Kind::Integer),
    ("twilio", "retry_base_ms", Kind::Integer),
    ("builtin_plugins", "enabled", Kind::Boolean),
    ("console", "enabled", Kind::Boolean),
];

/// One environment override.
struct Override {
    key: String,
    var: String,
    section: &'static str,
    name: &'static str,
    value: toml::Value,
}

/// The variable overriding `section.key`.
fn env_var(section: &str, key: &str) -> String {
    format!("{ENV_PREFIX}{section}_{key}").to_ascii_uppercase()
}

impl Config {
    /// Loads `path` (or [`DEFAULT_PATH`], which may be missing: then every default applies),
    /// applies overrides found through `env`, and validates. Empty variables count as unset.
    pub fn load(
        path: Option<&Path>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::load_file(path, true, env),
            None => Self::load_file(Path::new(DEFAULT_PATH), false, env),
        }
    }

    /// [`Config::load`] with the process environment, after [`check_variable_names`].
    pub fn load_with_process_env(path: Option<&Path>) -> Result<Self, ConfigError> {
        check_variable_names(std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()))?;
        Self::load(path, &|name| std::env::var(name).ok())
    }

    fn load_file(
        file: &Path,
        required: bool,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = file.to_path_buf();
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if !required && err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(cause) => return Err(ConfigError::Read { path: file, cause }),
        };
        Self::parse(&file, &text, env)
    }

    /// Parses `text` as the contents of the config file `file` (named in errors only; nothing
    /// is read from disk), applies overrides found through `env`, and validates: what
    /// [`Config::load`] does once it has read the file.
    pub fn parse(
        file: &Path,
        text: &str,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // The file alone first, so that its mistakes are reported with a line number.
        let from_file = deserialize_file(file, text)?;
        let overrides = read_overrides(env)?;
        let mut config = if overrides.is_empty() {
            from_file
        } else {
            merge_overrides(file, text, &overrides)?
        };
        config.file = file.to_path_buf();
        let origin_of = |key: &str| match overrides.iter().find(|o| o.key == key) {
            Some(o) => Origin::Env { var: o.var.clone() },
            None => Origin::File {
                path: file.to_path_buf(),
                position: None,
            },
        };
        config.validate(&origin_of)?;
        Ok(config)
    }

    /// Checks that span several keys.
    fn validate(&self, origin_of: &impl Fn(&str) -> Origin) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin_of(key),
            key: key.to_owned(),
            message,
        };
        let twilio = &self.twilio;
        if twilio.mode == TwilioMode::Live {
            if twilio.account_sid.is_none() {
                return Err(invalid(
                    "twilio.mode",
                    "\"live\" needs `twilio.account_sid`".into(),
                ));
            }
            if twilio.from.is_some() == twilio.messaging_service_sid.is_some() {
                return Err(invalid(
                    "twilio.mode",
                    "\"live\" needs exactly one of `twilio.from` and `twilio.messaging_service_sid`"
                        .into(),
                ));
            }
        }
        if let Err((i, message)) = crate::sources::qad::config::check_unique(&self.qad) {
            return Err(invalid(&format!("qad[{i}].name"), message));
        }
        let mut names = BTreeSet::new();
        for (i, plugin) in self.plugins.iter().enumerate() {
            if let PluginSource::Builtin(name) = &plugin.source
                && !names.insert(name.as_str())
            {
                return Err(invalid(
                    &format!("plugins[{i}].name"),
                    format!("plugin {name:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

fn deserialize_file(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|err| {
        let (line, column) = err
            .span()
            .map_or((1, 1), |span| line_column(text, span.start));
        ConfigError::Syntax {
            path: file.to_owned(),
            line,
            column,
            message: err.message().to_owned(),
        }
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let position = err.inner().span().map(|span| line_column(text, span.start));
        ConfigError::Invalid {
            origin: Origin::File {
                path: file.to_owned(),
                position,
            },
            key: err.path().to_string(),
            message: err.inner().message().to_owned(),
        }
    })
}

fn read_overrides(env: &impl Fn(&str) -> Option<String>) -> Result<Vec<Override>, ConfigError> {
    let mut overrides = Vec::new();
    for &(section, name, kind) in ENV_KEYS {
        let var = env_var(section, name);
        let Some(raw) = env(&var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let key = format!("{section}.{name}");
        let value = match kind {
            Kind::Text => toml::Value::String(raw),
            Kind::Boolean => match raw.trim() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError::Invalid {
                        origin: Origin::Env { var },
                        key,
                        message: format!("expected true or false, found {raw:?}"),
                    });
                }
            },
            Kind::Integer => match raw.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    return Err(ConfigError::Invalid {
                        origin: Origin::Env { var },
                        key,
                        message: format!("expected an integer, found {raw:?}"),
                    });
                }
            },
        };
        overrides.push(Override {
            key,
            var,
            section,
            name,
            value,
        });
    }
    Ok(overrides)
}

/// Deserializes the file's table with the overrides applied; an error on an overridden key
/// names its variable.
fn merge_overrides(file: &Path, text: &str, overrides: &[Override]) -> Result<Config, ConfigError> {
    let file_origin = || Origin::File {
        path: file.to_owned(),
        position: None,
    };
    // Already parsed successfully by `deserialize_file`; kept fallible rather than assumed.
    let mut table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Invalid {
        origin: file_origin(),
        key: String::new(),
        message: err.message().to_owned(),
    })?;
    for o in overrides {
        let section = table
            .entry(o.section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            section.insert(o.name.to_owned(), o.value.clone());
        }
    }
    serde_path_to_error::deserialize(table).map_err(|err| {
        let key = err.path().to_string();
        let origin = overrides
            .iter()
            .find(|o| o.key == key)
            .map_or_else(file_origin, |o| Origin::Env { var: o.var.clone() });
        ConfigError::Invalid {
            origin,
            key,
            message: err.inner().message().to_owned(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

// Field validators: they run during deserialization, so a file error points at its line.

fn positive<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let value = T::deserialize(deserializer)?;
    if value == T::default() {
        return Err(de::Error::custom("must be greater than 0"));
    }
    Ok(value)
}

fn opt_positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    positive(deserializer).map(Some)
}

fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| de::Error::custom(format!("{url:?} is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(de::Error::custom(format!("{url:?} is not a valid URL")));
    }
    Ok(url)
}

fn opt_http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    http_url(deserializer).map(Some)
}

fn opt_non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(Some(text))
}

/// A Twilio SID: a two-letter prefix and 32 hex digits.
fn sid<'de, D: Deserializer<'de>>(
    deserializer: D,
    prefix: &str,
) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let valid = text
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(de::Error::custom(format!(
            "{text:?} is not {prefix} followed by 32 hex digits"
        )));
    }
    Ok(Some(text))
}

fn opt_account_sid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    sid(deserializer, "AC")
}

fn opt_messaging_service_sid<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    sid(deserializer, "MG")
}

fn region<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(de::Error::custom(format!(
            "{text:?} is not a two-letter region code like \"US\""
        )));
    }
    Ok(text)
}

fn team<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let team = BTreeMap::<String, TeamNumber>::deserialize(deserializer)?;
    if team.keys().any(|name| name.trim().is_empty()) {
        return Err(de::Error::custom("a team contact has an empty name"));
    }
    Ok(team
        .into_iter()
        .map(|(name, number)| (name, number.0))
        .collect())
}

/// A `[team]` value: any non-empty text (numbers are normalised when messages are sent).
struct TeamNumber(String);

impl<'de> Deserialize<'de> for TeamNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = String::deserialize(deserializer)?;
        if number.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Self(number))
    }
}

/// A setting value: strings as they are, integers, floats and booleans as their TOML text.
struct SettingValue(String);

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = SettingValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SettingValue, E> {
                Ok(SettingValue(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

fn settings<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, SettingValue>::deserialize(deserializer)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.0)).collect())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
