//! `ml-connector messages replay`: re-queue failed or undeliverable messages as a new attempt
//! series (their history is kept); and the Twilio sender's assembly for `serve`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;

use super::common::{load_config, open_store};
use crate::config::{Config, TwilioMode};
use crate::secrets::{MasterKey, TWILIO_API_KEY_SECRET, TWILIO_API_KEY_SID, TWILIO_AUTH_TOKEN};
use crate::sinks::twilio::service::{Credentials, TwilioService};
use crate::sinks::twilio::sink::{Sender, SenderSettings};
use crate::store::{MessageFilter, OutboxStatus, Store};

/// Above this many messages, replay shows a progress bar.
const PROGRESS_THRESHOLD: usize = 20;

/// Message commands.
#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// Re-queue a failed or undeliverable message (by outbox id), or all of them with --failed.
    ///
    /// A running `ml-connector serve` sends them again; the earlier attempts stay in the audit.
    Replay {
        /// The message's outbox id, as shown by `audit` or `outbox list`.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<i64>,
        /// Every failed and undeliverable message.
        #[arg(long)]
        failed: bool,
        /// With --failed: only those that changed at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, requires = "failed", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
    },
}

/// Parses `--since`: RFC 3339, or a date meaning its midnight UTC.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| format!("{text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}

/// Runs a messages command.
pub fn run(config: Option<&Path>, cmd: MessagesCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    match cmd {
        MessagesCommand::Replay { id: Some(id), .. } => {
            let Some(message) = store.get_message(id)? else {
                bail!("no message has outbox id {id}");
            };
            if !message.row.status.is_replayable() {
                bail!("message {id} is {}; only failed and undeliverable messages are replayed", message.row.status);
            }
            store.requeue_message(id, Utc::now())?;
            println!("message {id} re-queued (attempt series {})", message.series + 1);
        }
        MessagesCommand::Replay { since, .. } => {
            let mut ids = Vec::new();
            for status in [OutboxStatus::Failed, OutboxStatus::Undeliverable] {
                let filter = MessageFilter { status: Some(status), since, limit: usize::MAX, ..MessageFilter::default() };
                ids.extend(store.list_messages(&filter)?.into_iter().map(|m| m.row.id));
            }
            ids.sort_unstable();
            let bar = (ids.len() > PROGRESS_THRESHOLD).then(|| {
                let bar = indicatif::ProgressBar::new(ids.len() as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} re-queued ({eta} left)")
                        .expect("valid template"),
                );
                bar
            });
            let mut requeued = 0;
            for id in &ids {
                if store.requeue_message(*id, Utc::now())? {
                    requeued += 1;
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            println!("{requeued} message(s) re-queued");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The sender `serve` runs: in live mode with the Twilio credentials from the store (API key
/// when both its secrets are set, else the account's auth token).
pub fn build_sender(config: &Config, store: Arc<dyn Store>, key: Option<&MasterKey>) -> anyhow::Result<Sender> {
    let settings = SenderSettings::from_config(config);
    if config.twilio.mode == TwilioMode::DryRun {
        return Ok(Sender::new(store, None, settings));
    }
    let account_sid = config.twilio.account_sid.clone().context("live mode needs twilio.account_sid")?;
    let secret = |name: &str| -> anyhow::Result<Option<String>> {
        let Some(sealed) = store.get_secret(name)? else { return Ok(None) };
        let key = key.context("Twilio secrets are stored but no master key is set")?;
        Ok(Some(key.open(name, &sealed)?.expose().to_owned()))
    };
    let credentials = match (secret(TWILIO_API_KEY_SID)?, secret(TWILIO_API_KEY_SECRET)?) {
        (Some(sid), Some(secret)) => Credentials { username: sid, password: secret.into() },
        _ => {
            let token = secret(TWILIO_AUTH_TOKEN)?.with_context(|| {
                format!("live mode needs the secret {TWILIO_AUTH_TOKEN} (or {TWILIO_API_KEY_SID} and {TWILIO_API_KEY_SECRET}): `ml-connector secrets set {TWILIO_AUTH_TOKEN}`")
            })?;
            Credentials { username: account_sid, password: token.into() }
        }
    };
    let service = TwilioService::new(
        &config.twilio.api_base,
        &config.twilio.lookups_base,
        credentials,
        Duration::from_millis(config.twilio.request_timeout_ms),
    )?;
    Ok(Sender::new(store, Some(service), settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_rfc3339_times_and_plain_dates() {
        assert_eq!(parse_since("2026-03-31").unwrap().to_rfc3339(), "2026-03-31T00:00:00+00:00");
        assert_eq!(parse_since("2026-03-31T10:00:00-04:00").unwrap().to_rfc3339(), "2026-03-31T14:00:00+00:00");
        assert!(parse_since("yesterday").is_err());
    }
}
