//! `ml-connector plugin run|test|new|list|inspect`: the SDK harness and the
//! plugin author's toolkit on the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;

use crate::harness::{self, Harness, HarnessError, cases};
use crate::plugin_plan::{self, PlannedSource};
use crate::runtime::Limits;
use crate::scaffold::{self, Lang};

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
    /// Run a plugin on every case folder (event.json, context.json, expected.json or error.txt)
    /// and show a diff for each mismatch; exits 1 if any case fails.
    Test {
        /// A path to a `.wasm` component, or a default plugin's name.
        plugin: String,
        /// A folder of case folders (or one case folder).
        #[arg(default_value = "cases")]
        cases: PathBuf,
        /// Run the cases whose `plugin` file names this plugin (default: the plugin's own name).
        #[arg(long, value_name = "NAME")]
        cases_for: Option<String>,
    },
    /// Create a new plugin that builds and has one passing test case.
    New {
        /// The plugin's name: lowercase letters, digits and dashes.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `sdk/` folder of the ml-connector checkout to depend on
        /// (default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// List the plugins the configuration would load (and those it leaves out), why, and what
    /// each subscribes to.
    List,
    /// Run a new version of a plugin on the events and contexts the live version saw, and show
    /// where it decides differently; exits 1 if any decision differs. Sends and writes nothing.
    Shadow(super::shadow::ShadowArgs),
    /// Install a plugin into the store (under its manifest name, or `--name`); a running `serve`
    /// picks it up within seconds.
    Install {
        /// The `.wasm` component.
        path: String,
        /// The name it runs under (its manifest's by default): the same component can be
        /// installed twice under two names, or replace a built-in of another name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Install a new version of an installed or configured plugin; the version it replaces is
    /// kept for `plugin rollback`.
    Upgrade {
        /// The plugin's name.
        name: String,
        /// The new version's `.wasm` component (its manifest must carry the same name, unless the
        /// plugin was installed with `--name`).
        path: String,
    },
    /// Go back to the version the last install, upgrade or rollback replaced.
    Rollback {
        /// The plugin's name.
        name: String,
    },
    /// Run a plugin again that `plugin disable` stopped.
    Enable {
        /// The plugin's name.
        name: String,
    },
    /// Stop running a plugin (installed, configured or built-in) without a restart.
    Disable {
        /// The plugin's name.
        name: String,
    },
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
        PluginCommand::New { name, lang, dir, sdk } => new(&name, lang, dir, sdk),
        PluginCommand::Test { plugin, cases, cases_for } => test(&harness, &plugin, &cases, cases_for.as_deref()),
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
                let default = if planned.default_grants { " (default)" } else { "" };
                println!("{:<18} {:<8} {:<10} allow_to = {}{default}", "", "", "", planned.grants);
            }
            Ok(ExitCode::SUCCESS)
        }
        // These read or write the store, so they run from the async command loop.
        PluginCommand::Shadow(_)
        | PluginCommand::Install { .. }
        | PluginCommand::Upgrade { .. }
        | PluginCommand::Rollback { .. }
        | PluginCommand::Enable { .. }
        | PluginCommand::Disable { .. } => anyhow::bail!("this plugin command is run by the async command loop"),
        PluginCommand::Inspect { plugin } => {
            let plugin = harness.load(&plugin, Limits::default(), BTreeMap::new()).context("cannot load the plugin")?;
            let mut json = serde_json::to_value(plugin.manifest())?;
            json["wit"] = plugin.contract_version().into();
            println!("{}", serde_json::to_string_pretty(&json)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `plugin test`: one line per case, a diff or the failure under each one
/// that fails, and a summary; exit 1 if any fails or none is for the plugin.
fn test(harness: &Harness, plugin: &str, dir: &Path, cases_for: Option<&str>) -> anyhow::Result<ExitCode> {
    let plugin = harness.load(plugin, Limits::default(), BTreeMap::new())?;
    let name = cases_for.unwrap_or(plugin.name());
    let (mine, skipped) = cases::select(cases::find(dir)?, name);
    let mut failed = 0;
    for case in &mine {
        let outcome = cases::run(&plugin, case);
        if outcome.passed() {
            println!("PASS {}", case.name);
        } else {
            failed += 1;
            println!("FAIL {}: {outcome}", case.name);
        }
    }
    let skipped = match skipped {
        0 => String::new(),
        n => format!("; {n} case(s) for other plugins skipped"),
    };
    println!("{} passed, {failed} failed{skipped}", mine.len() - failed);
    if mine.is_empty() {
        eprintln!("error: no cases for {name} in {}", dir.display());
    }
    Ok(if failed == 0 && !mine.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `plugin new`: writes the plugin and says what to run next.
fn new(name: &str, lang: Lang, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let sdk = sdk
        .or_else(scaffold::default_sdk)
        .context("this binary's checkout has no sdk/ folder any more: pass --sdk with the sdk/ folder of an ml-connector checkout")?;
    let files = scaffold::create(name, lang, &dir, &sdk)?;
    println!("Created {} ({} files), depending on the SDK in {}:", dir.display(), files.len(), sdk.display());
    for file in &files {
        println!("  {}", file.display());
    }
    let d = dir.display();
    match lang {
        Lang::Rust => println!(
            "Next:\n  cd {d}\n  cargo test\n  cargo build --release --target wasm32-wasip2\n  ml-connector plugin test target/wasm32-wasip2/release/{}.wasm cases",
            name.replace('-', "_")
        ),
        Lang::Js => println!("Next:\n  cd {d}\n  npm install\n  npm run build\n  ml-connector plugin test {name}.wasm cases"),
    }
    Ok(ExitCode::SUCCESS)
}
