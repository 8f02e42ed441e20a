//! `ml-connector qad status` (per tenant: connection checked live, stored
//! session, browses, schedule) and `qad poll --once --dry-run` (one cycle,
//! printing the events it would submit and the cursor it would store). The
//! non-dry-run poll, and the last poll, cursor and next run in `status`,
//! belong to the poll driver, which is not merged yet; both say so.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::common::{load_config, open_store, require_master_key};
use crate::config::Config;
use crate::sources::qad::browse::page_query;
use crate::sources::qad::client::QadClient;
use crate::sources::qad::config::{Every, QadConfig};
use crate::sources::qad::error::PollError;
use crate::sources::qad::password_secret;
use crate::sources::qad::poller::QadPoller;
use crate::sources::qad::records::RecordKind;
use crate::sources::qad::session::{SealedStore, Vault};

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
        /// One cycle, then exit (required until the poll driver runs cycles in `serve`).
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
pub fn run(config_path: Option<&std::path::Path>, cmd: QadCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the HTTP client runtime")?;
    match cmd {
        QadCommand::Status { tenant, json } => runtime.block_on(status(&config, tenant.as_deref(), json)),
        QadCommand::Poll { once, dry_run, tenant, cursor } => {
            if !once {
                bail!("continuous polling is `serve`'s job once the poll driver is merged; use `qad poll --once --dry-run`");
            }
            if !dry_run {
                bail!("storing polled events needs the poll driver (not merged yet); use `qad poll --once --dry-run` to see them");
            }
            runtime.block_on(dry_run_poll(&config, tenant.as_deref(), cursor))
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

fn vault(config: &Config) -> anyhow::Result<Arc<dyn Vault>> {
    Ok(Arc::new(SealedStore { store: open_store(config)?, key: Arc::new(require_master_key(config)?) }))
}

fn clients(config: &Config, only: Option<&str>, vault: &Arc<dyn Vault>) -> anyhow::Result<Vec<Arc<QadClient>>> {
    tenants(config, only)?.into_iter().map(|t| Ok(Arc::new(QadClient::new(t.clone(), vault.clone())?))).collect()
}

async fn dry_run_poll(config: &Config, only: Option<&str>, cursor: Option<String>) -> anyhow::Result<ExitCode> {
    for client in clients(config, only, &vault(config)?)? {
        let name = client.config().name.clone();
        let batch = QadPoller::new(client).poll(cursor.clone()).await.with_context(|| format!("tenant {name}"))?;
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
    let vault = vault(config)?;
    for client in clients(config, only, &vault)? {
        let t = client.config();
        let password = vault.get(&password_secret(&t.name)).map_err(anyhow::Error::msg)?.is_some();
        let connection = match check(&client).await {
            Ok(()) => json!({"status": "connected"}),
            Err(PollError::Broken { reason }) => json!({"status": "broken", "reason": reason}),
            Err(PollError::Retryable { reason, .. }) => json!({"status": "unavailable", "reason": reason}),
        };
        all_ok &= connection["status"] == "connected";
        let session = client.session().stored()?.map(|s| json!({"expires_at": s.expires_at.to_rfc3339(), "client_id": s.client_id}));
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
            "schedule": schedule(t), "last_poll": null, "cursor": null, "next_run": null,
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
            println!("  last poll, cursor, next run: kept by the poll driver (not merged yet)");
        }
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
