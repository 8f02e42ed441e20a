//! Which plugins the configuration loads ([`plugin_plan::plan`]: every built-in unless switched
//! off, plus `.wasm` files listed in `[[plugins]]`), loaded, each one loaded or left out logged
//! with the reason.

use crate::config::{Config, ConfigError};
use crate::plugin_plan::{self, PlannedSource};
use crate::runtime::{LoadError, Plugin, Runtime, RuntimeOptions};

/// Why the configured plugins could not be loaded. Errors about a listed plugin name the config
/// file and key.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    /// The `[[plugins]]` list is wrong (e.g. an unknown built-in).
    #[error(transparent)]
    Plan(#[from] ConfigError),
    /// A `[[plugins]] path` cannot be read.
    #[error("{at}: cannot read plugin {path}: {cause}")]
    Read {
        /// The config file and key that listed it.
        at: String,
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A listed component failed to load.
    #[error("{at}: {cause}")]
    Listed {
        /// The config file and key that listed it.
        at: String,
        /// Why.
        cause: LoadError,
    },
    /// A component failed to load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The loading task failed.
    #[error("loading the plugins failed: {0}")]
    Task(String),
}

/// [`load`] on the blocking pool: compiling and describing plugins is blocking work, and WASI's
/// blocking calls may not run on an async worker.
pub async fn load_blocking(config: &Config) -> Result<Vec<Plugin>, PluginsError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || load(&config)).await.map_err(|e| PluginsError::Task(e.to_string()))?
}

/// The plugins the configuration runs, loaded.
pub fn load(config: &Config) -> Result<Vec<Plugin>, PluginsError> {
    let runtime = Runtime::new(&RuntimeOptions { cache_dir: Some(config.store.resolved_cache_dir()), ..RuntimeOptions::default() })?;
    let mut plugins = Vec::new();
    for planned in plugin_plan::plan(config)? {
        if !planned.enabled {
            tracing::info!(plugin = %planned.name, why = %planned.why, "Plugin not loaded.");
            continue;
        }
        let at = || format!("{}: `{}.path`", config.file.display(), planned.key.as_deref().unwrap_or("plugins"));
        let plugin = match &planned.source {
            PlannedSource::Builtin(b) => runtime.load(b.name, b.wasm, planned.limits, planned.settings.clone())?,
            PlannedSource::File(path) => {
                let wasm = std::fs::read(path).map_err(|cause| PluginsError::Read { at: at(), path: path.display().to_string(), cause })?;
                runtime.load(&planned.name, &wasm, planned.limits, planned.settings.clone()).map_err(|cause| PluginsError::Listed { at: at(), cause })?
            }
        };
        tracing::info!(plugin = plugin.name(), why = %planned.why, subscribes = %plugin.manifest().subscribes.join(","), "Plugin loaded.");
        plugins.push(plugin);
    }
    Ok(plugins)
}
