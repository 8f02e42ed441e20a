//! `plugin install|upgrade|rollback|enable|disable`: plugins changed in the store, which every
//! running `serve` on it picks up within seconds (no restart). The wasm is kept in the store by
//! its SHA-256, so every replica runs the same bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::common::{load_config, open_store};
use super::plugin::PluginCommand;
use crate::app::plugins::short;
use crate::builtin;
use crate::config::Config;
use crate::model::grants::Grants;
use crate::plugin_plan;
use crate::runtime::{Limits, Runtime, RuntimeOptions};
use crate::store::InstalledPlugin;

/// Runs a lifecycle command; any other plugin command is refused.
pub async fn run(config_path: Option<&Path>, cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let store = open_store(&config)?;
    let installs = matches!(cmd, PluginCommand::Install { .. } | PluginCommand::Upgrade { .. });
    let entry = match cmd {
        PluginCommand::Install { path, name } => {
            let (manifest_name, digest, wasm) = check(&path).await?;
            let name = match name {
                Some(name) => valid_name(name)?,
                None => manifest_name,
            };
            store.put_plugin_wasm(&digest, wasm).await?;
            store.install_plugin(&name, &digest).await?
        }
        PluginCommand::Upgrade { name, path } => {
            let (manifest_name, digest, wasm) = check(&path).await?;
            // A plugin installed under another name (`install --name`) takes any manifest name.
            let renamed = store.list_installed_plugins().await?.iter().any(|e| e.name == name && e.digest.is_some());
            if manifest_name != name && !renamed {
                bail!("{path} is the plugin {manifest_name}, not {name} (install it under another name with `plugin install {path} --name {name}`)");
            }
            store.put_plugin_wasm(&digest, wasm).await?;
            store.install_plugin(&name, &digest).await?
        }
        PluginCommand::Rollback { name } => match store.rollback_plugin(&name).await? {
            Some(entry) => entry,
            None => bail!("{name} has no earlier installed version to roll back to (`plugin disable {name}` stops it)"),
        },
        PluginCommand::Enable { name } => store.set_plugin_enabled(&name, true).await?,
        PluginCommand::Disable { name } => store.set_plugin_enabled(&name, false).await?,
        other => bail!("not a lifecycle command: {other:?}"),
    };
    println!("{}", describe(&entry));
    if entry.digest.is_none() && builtin::find(&entry.name).is_none() {
        eprintln!("note: {} is not a built-in; the switch applies to a [[plugins]] file or an installed plugin of that name", entry.name);
    }
    if installs {
        eprintln!("note: {}", grants_note(&config, &entry.name)?);
    }
    println!("A running serve on this store switches within seconds; events already being dispatched finish on the version they started with.");
    Ok(ExitCode::SUCCESS)
}

/// Loads `path` as the sandbox would (refusing what would not run) and returns its manifest
/// name, its SHA-256 and its bytes.
async fn check(path: &str) -> anyhow::Result<(String, String, Vec<u8>)> {
    let wasm = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let (label, bytes) = (path.to_owned(), wasm.clone());
    let plugin = tokio::task::spawn_blocking(move || Runtime::new(&RuntimeOptions::default())?.load(&label, &bytes, Limits::default(), BTreeMap::new()))
        .await?
        .with_context(|| format!("{path} would not run"))?;
    Ok((plugin.name().to_owned(), plugin.digest().to_owned(), wasm))
}

/// A name given with `--name`: what a manifest name may be (letters, digits, `-`, `_`, `.`), so
/// it reads the same in logs, the console and `[[plugins]]`.
fn valid_name(name: String) -> anyhow::Result<String> {
    let fits = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !fits {
        bail!("--name {name:?}: use 1 to 64 letters, digits, `-`, `_` or `.`");
    }
    Ok(name)
}

/// What an installed `name` may address: a built-in's grants as configured, else
/// `[installed_plugins] allow_to`.
fn grants_note(config: &Config, name: &str) -> anyhow::Result<String> {
    if let Some(planned) = plugin_plan::plan(config)?.into_iter().find(|p| p.name == name) {
        return Ok(format!("{name} may address {} (the built-in's allow_to, which an installed version keeps)", planned.grants));
    }
    let grants = Grants::new(config.installed_plugins.allow_to.iter().cloned(), &config.twilio.default_region);
    Ok(format!(
        "{name} may address {grants} ([installed_plugins] allow_to), unless a [[plugins]] path entry of that name grants it its own allow_to; \
         a message to anything else fails the plugin for its event"
    ))
}

fn describe(entry: &InstalledPlugin) -> String {
    let state = if entry.enabled { "enabled" } else { "disabled" };
    match (&entry.digest, &entry.previous) {
        (Some(d), Some(p)) => format!("{}: version {} {state} (previous version {}, for `plugin rollback`)", entry.name, short(d), short(p)),
        (Some(d), None) => format!("{}: version {} {state}", entry.name, short(d)),
        (None, _) => format!("{}: {state} (the configured or built-in version)", entry.name),
    }
}
