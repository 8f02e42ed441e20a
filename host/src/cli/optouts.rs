//! `ml-connector optouts list|clear|history`: opt-outs by hand, for the operator a customer
//! phoned. Clearing one is recorded in the store with who (`--by`, else the OS user) and when.

use std::path::Path;
use std::process::ExitCode;

use chrono::{SecondsFormat, Utc};
use clap::Subcommand;
use serde_json::json;

use super::common::{load_config, open_store};
use crate::sinks::twilio::phone::to_e164;
use crate::sinks::twilio::state::{OptOut, OptOutClearance};

/// Opt-out commands.
#[derive(Debug, Subcommand)]
pub enum OptoutsCommand {
    /// List the numbers that opted out (replied STOP, or Twilio refused them with 21610), most
    /// recent first. Messages to them are not sent.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Clear a number's opt-out, e.g. when the customer phoned to ask for messages again.
    ///
    /// Recorded with who cleared it and when (`optouts history`). Twilio keeps its own
    /// opt-out for a number that replied STOP: that customer must also reply START.
    Clear {
        /// The number, in E.164 (+14155550100) or national form for [twilio] default_region.
        number: String,
        /// Who is clearing it [default: the OS user].
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Show the opt-outs cleared by hand, newest first: who, when, and the opt-out it replaced.
    History {
        /// Only this number.
        number: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Runs an opt-out command.
pub async fn run(config: Option<&Path>, cmd: OptoutsCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    let e164 = |number: &str| to_e164(number, &config.twilio.default_region);
    match cmd {
        OptoutsCommand::List { json } => {
            let opt_outs = store.list_opt_outs().await?;
            if json {
                let rows: Vec<_> = opt_outs.iter().map(opt_out_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if opt_outs.is_empty() {
                println!("No number has opted out.");
            } else {
                for o in &opt_outs {
                    println!("{:<16} since {}  {}", o.number, time(o.at), o.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OptoutsCommand::Clear { number, by } => {
            let number = e164(&number)?;
            let by = by.filter(|b| !b.trim().is_empty()).unwrap_or_else(os_user);
            match store.clear_opt_out_by_hand(&number, &by, Utc::now()).await? {
                Some(c) => {
                    println!(
                        "Cleared the opt-out of {} (opted out {}: {}); recorded as cleared by {} at {}.",
                        c.number,
                        time(c.cleared.at),
                        c.cleared.reason,
                        c.by,
                        time(c.at)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: {number} has not opted out (see `ml-connector optouts list`); nothing recorded");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        OptoutsCommand::History { number, json, limit } => {
            let number = number.map(|n| e164(&n)).transpose()?;
            let cleared = store.list_opt_out_clearances(number.as_deref(), limit).await?;
            if json {
                let rows: Vec<_> = cleared.iter().map(clearance_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if cleared.is_empty() {
                println!("No opt-out was cleared by hand.");
            } else {
                for c in &cleared {
                    println!(
                        "{}  {:<16} cleared by {}  (opted out {}: {})",
                        time(c.at),
                        c.number,
                        c.by,
                        time(c.cleared.at),
                        c.cleared.reason
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The OS user running the command: `$USER`, `$LOGNAME`, else the numeric uid.
fn os_user() -> String {
    use std::os::unix::fs::MetadataExt as _;
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| std::fs::metadata("/proc/self").ok().map(|m| format!("uid {}", m.uid())))
        .unwrap_or_else(|| "unknown user".into())
}

fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_out_json(o: &OptOut) -> serde_json::Value {
    json!({"number": o.number, "at": time(o.at), "reason": o.reason})
}

fn clearance_json(c: &OptOutClearance) -> serde_json::Value {
    json!({"number": c.number, "cleared_by": c.by, "at": time(c.at), "cleared": opt_out_json(&c.cleared)})
}
