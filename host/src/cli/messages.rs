//! `ml-connector messages replay`: re-queue failed or undeliverable messages as a new attempt
//! series (their history is kept).

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;

use super::common::{load_config, open_store};
use crate::store::{MessageFilter, OutboxStatus};

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
pub async fn run(config: Option<&Path>, cmd: MessagesCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    match cmd {
        MessagesCommand::Replay { id: Some(id), .. } => {
            let series = crate::replay::replay_message(store.as_ref(), id).await?;
            println!("message {id} re-queued (attempt series {series})");
        }
        MessagesCommand::Replay { since, .. } => {
            let mut ids = Vec::new();
            for status in [OutboxStatus::Failed, OutboxStatus::Undeliverable] {
                let filter = MessageFilter { status: Some(status), since, limit: usize::MAX, ..MessageFilter::default() };
                ids.extend(store.list_messages(&filter).await?.into_iter().map(|m| m.row.id));
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
                if store.requeue_message(*id, Utc::now()).await? {
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
