//! `ml-connector qad status` (per tenant: connection checked live, stored session, browses,
//! schedule, the last poll and cursor the poll driver saved, the next run) and
//! `qad poll --once [--dry-run]` (one cycle through the production poll driver: its events into
//! the store and its cursor saved; with `--dry-run`, the events it would submit and the cursor
//! it would save are printed and nothing is written).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::common::{load_config, open_store, vault};
use crate::config::Config;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::secrets::Vault;
use crate::sources::poll::{CycleOutcome, PollDriver, Poller as _};
use crate::sources::qad::browse::page_query;
use crate::sources::qad::client::QadClient;
use crate::sources::qad::config::{Every, QadConfig};
use crate::sources::qad::error::PollError;
use crate::sources::qad::password_secret;
use crate::sources::qad::poller::QadPoller;
use crate::sources::qad::records::RecordKind;
use crate::store::Lease;

/// QAD commands.
#[derive(Debug, Subcommand)]
pub enum QadCommand {
    /// Show each tenant: connection (checked now), session, browses and schedule.
    ///
    /// Exits non-zero when a tenant cannot be reached or is broken.
    Status {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Poll QAD now.
    Poll {
        /// One cycle, then exit (`serve` polls on each tenant's schedule).
        #[arg(long)]
        once: bool,
        /// Print the events the cycle would submit instead of storing them.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Start from this cursor (as printed by an earlier dry run) instead of a full scan.
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// Runs a `qad` command.
pub async fn run(config_path: Option<&std::path::Path>, cmd: QadCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    match cmd {
        QadCommand::Status { tenant, json } => status(&config, tenant.as_deref(), json).await,
        QadCommand::Poll { once, dry_run, tenant, cursor } => {
            if !once {
                bail!("continuous polling is `serve`'s job (on each tenant's schedule); use `qad poll --once`");
            }
            if dry_run {
                dry_run_poll(&config, tenant.as_deref(), cursor).await
            } else {
                if cursor.is_some() {
                    bail!("--cursor only goes with --dry-run: a real cycle starts from the saved cursor");
                }
                poll_once(&config, tenant.as_deref()).await
            }
        }
    }
}

fn tenants<'a>(config: &'a Config, only: Option<&str>) -> anyhow::Result<Vec<&'a QadConfig>> {
    let chosen: Vec<&QadConfig> = config.qad.iter().filter(|t| only.is_none_or(|n| n == t.name)).collect();
    if chosen.is_empty() {
        match only {
            Some(name) => bail!("no [[qad]] tenant is called {name:?}"),
            None => bail!("no [[qad]] tenant is configured"),
        }
    }
    Ok(chosen)
}

fn clients(config: &Config, only: Option<&str>, vault: &Vault) -> anyhow::Result<Vec<Arc<QadClient>>> {
    tenants(config, only)?.into_iter().map(|t| Ok(Arc::new(QadClient::new(t.clone(), vault.clone())?))).collect()
}

/// One cycle per tenant through the poll driver: the events stored, then the cursor saved.
async fn poll_once(config: &Config, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = open_store(config)?;
    let vault = vault(config, &store)?;
    let inbox = Inbox::start(store.clone(), 16, Arc::new(tokio::sync::Notify::new()));
    let lease = Lease::for_process(Duration::from_secs(config.store.lease_secs));
    for client in clients(config, only, &vault)? {
        let poller = Arc::new(QadPoller::new(client));
        let name = poller.name().to_owned();
        let driver = PollDriver::new(poller, inbox.clone(), store.clone(), lease.clone(), Arc::new(Metrics::default()));
        match driver.run_once().await.with_context(|| name.clone())? {
            CycleOutcome::Polled { found, stored } => println!("{name}: {found} event(s) found, {stored} new, stored; cursor saved"),
            CycleOutcome::Skipped => println!("{name}: skipped: another process is polling this tenant now"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dry_run_poll(config: &Config, only: Option<&str>, cursor: Option<String>) -> anyhow::Result<ExitCode> {
    let store = open_store(config)?;
    for client in clients(config, only, &vault(config, &store)?)? {
        let name = client.config().name.clone();
        let poller = QadPoller::new(client);
        let saved = match &cursor {
            Some(c) => Some(c.clone()),
            None => store.get_cursor(poller.name()).await?.map(|c| c.value),
        };
        let batch = poller.poll(saved).await.with_context(|| format!("tenant {name}"))?;
        for event in &batch.events {
            let data: Value = serde_json::from_str(&event.data)?;
            println!("{}", json!({"id": event.id, "kind": event.kind, "business_id": event.business_id, "data": data}));
        }
        eprintln!("tenant {name}: {} event(s) would be submitted; next cursor: {}", batch.events.len(), batch.cursor.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn schedule(t: &QadConfig) -> String {
    let every = match &t.schedule.every {
        Every::Interval(d) => format!("every {}", humantime::format_duration(*d)),
        Every::Cron(c) => format!("cron {c:?}"),
    };
    let hours = t.schedule.active_hours.map(|h| format!(", {}-{}", h.start.format("%H:%M"), h.end.format("%H:%M"))).unwrap_or_default();
    let zone = t.schedule.timezone.as_ref().map(|z| format!(" {}", z.as_str())).unwrap_or_default();
    format!("{every}, jitter {}{hours}{zone}, full rescan every {}", humantime::format_duration(t.schedule.jitter), humantime::format_duration(t.rescan_every))
}

/// One page of one row from each enabled browse: proves the session, the permissions and the field maps' browses.
async fn check(client: &QadClient) -> Result<(), PollError> {
    for kind in RecordKind::CYCLE {
        let browse = client.config().browse(kind);
        if browse.enabled {
            let query = page_query(&browse.id, &[], 1, 1, &client.config().first_page_action);
            client.get_json("api/qracore/browses", &query, &format!("browse {}", browse.id)).await?;
        }
    }
    Ok(())
}

async fn status(config: &Config, only: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut all_ok = true;
    let mut report = Vec::new();
    let store = open_store(config)?;
    let vault = vault(config, &store)?;
    for client in clients(config, only, &vault)? {
        let t = client.config();
        let password = vault.get(&password_secret(&t.name)).await?.is_some();
        let saved = store.get_cursor(&format!("{}:{}", crate::sources::qad::SOURCE, t.name)).await?;
        let last_poll = saved.as_ref().map(|c| c.updated_at.to_rfc3339());
        let next_run = saved.as_ref().and_then(|c| {
            let wait = t.schedule.next_wait(c.updated_at) - t.schedule.jitter;
            chrono::TimeDelta::from_std(wait).ok().map(|d| (c.updated_at + d).to_rfc3339())
        });
        let connection = match check(&client).await {
            Ok(()) => json!({"status": "connected"}),
            Err(PollError::Broken { reason }) => json!({"status": "broken", "reason": reason}),
            Err(PollError::Retryable { reason, .. }) => json!({"status": "unavailable", "reason": reason}),
        };
        all_ok &= connection["status"] == "connected";
        let session = client.session().stored().await?.map(|s| json!({"expires_at": s.expires_at.to_rfc3339(), "client_id": s.client_id}));
        let browses: Value = RecordKind::CYCLE
            .iter()
            .map(|k| {
                let b = t.browse(*k);
                (k.as_str().to_owned(), json!({"id": b.id, "enabled": b.enabled, "incremental_by": b.fields.get("modified")}))
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        report.push(json!({
            "tenant": t.name, "base_url": t.base_url, "username": t.username, "password_stored": password,
            "workspace": t.workspace, "connection": connection, "session": session, "browses": browses,
            "schedule": schedule(t), "last_poll": last_poll, "cursor": saved.map(|c| c.value), "next_run": next_run,
        }));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for r in &report {
            println!("QAD tenant {} ({} as {})", r["tenant"].as_str().unwrap_or_default(), r["base_url"].as_str().unwrap_or_default(), r["username"].as_str().unwrap_or_default());
            let c = &r["connection"];
            match c["reason"].as_str() {
                Some(reason) => println!("  connection: {}: {reason}", c["status"].as_str().unwrap_or_default().to_uppercase()),
                None => println!("  connection: connected"),
            }
            if r["password_stored"] == false {
                println!("  password: not stored (ml-connector secrets set {})", password_secret(r["tenant"].as_str().unwrap_or_default()));
            }
            match r["session"]["expires_at"].as_str() {
                Some(at) => println!("  session: token stored, sealed; expires {at}"),
                None => println!("  session: none stored"),
            }
            for (kind, b) in r["browses"].as_object().into_iter().flatten() {
                let incremental = b["incremental_by"].as_str().map_or("full reads only".to_owned(), |f| format!("incremental by {f}"));
                let state = if b["enabled"] == true { "" } else { " (disabled)" };
                println!("  {kind}: {}{state}, {incremental}", b["id"].as_str().unwrap_or_default());
            }
            println!("  schedule: {}", r["schedule"].as_str().unwrap_or_default());
            match r["last_poll"].as_str() {
                Some(at) => {
                    println!("  last poll: {at} (cursor saved)");
                    println!("  next run: about {} (serve adds up to the jitter)", r["next_run"].as_str().unwrap_or("unknown"));
                    println!("  cursor: {}", r["cursor"].as_str().unwrap_or_default());
                }
                None => println!("  last poll: none yet (serve polls on the schedule; `qad poll --once` polls now)"),
            }
        }
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
