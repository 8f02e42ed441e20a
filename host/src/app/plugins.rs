//! Which plugins the configuration loads: every built-in when `[[plugins]]` is empty, else the
//! listed ones that are enabled (built-ins by name, `.wasm` files by path).

use std::path::PathBuf;
use std::time::Duration;

use crate::builtin;
use crate::config::{Config, PluginSource};
use crate::runtime::{Limits, LoadError, Plugin, Runtime, RuntimeOptions};

/// Why the configured plugins could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    /// A `[[plugins]] name` is not a built-in.
    #[error("[[plugins]] name = {name:?} is not a built-in plugin (known: {known})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The built-ins, comma separated.
        known: String,
    },
    /// A `[[plugins]] path` cannot be read.
    #[error("cannot read plugin {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
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

/// The configured plugins (all built-ins when none are configured), enabled ones only.
pub fn load(config: &Config) -> Result<Vec<Plugin>, PluginsError> {
    let runtime = Runtime::new(&RuntimeOptions { cache_dir: Some(config.store.resolved_cache_dir()), ..RuntimeOptions::default() })?;
    let mut plugins = Vec::new();
    if config.plugins.is_empty() {
        for b in builtin::all() {
            plugins.push(runtime.load(b.name, b.wasm, Limits::default(), Default::default())?);
        }
    }
    for entry in config.plugins.iter().filter(|p| p.enabled) {
        let limits = Limits { deadline: Duration::from_millis(entry.deadline_ms), memory_bytes: (entry.memory_mib as usize) << 20 };
        let plugin = match &entry.source {
            PluginSource::Builtin(name) => {
                let b = builtin::find(name).ok_or_else(|| PluginsError::UnknownBuiltin {
                    name: name.clone(),
                    known: builtin::all().iter().map(|b| b.name).collect::<Vec<_>>().join(", "),
                })?;
                runtime.load(b.name, b.wasm, limits, entry.settings.clone())?
            }
            PluginSource::File(path) => {
                let wasm = std::fs::read(path).map_err(|cause| PluginsError::Read { path: path.clone(), cause })?;
                runtime.load(&path.display().to_string(), &wasm, limits, entry.settings.clone())?
            }
        };
        plugins.push(plugin);
    }
    for p in &plugins {
        tracing::info!(plugin = p.name(), subscribes = %p.manifest().subscribes.join(","), "Plugin loaded.");
    }
    Ok(plugins)
}
