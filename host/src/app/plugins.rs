//! Which plugins run, loaded, each one loaded or left out logged with the reason: the
//! configuration's ([`plugin_plan::plan`]: every built-in unless switched off, plus `.wasm`
//! files listed in `[[plugins]]`) as the base, then the store's entries on top (`plugin
//! install|upgrade|rollback|enable|disable`): an installed version replaces the configured
//! plugin of the same name (keeping its limits and settings) or adds one, and a disabled entry
//! leaves the plugin out. Each plugin carries its grants (what it may address): the planned
//! ones, kept by an installed version that replaces a configured plugin; `[installed_plugins]
//! allow_to` for one the configuration does not name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;


use crate::config::{Config, ConfigError};
use crate::dispatch::dispatcher::Dispatcher;
use crate::model::grants::Grants;
use crate::plugin_plan::{self, PlannedSource};
use crate::runtime::{Limits, LoadError, Plugin, Runtime, RuntimeOptions};
use crate::store::{InstalledPlugin, Result as StoreResult, Store};

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

/// A store entry with its stored wasm, when it has a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The entry.
    pub entry: InstalledPlugin,
    /// Its version's wasm.
    pub wasm: Option<Vec<u8>>,
}

/// The store's plugin entries with their wasm.
pub async fn installed(store: &dyn Store) -> StoreResult<Vec<Installed>> {
    let mut all = Vec::new();
    for entry in store.list_installed_plugins().await? {
        let wasm = match &entry.digest {
            Some(digest) => store.get_plugin_wasm(digest).await?,
            None => None,
        };
        all.push(Installed { entry, wasm });
    }
    Ok(all)
}

/// [`load`] on the blocking pool: compiling and describing plugins is blocking work, and WASI's
/// blocking calls may not run on an async worker.
pub async fn load_blocking(config: &Config, installed: Vec<Installed>) -> Result<Vec<Plugin>, PluginsError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || load(&config, &installed)).await.map_err(|e| PluginsError::Task(e.to_string()))?
}

/// The plugins the configuration and the store's entries run, loaded.
pub fn load(config: &Config, installed: &[Installed]) -> Result<Vec<Plugin>, PluginsError> {
    let runtime = Runtime::new(&RuntimeOptions { cache_dir: Some(config.store.resolved_cache_dir()), ..RuntimeOptions::default() })?;
    let mut entries: BTreeMap<&str, &Installed> = installed.iter().map(|i| (i.entry.name.as_str(), i)).collect();
    let mut plugins = Vec::new();
    for planned in plugin_plan::plan(config)? {
        if !planned.enabled {
            tracing::info!(plugin = %planned.name, why = %planned.why, "Plugin not loaded.");
            continue;
        }
        let at = || format!("{}: `{}.path`", config.file.display(), planned.key.as_deref().unwrap_or("plugins"));
        let mut plugin = match &planned.source {
            PlannedSource::Builtin(b) => runtime.load(b.name, b.wasm, planned.limits, planned.settings.clone())?,
            PlannedSource::File(path) => {
                let wasm = std::fs::read(path).map_err(|cause| PluginsError::Read { at: at(), path: path.display().to_string(), cause })?;
                runtime.load(&planned.name, &wasm, planned.limits, planned.settings.clone()).map_err(|cause| PluginsError::Listed { at: at(), cause })?
            }
        };
        let mut why = planned.why.clone();
        if let Some(installed) = entries.remove(plugin.name()) {
            if !installed.entry.enabled {
                tracing::info!(plugin = plugin.name(), why = "disabled by `plugin disable`", "Plugin not loaded.");
                continue;
            }
            if let Some(wasm) = &installed.wasm {
                plugin = runtime.load(plugin.name(), wasm, planned.limits, planned.settings.clone())?.renamed(&installed.entry.name);
                why = format!("{why}; the installed version {} replaces it", short(plugin.digest()));
            }
        }
        if planned.default_grants && matches!(planned.source, PlannedSource::File(_)) {
            let at = format!("{}: `{}`", config.file.display(), planned.key.as_deref().unwrap_or("plugins"));
            tracing::warn!(plugin = plugin.name(), at = %at, "Plugin may address only the customer: its [[plugins]] entry sets no allow_to.");
        }
        tracing::info!(plugin = plugin.name(), why = %why, subscribes = %plugin.manifest().subscribes.join(","), allow_to = %planned.grants, "Plugin loaded.");
        plugins.push(plugin.with_grants(planned.grants));
    }
    let installed_grants = Grants::new(config.installed_plugins.allow_to.iter().cloned(), &config.twilio.default_region);
    for installed in entries.into_values() {
        match (&installed.wasm, installed.entry.enabled) {
            (Some(wasm), true) => {
                let plugin = runtime.load(&installed.entry.name, wasm, Limits::default(), BTreeMap::new())?.renamed(&installed.entry.name);
                let why = format!("installed with `plugin install`, version {}", short(plugin.digest()));
                tracing::info!(plugin = plugin.name(), why = %why, subscribes = %plugin.manifest().subscribes.join(","), allow_to = %installed_grants, "Plugin loaded.");
                plugins.push(plugin.with_grants(installed_grants.clone()));
            }
            (Some(_), false) => tracing::info!(plugin = %installed.entry.name, why = "installed, disabled by `plugin disable`", "Plugin not loaded."),
            (None, _) => {}
        }
    }
    Ok(plugins)
}

/// The first 12 hex digits of a version hash, for messages.
pub fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// How often a running service looks for changed plugin entries in the store.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Keeps `dispatcher`'s plugins in step with the store's entries: every [`WATCH_EVERY`] it reads
/// them (without their wasm) and, when they differ from `seen`, loads the new set and swaps it in (events being
/// dispatched finish on the set they started with). A set that fails to load is logged and the
/// running one kept.
pub fn watch(
    config: Arc<Config>,
    store: Arc<dyn Store>,
    dispatcher: Arc<Dispatcher>,
    loaded: Arc<AtomicUsize>,
    mut seen: Vec<Installed>,
) -> crate::sources::Task {
    Box::new(move |mut stop| {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.changed() => return,
                }
                let now = match store.list_installed_plugins().await {
                    Ok(entries) if entries.iter().ne(seen.iter().map(|i| &i.entry)) => installed(&*store).await,
                    Ok(_) => continue,
                    Err(e) => Err(e),
                };
                let now = match now {
                    Ok(now) => now,
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not read the installed plugins; keeping the running ones.");
                        continue;
                    }
                };
                match load_blocking(&config, now.clone()).await {
                    Ok(plugins) => {
                        tracing::info!(plugins = plugins.len(), "Plugins changed in the store; the next events run on the new set.");
                        loaded.store(plugins.len(), Ordering::Relaxed);
                        dispatcher.replace_plugins(Arc::new(plugins));
                    }
                    Err(e) => tracing::error!(error = %e, "The plugins installed in the store do not load; keeping the running ones."),
                }
                seen = now;
            }
        })
    })
}
