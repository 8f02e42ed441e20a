//! [`Reporter`]: what happened to each message about a QAD record, written back to that record.
//! It reads the history of messages whose events are about the tenant's records (outcomes, Twilio
//! delivery statuses, replies) after a saved cursor, and appends one line per change with
//! [`writeback::append`]; each line's marker is the history row's id, so an append retried
//! after a crash is not doubled. The cursor is also a lease: one replica reports a tenant at a
//! time. Each write (and each give-up) is added to the message's history for the audit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::client::QadClient;
use super::records::RecordKind;
use super::writeback::{self, Line, WritebackError};
use crate::model::Channel;
use crate::sources::poll::PollError;
use crate::sources::twilio::callbacks::is_call_progress;
use crate::store::{Lease, RecordHistory, Store};

/// History rows read per round.
const BATCH: usize = 100;
/// How often the history is read when idle.
const EVERY: Duration = Duration::from_secs(5);
/// History lines the reporter itself adds: never written back.
const OWN_STATUS: &str = "qad-writeback";

/// Writes message outcomes back to one tenant's records.
pub struct Reporter {
    client: Arc<QadClient>,
    store: Arc<dyn Store>,
    lease: Lease,
}

impl Reporter {
    /// A reporter for `client`'s tenant, reading history from `store`.
    pub fn new(client: Arc<QadClient>, store: Arc<dyn Store>, lease: Lease) -> Self {
        Reporter { client, store, lease }
    }

    fn cursor_name(&self) -> String {
        format!("{}:{}:writeback", super::SOURCE, self.client.config().name)
    }

    /// One round: every pending line written (or given up on), the cursor saved as it goes.
    /// Returns how many lines were written; stops at the first error that retrying may fix.
    pub async fn run_once(&self) -> Result<usize, PollError> {
        let name = self.cursor_name();
        if !self.store.lease_cursor(&name, &self.lease).await? {
            return Ok(0);
        }
        let outcome = self.report(&name).await;
        if let Err(e) = self.store.release_cursor(&name, &self.lease).await {
            tracing::debug!(error = %e, "Could not release the write-back lease; it expires by itself.");
        }
        outcome
    }

    async fn report(&self, name: &str) -> Result<usize, PollError> {
        let prefix = format!("{}:{}:", super::SOURCE, self.client.config().name);
        let mut after: i64 = self.store.get_cursor(name).await?.and_then(|c| c.value.parse().ok()).unwrap_or(0);
        let mut written = 0;
        loop {
            let rows = self.store.list_record_history(&prefix, after, BATCH).await?;
            if rows.is_empty() {
                return Ok(written);
            }
            for row in rows {
                if let Some((target_kind, key, line)) = self.line(&prefix, &row) {
                    let target = &self.client.config().writeback[&target_kind];
                    let note = match writeback::append(&self.client, target, &key, &line).await {
                        Ok(done) if done.rejections.is_empty() => format!("written to QAD {} {key} ({})", target.component, target.field),
                        Ok(done) => format!("written to QAD {} {key} after rejections: {}", target.component, done.rejections.join("; ")),
                        Err(WritebackError::Poll(e)) => return Err(e),
                        Err(e) => format!("not written to QAD: {e}"),
                    };
                    self.store.add_history(row.outbox_id, OWN_STATUS, &format!("{} {note}", line.marker)).await?;
                    written += 1;
                }
                after = row.id;
                self.store.put_cursor(name, &after.to_string()).await?;
            }
        }
    }

    /// The line for a history row, when its record kind has a write-back target and the row is
    /// an outcome, a delivery status (for a call, only how it ended) or a reply.
    fn line(&self, prefix: &str, row: &RecordHistory) -> Option<(RecordKind, String, Line)> {
        let (kind, key) = row.record.strip_prefix(prefix)?.split_once(':')?;
        let kind = RecordKind::parse(kind)?;
        self.client.config().writeback.get(&kind)?;
        let h = &row.history;
        let callback = h.detail.as_deref().is_some_and(|d| d.starts_with("twilio callback"));
        let what = match h.status.as_str() {
            "reply" => h.detail.clone().unwrap_or_default(),
            "sent" | "dry-run" => format!("{}{}", h.status, row.sid.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()),
            "failed" | "undeliverable" => format!("{}: {}", h.status, h.detail.as_deref().unwrap_or_default()),
            // A call's progress (initiated, ringing, answered) stays in the audit; the record
            // gets how it ended.
            status if callback && !written_back(row.channel, status) => return None,
            status if callback => format!("delivery status {status}"),
            _ => return None,
        };
        let to = row.to_number.as_deref().unwrap_or("(no number)");
        let text = format!("{} {} to {to}: {what}", h.at.format("%Y-%m-%d %H:%M UTC"), row.channel.as_str().to_uppercase());
        Some((kind, key.to_owned(), Line { marker: format!("[mlc:{}]", row.id), text }))
    }

    /// Reports every few seconds until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failing: Option<String> = None;
        while !*shutdown.borrow() {
            match self.run_once().await {
                Ok(_) => failing = None,
                Err(e) => {
                    let reason = e.to_string();
                    if failing.as_deref() != Some(reason.as_str()) {
                        tracing::warn!(tenant = %self.client.config().name, error = %reason, "QAD write-back paused; it resumes from where it stopped.");
                    }
                    failing = Some(reason);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Whether a delivery status from Twilio's callback is written back: every status of an SMS, a
/// call's final one only (its progress, initiated, ringing and in-progress, stays in the audit).
fn written_back(channel: Channel, status: &str) -> bool {
    channel != Channel::Call || !is_call_progress(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_progress_is_not_written_back_but_how_it_ended_and_every_sms_status_are() {
        for status in ["initiated", "ringing", "in-progress"] {
            assert!(!written_back(Channel::Call, status), "{status}");
        }
        for status in ["completed", "busy", "no-answer", "failed", "canceled"] {
            assert!(written_back(Channel::Call, status), "{status}");
        }
        for status in ["queued", "sent", "delivered", "undelivered"] {
            assert!(written_back(Channel::Sms, status), "{status}");
        }
    }
}
