//! The outbox's side of the store: the messages plugins decided on, leased by sink drivers when
//! due, with every attempt (request) and status change kept for the audit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::inbox::CustomerNumbers;
use super::{Lease, Result};
use crate::model::{Channel, Recipient};

/// Where an outbox message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting to be sent (at or after `not_before`, and `next_attempt_at` after a retryable
    /// failure).
    Pending,
    /// Cancelled by a plugin before it was sent.
    Cancelled,
    /// A request is (or was, if the host died) in flight: found so after a restart, the sink
    /// reconciles against the remote's list before sending again.
    Sending,
    /// The remote accepted it; its id (Twilio's SID) is kept.
    Sent,
    /// The remote refused it, or retries ran out; the reason is kept. Replayable.
    Failed,
    /// Not sent because the address cannot take it (invalid, landline for SMS, opted out,
    /// unresolvable recipient). Replayable.
    Undeliverable,
    /// Dry-run mode: recorded exactly as it would have been sent, not sent.
    DryRun,
}

impl OutboxStatus {
    /// Whether the sender is done with it (nothing more happens without a replay).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Sending)
    }

    /// Whether `messages replay` may re-queue it.
    pub fn is_replayable(self) -> bool {
        matches!(self, Self::Failed | Self::Undeliverable)
    }
}

super::text_enum!(OutboxStatus {
    Pending = "pending",
    Cancelled = "cancelled",
    Sending = "sending",
    Sent = "sent",
    Failed = "failed",
    Undeliverable = "undeliverable",
    DryRun = "dry-run",
});

/// An outbox row as the dispatcher wrote it, with its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Row id, increasing with insertion.
    pub id: i64,
    /// The event that produced it.
    pub event_id: String,
    /// The plugin that produced it.
    pub plugin: String,
    /// The plugin's idempotency key.
    pub key: String,
    /// SMS or call.
    pub channel: Channel,
    /// The abstract recipient.
    pub to: Recipient,
    /// The text.
    pub body: String,
    /// Not to be sent before this time.
    pub not_before: Option<DateTime<Utc>>,
    /// Where the message is in its life.
    pub status: OutboxStatus,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
}

/// An outbox row with the sender's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The row as the dispatcher wrote it, with its current status.
    pub row: OutboxRow,
    /// The customer's numbers at dispatch.
    pub customer: CustomerNumbers,
    /// The business's time zone at dispatch, when known.
    pub timezone: Option<String>,
    /// Attempt series: 1, plus one per replay.
    pub series: u32,
    /// Send attempts (requests that count against the retry budget) in the current series.
    pub attempts: u32,
    /// When the next attempt is due after a retryable failure or a quiet-hours deferral.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the in-flight attempt began (status `sending`).
    pub sending_since: Option<DateTime<Utc>>,
    /// The resolved address (E.164 number).
    pub to_number: Option<String>,
    /// The remote's id once accepted (Twilio's SID).
    pub sid: Option<String>,
    /// The remote's error code (or none for host-side reasons) of the last failure.
    pub error_code: Option<i64>,
    /// Why the last attempt failed or the message is undeliverable.
    pub error_message: Option<String>,
    /// When the sender last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// The version of the plugin that asked for it (the SHA-256 of its wasm, hex); `None` for
    /// rows written before versions were recorded.
    pub plugin_version: Option<String>,
}

/// A state change of an outbox message, applied by [`OutboxStore::update_message`]. Fields are
/// written as given (`None` clears), except `to_number`, which `None` leaves as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUpdate {
    /// The outbox row.
    pub id: i64,
    /// The new status.
    pub status: OutboxStatus,
    /// Send attempts in the current series so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the in-flight attempt began.
    pub sending_since: Option<DateTime<Utc>>,
    /// The resolved number, when known.
    pub to_number: Option<String>,
    /// The remote's id. `None` on a row left `sending` keeps a SID that a status callback
    /// linked meanwhile (its request's answer was lost, the callback was not).
    pub sid: Option<String>,
    /// The remote's error code.
    pub error_code: Option<i64>,
    /// The reason of a failure.
    pub error_message: Option<String>,
    /// The status-history line; `None` records no history (e.g. a plain retry reschedule
    /// already described by its attempt).
    pub history: Option<String>,
}

impl MessageUpdate {
    /// Whether the claimer keeps its lease after this update: only while a request is about to
    /// go out (`sending`, nothing scheduled). Every other update hands the row back.
    pub fn keeps_lease(&self) -> bool {
        self.status == OutboxStatus::Sending && self.next_attempt_at.is_none()
    }
}

/// One request the sender made (or, in dry-run, would have made) for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The outbox row.
    pub outbox_id: i64,
    /// The message's series at the time.
    pub series: u32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// `message`, `call`, `lookup`, `list` (ambiguous-send reconciliation) or `dry-run`.
    pub kind: String,
    /// What was sent, without credentials: method, path and form body.
    pub request: String,
    /// The remote's HTTP status; none on timeout, connection error or dry-run.
    pub http_status: Option<u16>,
    /// The id the remote returned.
    pub sid: Option<String>,
    /// The remote's error code.
    pub error_code: Option<i64>,
    /// The remote's error message, or the transport error.
    pub error_message: Option<String>,
    /// How long the request took.
    pub latency_ms: u64,
}

