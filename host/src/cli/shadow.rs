//! `ml-connector plugin shadow NEW.wasm --against NAME`: runs a new version of a plugin on the
//! events and contexts the live version saw (recorded with each dispatch) and prints, per event
//! whose decision differs, the added, removed and changed actions, then a summary. Sends
//! nothing and changes nothing the pipeline reads; it only keeps its summary as the plugin's last
//! shadow result (for the console). Exits 0 when every decision is the same and 1 when one differs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Args;

use super::common::{load_config, open_store};
use crate::dispatch::{check_bodies, check_grants, plugin_event};
use crate::harness::Harness;
use crate::harness::shadow::{self, Decision, Difference};
use crate::model::grants::Grants;
use crate::model::{Action, Context};
use crate::plugin_plan::{self, PlannedSource};
use crate::runtime::{Limits, Plugin};
use crate::store::{RunFilter, ShadowResult, StoredRun};

/// `plugin shadow`'s arguments.
#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// The new version: a path to a `.wasm` component (or a default plugin's name).
    pub new: String,
    /// The live plugin whose recorded runs it is compared with.
    #[arg(long)]
    pub against: String,
    /// The most recent N events the live plugin ran on (default 1000).
    #[arg(long, conflicts_with = "since")]
    pub last: Option<usize>,
    /// The events the live plugin ran on since this time (RFC 3339).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Only events of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Print the differences and the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `plugin shadow` (on the blocking pool: it runs plugins).
pub async fn run(config_path: Option<&Path>, args: ShadowArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let store = open_store(&config)?;
    let filter = RunFilter { plugin: args.against.clone(), kind: args.kind.clone(), since: args.since, limit: args.last.unwrap_or(if args.since.is_some() { usize::MAX } else { 1000 }) };
    let runs = store.list_runs(&filter).await?;
    let mut events = Vec::with_capacity(runs.len());
    for run in &runs {
        let stored = store.get_event(&run.event_id).await?.with_context(|| format!("event {} of a recorded run is gone", run.event_id))?;
        events.push(plugin_event(&stored));
    }
    let config_path = config_path.map(Path::to_path_buf);
    let (plugin, candidate) = (args.against.clone(), args.new.clone());
    let compared = tokio::task::spawn_blocking(move || compare_all(config_path, args, runs, events)).await??;
    let result = ShadowResult { plugin, candidate, digest: compared.digest, events: compared.events, different: compared.different, ran_at: Utc::now() };
    store.record_shadow(&result).await.context("cannot keep the shadow result")?;
    Ok(if result.different == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What one shadow run compared.
struct Compared {
    /// The candidate's SHA-256.
    digest: String,
    /// Events compared.
    events: u64,
    /// Events decided differently.
    different: u64,
}

fn compare_all(config_path: Option<PathBuf>, args: ShadowArgs, runs: Vec<StoredRun>, events: Vec<crate::model::Event>) -> anyhow::Result<Compared> {
    let config = load_config(config_path.as_deref())?;
    let harness = Harness::new()?;
    let (limits, settings, grants) = live_settings(&config, &harness, &args.against)?;
    let new = harness.load(&args.new, limits, settings).with_context(|| format!("cannot load {}", args.new))?.with_grants(grants);
    let mut differences = Vec::new();
    for (run, event) in runs.iter().zip(&events) {
        let context: Context = serde_json::from_str(&run.context).with_context(|| format!("the recorded context of event {} does not parse", run.event_id))?;
        let live: Decision = run
            .outcome
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|json| serde_json::from_str::<Vec<Action>>(json).map_err(|e| format!("recorded actions do not parse: {e}")));
        let decided = decide(&new, event, &context);
        differences.extend(shadow::compare(&run.event_id, &run.kind, &live, &decided));
    }
    let summary = format!(
        "{} of {} event(s) decided differently by {} ({}) than by {}",
        differences.len(),
        runs.len(),
        args.new,
        &new.digest()[..12],
        args.against
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "differences": differences, "events": runs.len(), "different": differences.len() }))?);
    } else {
        for d in &differences {
            print_difference(d);
        }
        println!("{summary}");
    }
    if runs.is_empty() {
        eprintln!("note: no recorded runs of {} match; nothing was compared", args.against);
    }
    Ok(Compared { digest: new.digest().to_owned(), events: runs.len() as u64, different: differences.len() as u64 })
}

/// The live plugin's limits, settings and grants from the configuration, so the new version runs
/// as the live one would; the defaults (and `[installed_plugins] allow_to`) when the
/// configuration does not run a plugin of that name.
fn live_settings(config: &crate::config::Config, harness: &Harness, name: &str) -> anyhow::Result<(Limits, std::collections::BTreeMap<String, String>, Grants)> {
    for planned in plugin_plan::plan(config)?.into_iter().filter(|p| p.enabled) {
        let manifest_name = match &planned.source {
            PlannedSource::Builtin(b) => b.name.to_owned(),
            PlannedSource::File(path) => harness.load(&path.display().to_string(), planned.limits, planned.settings.clone())?.name().to_owned(),
        };
        if manifest_name == name {
            return Ok((planned.limits, planned.settings, planned.grants));
        }
    }
    let installed = Grants::new(config.installed_plugins.allow_to.iter().cloned(), &config.twilio.default_region);
    Ok((Limits::default(), Default::default(), installed))
}

/// What `plugin` decides on `event`, as the dispatcher would keep it (bodies the Twilio sink
/// would refuse, and recipients its grants do not permit, fail the plugin).
fn decide(plugin: &Plugin, event: &crate::model::Event, context: &Context) -> Decision {
    plugin
        .handle(event, context)
        .map_err(|e| e.cause)
        .and_then(|invocation| check_bodies(invocation.actions, crate::sinks::twilio::sink::check_body))
        .and_then(|actions| check_grants(actions, plugin.grants()))
        .map_err(|cause| cause.to_string())
}

fn print_difference(d: &Difference) {
    println!("event {} ({})", d.event_id, d.kind);
    if d.live_failure != d.new_failure {
        if let Some(e) = &d.live_failure {
            println!("  live failed: {e}");
        }
        if let Some(e) = &d.new_failure {
            println!("  new fails:   {e}");
        }
    }
    for a in &d.added {
        println!("  + {}", one_line(a));
    }
    for a in &d.removed {
        println!("  - {}", one_line(a));
    }
    for c in &d.changed {
        println!("  ~ {}", one_line(&c.new));
        match &c.body_diff {
            Some(diff) => println!("      body: {diff}"),
            None => println!("      was:  {}", one_line(&c.live)),
        }
    }
}

fn one_line(action: &Action) -> String {
    serde_json::to_string(action).unwrap_or_default()
}
