//! `ml-connector audit`: messages with their source event, plugin and key, every Twilio attempt
//! and their status history, with the delivery status Twilio reported and the inbound replies
//! linked to each message.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::common::{load_config, open_store};
use crate::sinks::twilio::state::InboundRecord;
use crate::store::{Attempt, HistoryRecord, MessageFilter, OutboxMessage, OutboxStatus};

/// `audit` options.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the messages of this event.
    #[arg(long = "event", value_name = "ID")]
    pub event_id: Option<String>,
    /// Only the messages of events about this source record, e.g. `qad:acme:purchase_order:PO-77`.
    #[arg(long, value_name = "RECORD")]
    pub record: Option<String>,
    /// Only messages in this status: pending, sending, sent, failed, undeliverable, dry-run,
    /// cancelled.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<OutboxStatus>,
    /// Print JSON with every attempt and status change.
    #[arg(long)]
    pub json: bool,
    /// Show at most this many messages, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

fn parse_status(text: &str) -> Result<OutboxStatus, String> {
    OutboxStatus::parse(text).ok_or_else(|| {
        format!("{text:?} is not a status (pending, sending, sent, failed, undeliverable, dry-run, cancelled)")
    })
}

/// Runs `audit`.
pub async fn run(config: Option<&Path>, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let store = open_store(&config)?;
    let filter = MessageFilter { event_id: args.event_id, record: args.record, status: args.status, limit: args.limit, ..MessageFilter::default() };
    let messages = store.list_messages(&filter).await?;
    let mut out = Vec::with_capacity(messages.len());
    let mut twilio = Vec::with_capacity(messages.len());
    for m in &messages {
        out.push((m, store.list_attempts(m.row.id).await?, store.list_history(m.row.id).await?));
        twilio.push((store.delivery_status(m.row.id).await?, store.list_replies(m.row.id).await?));
    }
    if args.json {
        let rows: Vec<Value> = out
            .iter()
            .zip(&twilio)
            .map(|((m, a, h), (delivery, replies))| {
                let mut row = message_json(m, a, h);
                row["delivery_status"] = json!(delivery);
                row["replies"] = replies_json(replies);
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if out.is_empty() {
        println!("no messages");
    }
    for ((m, attempts, history), (delivery, replies)) in out.iter().zip(&twilio) {
        println!(
            "#{} {}{} {} to {} ({}) [{}] event {} plugin {}{} key {}{}",
            m.row.id,
            m.row.status,
            delivery.as_deref().map(|d| format!(" (twilio: {d})")).unwrap_or_default(),
            m.row.channel,
            m.to_number.as_deref().unwrap_or("?"),
            m.row.to,
            m.sid.as_deref().unwrap_or("no SID"),
            m.row.event_id,
            m.row.plugin,
            m.plugin_version.as_deref().map(|v| format!(" ({})", crate::app::plugins::short(v))).unwrap_or_default(),
            m.row.key,
            m.error_message.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
        );
        for a in attempts {
            println!(
                "    attempt {} #{} {} {} -> {} {}{} ({} ms)",
                time(a.started_at),
                a.series,
                a.kind,
                a.request_path(),
                a.http_status.map_or_else(|| if a.kind == "dry-run" { "not sent".to_owned() } else { "no answer".to_owned() }, |s| s.to_string()),
                a.sid.as_deref().unwrap_or(""),
                a.error_message.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
                a.latency_ms,
            );
            // The exact form sent (or, in dry-run, that would have been): To, From, Body, Twiml...
            for (name, value) in a.request_form() {
                println!("        {name}: {value:?}");
            }
        }
        for h in history {
            println!("    status  {} {}{}", time(h.at), h.status, h.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default());
        }
        for r in replies {
            let m = &r.message;
            println!(
                "    reply   {} {} from {}: {:?}{}",
                time(m.received_at),
                m.sid,
                m.from,
                m.body,
                m.opt_out_type.as_deref().map(|t| format!(" (OptOutType {t})")).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Attempt {
    /// The path of the recorded request.
    pub(crate) fn request_path(&self) -> String {
        serde_json::from_str::<Value>(&self.request)
            .ok()
            .and_then(|v| Some(format!("{} {}", v["method"].as_str()?, v["path"].as_str()?)))
            .unwrap_or_default()
    }

    /// The form fields of the recorded request, in order (a repeated field's values joined by
    /// commas).
    pub(crate) fn request_form(&self) -> Vec<(String, String)> {
        let request = serde_json::from_str::<Value>(&self.request).unwrap_or_default();
        let Some(form) = request.get("form").and_then(Value::as_object) else { return Vec::new() };
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        form.iter()
            .map(|(k, v)| match v.as_array() {
                Some(values) => (k.clone(), values.iter().map(text).collect::<Vec<_>>().join(", ")),
                None => (k.clone(), text(v)),
            })
            .collect()
    }
}

/// One message with its attempts and history as JSON.
pub fn message_json(m: &OutboxMessage, attempts: &[Attempt], history: &[HistoryRecord]) -> Value {
    json!({
        "id": m.row.id,
        "event_id": m.row.event_id,
        "plugin": m.row.plugin,
        "plugin_version": m.plugin_version,
        "key": m.row.key,
        "channel": m.row.channel.as_str(),
        "recipient": m.row.to,
        "to": m.to_number,
        "body": m.row.body,
        "status": m.row.status.as_str(),
        "sid": m.sid,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "series": m.series,
        // Send attempts in the current series (a dry run counts as one); `requests` lists them all.
        "attempts": m.attempts,
        "not_before": m.row.not_before.map(time),
        "next_attempt_at": m.next_attempt_at.map(time),
        "created_at": time(m.row.created_at),
        "updated_at": m.updated_at.map(time),
        "requests": attempts.iter().map(|a| json!({
            "series": a.series,
            "started_at": time(a.started_at),
            "kind": a.kind,
            "request": serde_json::from_str::<Value>(&a.request).unwrap_or(Value::String(a.request.clone())),
            "http_status": a.http_status,
            "sid": a.sid,
            "error_code": a.error_code,
            "error_message": a.error_message,
            "latency_ms": a.latency_ms,
        })).collect::<Vec<_>>(),
        "history": history.iter().map(|h| json!({"at": time(h.at), "status": h.status, "detail": h.detail})).collect::<Vec<_>>(),
    })
}

/// Inbound replies linked to a message as JSON.
pub fn replies_json(replies: &[InboundRecord]) -> Value {
    replies
        .iter()
        .map(|r| {
            json!({
                "sid": r.message.sid,
                "from": r.message.from,
                "to": r.message.to,
                "body": r.message.body,
                "opt_out_type": r.message.opt_out_type,
                "received_at": time(r.message.received_at),
                "event_id": r.event_id,
            })
        })
        .collect()
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_form_field_shows_its_values_joined() {
        let attempt = Attempt {
            outbox_id: 1,
            series: 1,
            started_at: chrono::Utc::now(),
            kind: "call".into(),
            request: r#"{"method":"POST","path":"/Calls.json","form":{"To":"+14155552671","StatusCallbackEvent":["initiated","ringing","answered","completed"]}}"#.into(),
            http_status: Some(201),
            sid: None,
            error_code: None,
            error_message: None,
            latency_ms: 1,
        };
        let form = attempt.request_form();
        assert!(form.contains(&("To".into(), "+14155552671".into())), "{form:?}");
        assert!(form.contains(&("StatusCallbackEvent".into(), "initiated, ringing, answered, completed".into())), "{form:?}");
    }
}