/// One status change of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// The status entered.
    pub status: String,
    /// Why, or what the remote said.
    pub detail: Option<String>,
}

/// A status change of a message whose event is about a source record, for that source to
/// report back (e.g. written to the QAD record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHistory {
    /// The history row's id: increasing, the reader's cursor.
    pub id: i64,
    /// The record, e.g. `qad:acme:purchase_order:PO-77`.
    pub record: String,
    /// The outbox row.
    pub outbox_id: i64,
    /// SMS or call.
    pub channel: Channel,
    /// The number it went (or was to go) to.
    pub to_number: Option<String>,
    /// The remote's id.
    pub sid: Option<String>,
    /// The change.
    pub history: HistoryRecord,
}

/// Which messages [`OutboxStore::list_messages`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this event's messages.
    pub event_id: Option<String>,
    /// Only messages of events about this record.
    pub record: Option<String>,
    /// Only messages in this status.
    pub status: Option<OutboxStatus>,
    /// Only messages last changed (or created) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only messages last changed (or created) before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only this plugin's messages.
    pub plugin: Option<String>,
    /// Only messages to this number: the resolved E.164 number or the recipient as written.
    pub number: Option<String>,
    /// Skip this many (paging).
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

/// How many messages created in one hour are in one status, for charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCount {
    /// The start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// The messages' status now.
    pub status: OutboxStatus,
    /// How many.
    pub count: u64,
}

/// Messages out: claimed when due, updated as they go, listed for the audit.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` messages on `channels` due at `now`, oldest first: `pending` ones
    /// whose `next_attempt_at` (else `not_before`) has passed and `sending` ones (left by a crash
    /// or an unanswered request), none held by a live lease.
    async fn claim_due_messages(&self, lease: &Lease, now: DateTime<Utc>, channels: &[Channel], limit: usize) -> Result<Vec<OutboxMessage>>;

    /// The earliest time a message on `channels` becomes claimable, if any is waiting.
    async fn next_due_at(&self, channels: &[Channel]) -> Result<Option<DateTime<Utc>>>;

    /// One message by outbox id.
    async fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>>;

    /// Messages matching `filter`, newest first.
    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>>;

    /// Messages created at or after `since`, counted by the hour they were created in and their
    /// status now; oldest hour first, statuses in their text order within an hour.
    async fn count_messages_by_hour(&self, since: DateTime<Utc>) -> Result<Vec<HourlyCount>>;

    /// How many messages are in `status` (e.g. the queue: pending and sending).
    async fn count_messages(&self, status: OutboxStatus) -> Result<u64>;

    /// Whether a message other than `id` on `channel` to `to_number` is `sending` with no
    /// remote id, its attempt begun after `since`: its request may still be unanswered, so an
    /// unheld item in the remote's list may be that message's.
    async fn others_in_flight(&self, id: i64, channel: Channel, to_number: &str, since: DateTime<Utc>) -> Result<bool>;

    /// Applies a state change and records `attempts` and the history line, in one transaction.
    /// Only a `pending` or `sending` row that `lease` holds (or nobody holds) changes: `false`,
    /// and nothing written, if it was cancelled, replayed, finished or taken over meanwhile. The
    /// lease is released unless [`MessageUpdate::keeps_lease`], and then renewed for a whole
    /// lease from now (a request about to go out is never taken over mid-flight because its
    /// row waited for the rate limit).
    async fn update_message(&self, lease: &Lease, update: &MessageUpdate, attempts: &[Attempt]) -> Result<bool>;

    /// Every attempt of a message, oldest first.
    async fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>>;

    /// Every status change of a message, oldest first.
    async fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>>;

    /// Re-queues a failed or undeliverable message as a new attempt series (history kept).
    /// `false` if it is unknown or in another status.
    async fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool>;

    /// Adds a line to a message's history without changing it (e.g. what a source did with it).
    async fn add_history(&self, outbox_id: i64, status: &str, detail: &str) -> Result<()>;

    /// Status changes after history id `after`, oldest first, of messages whose events are about
    /// records starting with `record_prefix` (e.g. `qad:acme:`); at most `limit`.
    async fn list_record_history(&self, record_prefix: &str, after: i64, limit: usize) -> Result<Vec<RecordHistory>>;

    /// Reserves the next send slot of sink `name` for every process sharing the store, `period`
    /// after the one before: how long to wait before sending. `None` when the store keeps no
    /// shared rate (the caller spaces its own sends).
    async fn reserve_send_slot(&self, _name: &str, _period: std::time::Duration) -> Result<Option<std::time::Duration>> {
        Ok(None)
    }
}
