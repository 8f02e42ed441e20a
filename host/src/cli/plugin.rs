//! `ml-connector plugin run|list|inspect`: the SDK harness on the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;

use crate::harness::{self, Harness, HarnessError};
use crate::plugin_plan::{self, PlannedSource};
use crate::runtime::Limits;

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run a plugin against an event and print its actions as JSON.
    Run {
        /// A default plugin's name or a path to a `.wasm` component.
        plugin: String,
        /// A Wave webhook body exactly as Wave sends it, or an event in the host's form
        /// (`{"id","source","kind","business_id","received_at","data"}`), e.g. a Twilio reply.
        #[arg(long, value_name = "EVENT.json")]
        event: PathBuf,
        /// The context the host would have looked up (customer, invoice, now, settings, reply).
        #[arg(long, value_name = "CONTEXT.json")]
        context: Option<PathBuf>,
        /// A plugin setting, as in `[plugins.settings]` (repeatable).
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        /// CPU deadline for the call.
        #[arg(long, default_value_t = 50)]
        deadline_ms: u64,
        /// Memory cap for the call.
        #[arg(long, default_value_t = 16)]
        memory_mib: usize,
    },
    /// List the plugins the configuration would load (and those it leaves out), why, and what
    /// each subscribes to.
    List,
    /// Print a plugin's manifest and the WIT version it was built for as JSON.
    Inspect {
        /// A default plugin's name or a path to a `.wasm` component.
        plugin: String,
    },
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Runs a plugin command; `list` reads the configuration at `config_path`.
pub fn run(config_path: Option<&Path>, cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    let harness = Harness::new()?;
    match cmd {
        PluginCommand::Run { plugin, event, context, settings, deadline_ms, memory_mib } => {
            let limits = Limits { deadline: Duration::from_millis(deadline_ms), memory_bytes: memory_mib << 20 };
            let settings: BTreeMap<_, _> = settings.into_iter().collect();
            let plugin = harness.load(&plugin, limits, settings)?;
            let body = harness::read(&event)?;
            let context = context.map(|path| harness::read(&path).and_then(|json| harness::parse_context(&json))).transpose()?;
            match harness.run(&plugin, &body, context.as_ref()) {
                Ok(inv) => {
                    let json = serde_json::to_string_pretty(&harness::actions_json(&inv.actions))?;
                    println!("{json}");
                    eprintln!(
                        "{}: {} action(s) in {:.2} ms of {} ms; memory peak {:.2} MiB of {} MiB",
                        plugin.name(),
                        inv.actions.len(),
                        inv.elapsed.as_secs_f64() * 1e3,
                        deadline_ms,
                        inv.memory_peak as f64 / (1 << 20) as f64,
                        memory_mib,
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(HarnessError::Plugin(e)) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        PluginCommand::List => {
            let config = super::common::load_config(config_path)?;
            for planned in plugin_plan::plan(&config)? {
                if !planned.enabled {
                    println!("{:<18} not loaded: {}", planned.name, planned.why);
                    continue;
                }
                let plugin = match &planned.source {
                    PlannedSource::Builtin(b) => harness.load(b.name, planned.limits, planned.settings.clone())?,
                    PlannedSource::File(path) => harness
                        .load(&path.display().to_string(), planned.limits, planned.settings.clone())
                        .with_context(|| format!("{}: `{}.path`", config.file.display(), planned.key.as_deref().unwrap_or("plugins")))?,
                };
                let m = plugin.manifest();
                println!("{:<18} {:<8} wit {:<6} {}", m.name, m.version, plugin.contract_version(), m.subscribes.join(", "));
                println!("{:<18} {:<8} {:<10} {}", "", "", "", m.description);
                println!("{:<18} {:<8} {:<10} loaded: {}", "", "", "", planned.why);
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Inspect { plugin } => {
            let plugin = harness.load(&plugin, Limits::default(), BTreeMap::new()).context("cannot load the plugin")?;
            let mut json = serde_json::to_value(plugin.manifest())?;
            json["wit"] = plugin.contract_version().into();
            println!("{}", serde_json::to_string_pretty(&json)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
