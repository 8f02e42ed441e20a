//! Operator configuration: a TOML file (default `ml-connector.toml`) with every scalar key
//! overridable by an `ML_CONNECTOR_<SECTION>_<KEY>` environment variable.
//!
//! Unknown keys are errors, and every error names where the value came from (file and line, or
//! environment variable), the dotted key, and the reason. Relative paths are relative to the
//! working directory, not to the file. Secrets never live here: they are sealed in the store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::timezone::Timezone;
pub use variables::check_variable_names;

mod fields;
mod sections;
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
    /// `[installed_plugins]`: what plugins installed with `plugin install` may address when no
    /// `[[plugins]]` entry configures them.
    pub installed_plugins: InstalledPluginsConfig,
    /// `[[plugins]]`: plugins to configure, disable (`enabled = false`) or add (`path`). Every
    /// built-in runs with default limits unless an entry disables it or `[builtin_plugins]
    /// enabled = false`; see [`crate::plugin_plan`].
    pub plugins: Vec<PluginConfig>,
    /// `[[qad]]`: QAD tenants polled for supplier invoices, purchase orders and goods receipts.
    pub qad: Vec<crate::sources::qad::config::QadConfig>,
    /// `[console]`: the web console (on by default only when listening on loopback).
    pub console: crate::console::ConsoleConfig,
}

pub use sections::*;
use fields::*;

/// The type of an overridable key, which decides how its variable is read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
}

/// Every scalar key, as `(section, key, kind)`. `[team]`, `[[plugins]]` and the
/// `[installed_plugins] allow_to` list have no overrides.
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("server", "listen", Kind::Text),
    ("server", "public_url", Kind::Text),
    ("server", "max_body_bytes", Kind::Integer),
    ("server", "request_timeout_ms", Kind::Integer),
    ("server", "max_header_bytes", Kind::Integer),
    ("server", "ingest_queue", Kind::Integer),
    ("store", "path", Kind::Text),
    ("store", "url", Kind::Text),
    ("store", "cache_dir", Kind::Text),
    ("store", "lease_secs", Kind::Integer),
    ("store", "run_retention_days", Kind::Integer),
    ("store", "max_size_mib", Kind::Integer),
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
    ("twilio", "call_callback_wait_ms", Kind::Integer),
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
