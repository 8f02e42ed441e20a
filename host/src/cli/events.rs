//! `ml-connector events list|replay` and `ml-connector outbox list`: what the store holds.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use serde_json::{Value, json};

use super::common::{load_config, open_store};
use crate::store::{EventFilter, FailureRecord, MessageFilter, OutboxRow, StoredEvent};

/// Event commands.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List stored events, newest first.
    List {
        /// Print a JSON array with every field, including each event's plugin failures.
        #[arg(long)]
        json: bool,
        /// Show at most this many events.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Set an event back to pending so the plugins run on it again.
    ///
    /// A running `ml-connector serve` picks it up; otherwise the next `serve` start does.
    /// Messages already in the outbox for it are not duplicated.
    Replay {
        /// The event's id, as shown by `events list`.
        event_id: String,
    },
}

/// Outbox commands.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List outbox messages, newest first.
    List {
        /// Print a JSON array with every field.
        #[arg(long)]
        json: bool,
        /// Show at most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Runs an events command.
pub async fn run_events(config: Option<&Path>, cmd: EventsCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    match cmd {
        EventsCommand::List { json, limit } => {
            let events = store.list_events(&EventFilter::newest(limit)).await?;
            if json {
                let mut rows = Vec::with_capacity(events.len());
                for event in &events {
                    rows.push(event_json(event, &store.list_failures(&event.id).await?));
                }
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if events.is_empty() {
                println!("no events stored");
            } else {
                print_table(
                    &[
                        "ID",
                        "KIND",
                        "STATUS",
                        "ATTEMPTS",
                        "RECEIVED_AT",
                        "LAST_ERROR",
                    ],
                    events.iter().map(|e| {
                        vec![
                            e.id.clone(),
                            e.kind.clone(),
                            e.status.to_string(),
                            e.attempts.to_string(),
                            time(e.received_at),
                            truncate(e.last_error.as_deref().unwrap_or(""), 60),
                        ]
                    }),
                );
            }
        }
        EventsCommand::Replay { event_id } => {
            if let Err(e) = crate::replay::replay_event(store.as_ref(), &event_id).await {
                let crate::replay::ReplayError::UnknownEvent(_) = e else { return Err(e.into()) };
                eprintln!(
                    "error: no stored event has id {event_id:?} (see `ml-connector events list`)"
                );
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "event {event_id} is pending again: a running `ml-connector serve` dispatches it \
                 shortly, otherwise the next `serve` start does"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an outbox command.
pub async fn run_outbox(config: Option<&Path>, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    match cmd {
        OutboxCommand::List { json, limit } => {
            let filter = MessageFilter { limit, ..MessageFilter::default() };
            let rows: Vec<OutboxRow> = store.list_messages(&filter).await?.into_iter().map(|m| m.row).collect();
            if json {
                let rows: Vec<Value> = rows.iter().map(outbox_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("outbox is empty");
            } else {
                print_table(
                    &[
                        "ID",
                        "EVENT",
                        "PLUGIN",
                        "KEY",
                        "CHANNEL",
                        "TO",
                        "STATUS",
                        "NOT_BEFORE",
                        "CREATED_AT",
                        "BODY",
                    ],
                    rows.iter().map(|r| {
                        vec![
                            r.id.to_string(),
                            r.event_id.clone(),
                            r.plugin.clone(),
                            r.key.clone(),
                            r.channel.to_string(),
                            r.to.to_string(),
                            r.status.to_string(),
                            r.not_before.map(time).unwrap_or_default(),
                            time(r.created_at),
                            truncate(&r.body, 50),
                        ]
                    }),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An event with its failures as JSON.
fn event_json(event: &StoredEvent, failures: &[FailureRecord]) -> Value {
    // `data` is stored as JSON text; show it as JSON, or as the text if it somehow is not.
    let data = serde_json::from_str::<Value>(&event.data)
        .unwrap_or_else(|_| Value::String(event.data.clone()));
    json!({
        "id": event.id,
        "source": event.source,
        "kind": event.kind,
        "business_id": event.business_id,
        "received_at": time(event.received_at),
        "status": event.status.as_str(),
        "attempts": event.attempts,
        "last_error": event.last_error,
        "dispatched_at": event.dispatched_at.map(time),
        "data": data,
        "failures": failures
            .iter()
            .map(|f| json!({ "plugin": f.plugin, "plugin_version": f.plugin_version, "cause": f.cause, "at": time(f.at) }))
            .collect::<Vec<_>>(),
    })
}

/// An outbox row as JSON.
fn outbox_json(row: &OutboxRow) -> Value {
    json!({
        "id": row.id,
        "event_id": row.event_id,
        "plugin": row.plugin,
        "key": row.key,
        "channel": row.channel.as_str(),
        "to": row.to,
        "body": row.body,
        "not_before": row.not_before.map(time),
        "status": row.status.as_str(),
        "created_at": time(row.created_at),
    })
}

/// RFC 3339 in UTC with milliseconds.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `text` on one line, cut to `max` characters with an ellipsis.
fn truncate(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Prints left-aligned columns separated by two spaces; the last column is not padded.
fn print_table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text_on_one_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("abcdefghijkl", 5), "abcd…");
        assert_eq!(truncate("ééééééé", 4).chars().count(), 4);
    }
}
