//! Durable store: the inbox of verified events, the outbox of messages, plugin failures and
//! sealed secrets, behind one object-safe trait so the pipeline never names a database.
//!
//! The embedded backend is SQLite ([`sqlite::SqliteStore`]); a PostgreSQL backend for several
//! replicas would implement the same trait, claiming rows with `FOR UPDATE SKIP LOCKED`.

pub mod ingest;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::{Channel, Recipient};

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A backend failure, shared so one batch failure can be reported to every submitter.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Errors from the store. `Clone` because the ingest queue answers a whole batch with one error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database is busy, locked, full or unreachable: retrying later may succeed, so the HTTP
    /// layer answers 503 (and Wave retries).
    #[error("store unavailable during {op}: {cause}")]
    Unavailable {
        /// The operation that failed, e.g. `insert events`.
        op: &'static str,
        /// The backend's error.
        cause: Cause,
    },
    /// Any other backend failure.
    #[error("store failed during {op}: {cause}")]
    Backend {
        /// The operation that failed.
        op: &'static str,
        /// The backend's error.
        cause: Cause,
    },
    /// The database file cannot be opened or prepared.
    #[error("cannot open store {path}: {cause}")]
    Open {
        /// The database location.
        path: String,
        /// The backend's error.
        cause: Cause,
    },
    /// The database was written by a newer ml-connector; it is left untouched.
    #[error(
        "store {path} has schema version {found}, newer than the {supported} this build knows; \
         run a newer ml-connector or restore a backup"
    )]
    SchemaTooNew {
        /// The database location.
        path: String,
        /// The version found in the database.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A stored row holds a value this build cannot read.
    #[error("corrupt {table} row: {reason}")]
    Corrupt {
        /// The table holding the row.
        table: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An operation named an event that is not stored.
    #[error("no stored event has id {id:?}")]
    UnknownEvent {
        /// The id asked for.
        id: String,
    },
    /// Re-encrypting a secret failed during key rotation; nothing was changed.
    #[error("cannot re-encrypt secret `{name}`: {cause}")]
    Rotate {
        /// The secret's name.
        name: String,
        /// Why the callback failed.
        cause: Cause,
    },
    /// The ingest queue's writer thread has stopped.
    #[error("ingest queue is closed")]
    IngestClosed,
}

impl StoreError {
    /// Whether the failure is temporary (busy, locked, disk full, I/O, queue stopped), which the
    /// HTTP layer maps to 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::IngestClosed)
    }
}

/// A verified event to store in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The source's event id. It is the store-wide key, so sources whose ids could collide with
    /// another source's must namespace them (Wave's `event_id` is a UUID).
    pub id: String,
    /// Where the event came from, e.g. `wave`.
    pub source: String,
    /// The event type, e.g. `invoice.paid`.
    pub kind: String,
    /// The business (tenant) the event belongs to, when the source has one.
    pub business_id: Option<String>,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
    /// The raw request body exactly as received (signatures cover these bytes).
    pub body: Vec<u8>,
    /// The JSON text of the event's `data` object.
    pub data: String,
}

/// What happened to an inserted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The event is new and now stored.
    Inserted,
    /// An event with this id was already stored; nothing changed.
    Duplicate,
}

/// Where an event is in the dispatch pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Waiting for the dispatcher.
    Pending,
    /// Every subscribed plugin ran and its messages are in the outbox.
    Dispatched,
    /// At least one plugin failed; the others' messages are in the outbox. Replay to retry.
    Failed,
}

/// Where an outbox message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting to be sent (at or after `not_before`, and `next_attempt_at` after a retryable
    /// failure).
    Pending,
    /// Cancelled by a plugin before it was sent.
    Cancelled,
    /// A request to Twilio is (or was, if the host died) in flight: found so after a restart,
    /// the sender reconciles against Twilio's message list before sending again.
    Sending,
    /// Twilio accepted it; the SID is kept.
    Sent,
    /// Twilio refused it, or retries ran out; the reason is kept. Replayable.
    Failed,
    /// Not sent because the number cannot take it (invalid, landline for SMS, opted out,
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

macro_rules! text_enum {
    ($ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the stored text form.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(EventStatus { Pending = "pending", Dispatched = "dispatched", Failed = "failed" });
text_enum!(OutboxStatus {
    Pending = "pending",
    Cancelled = "cancelled",
    Sending = "sending",
    Sent = "sent",
    Failed = "failed",
    Undeliverable = "undeliverable",
    DryRun = "dry-run",
});

/// An event as stored, with its dispatch state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The event id.
    pub id: String,
    /// Where it came from.
    pub source: String,
    /// The event type.
    pub kind: String,
    /// The business it belongs to.
    pub business_id: Option<String>,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
    /// The JSON text of its `data` object.
    pub data: String,
    /// Dispatch state.
    pub status: EventStatus,
    /// How many dispatches completed for it (first run plus replays).
    pub attempts: u32,
    /// Summary of the plugin failures of the last dispatch, if any.
    pub last_error: Option<String>,
    /// When the last dispatch completed.
    pub dispatched_at: Option<DateTime<Utc>>,
}

/// A plugin that failed on an event (trap, deadline, memory, guest error, denied action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// The plugin's name.
    pub plugin: String,
    /// A readable cause, e.g. `deadline exceeded after 50 ms`.
    pub cause: String,
}

/// A recorded plugin failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// The plugin's name.
    pub plugin: String,
    /// The readable cause.
    pub cause: String,
    /// When the dispatch recording it completed.
    pub at: DateTime<Utc>,
}

/// A message a plugin asked for, to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The plugin that asked for it.
    pub plugin: String,
    /// The plugin's idempotency key: one message per (event, plugin, key), and the handle for
    /// prefix cancels.
    pub key: String,
    /// SMS or call.
    pub channel: Channel,
    /// The abstract recipient: `customer`, `team:NAME`, or a literal number.
    pub to: Recipient,
    /// The text (SMS body, or what the call says).
    pub body: String,
    /// Not to be sent before this time (scheduled reminders).
    pub not_before: Option<DateTime<Utc>>,
}

/// Everything one dispatch of an event produced, committed atomically by
/// [`Store::complete_dispatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchResult {
    /// Messages to add to the outbox.
    pub messages: Vec<NewMessage>,
    /// `(plugin, key prefix)`: cancel that plugin's pending messages, from earlier events, whose
    /// key starts with the prefix.
    pub cancels: Vec<(String, String)>,
    /// Plugins that failed on this event.
    pub failures: Vec<PluginFailure>,
    /// The event customer's numbers from the context, kept with each new outbox row so the
    /// sender can resolve the `customer` recipient.
    pub customer: CustomerNumbers,
    /// The business's own time zone, when the source reported one (an IANA name), kept with
    /// each new outbox row so the sender reads quiet hours in it.
    pub timezone: Option<String>,
}

/// The customer's numbers as the context had them at dispatch (E.164 when the enricher
/// normalised them; the sender normalises again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerNumbers {
    /// Mobile number, preferred for the `customer` recipient.
    pub mobile: Option<String>,
    /// Phone number, used when there is no mobile.
    pub phone: Option<String>,
}

/// An outbox row.
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

/// An outbox row with the sender's state (schema version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The row as the dispatcher wrote it, with its current status.
    pub row: OutboxRow,
    /// The customer's numbers at dispatch.
    pub customer: CustomerNumbers,
    /// The business's time zone at dispatch, when known (schema version 4).
    pub timezone: Option<String>,
    /// Attempt series: 1, plus one per replay.
    pub series: u32,
    /// Send attempts (Messages/Calls requests) in the current series.
    pub attempts: u32,
    /// When the next attempt is due after a retryable failure or a quiet-hours deferral.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the in-flight attempt began (status `sending`).
    pub sending_since: Option<DateTime<Utc>>,
    /// The resolved E.164 number.
    pub to_number: Option<String>,
    /// Twilio's SID once accepted.
    pub sid: Option<String>,
    /// Twilio's error code (or none for host-side reasons) of the last failure.
    pub error_code: Option<i64>,
    /// Why the last attempt failed or the message is undeliverable.
    pub error_message: Option<String>,
    /// When the sender last changed it.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A state change of an outbox message, applied by [`Store::update_message`]. Fields are
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
    /// Twilio's SID.
    pub sid: Option<String>,
    /// Twilio's error code.
    pub error_code: Option<i64>,
    /// The reason of a failure.
    pub error_message: Option<String>,
    /// The status-history line; `None` records no history (e.g. a plain retry reschedule
    /// already described by its attempt).
    pub history: Option<String>,
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
    /// Twilio's HTTP status; none on timeout, connection error or dry-run.
    pub http_status: Option<u16>,
    /// The SID Twilio returned.
    pub sid: Option<String>,
    /// Twilio's error code.
    pub error_code: Option<i64>,
    /// Twilio's error message, or the transport error.
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
    /// Why, or what Twilio said.
    pub detail: Option<String>,
}

/// Whether an inbound SMS changes the sender's opt-out state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptChange {
    /// STOP and its synonyms: the number is opted out.
    OptOut,
    /// START and its synonyms: the opt-out is cleared.
    OptIn,
}

/// A Twilio status callback (message or call) as received, for [`Store::record_status_callback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// `MessageSid` or `CallSid`.
    pub sid: String,
    /// `MessageStatus` or `CallStatus`.
    pub status: String,
    /// `SequenceNumber`, when Twilio sent one (part of the dedupe key).
    pub sequence: Option<String>,
    /// The status's place in its lifecycle: the current delivery status only moves to a higher
    /// rank; `None` for a status with no place (kept in history, never current).
    pub rank: Option<u8>,
    /// `ErrorCode`, when present.
    pub error_code: Option<i64>,
    /// A readable summary for the history line, e.g. `ErrorCode=30003`.
    pub detail: Option<String>,
    /// Every received parameter, as a JSON object.
    pub params: String,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
}

/// What [`Store::record_status_callback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The same (SID, status, sequence) was already recorded; nothing changed.
    Duplicate,
    /// Stored. `outbox_id` is the message with that SID (none for an unknown SID); `advanced`
    /// says whether it became the message's current delivery status.
    Recorded {
        /// The outbox row holding the SID.
        outbox_id: Option<i64>,
        /// Whether the current delivery status changed.
        advanced: bool,
    },
}

/// An inbound SMS as received, for [`Store::record_inbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// `MessageSid`, the dedupe key.
    pub sid: String,
    /// `From`: the customer's (or staff member's) number.
    pub from: String,
    /// `To`: our Twilio number.
    pub to: String,
    /// `Body`.
    pub body: String,
    /// `OptOutType` when Twilio sent one (STOP, START, HELP).
    pub opt_out_type: Option<String>,
    /// The opt-out change to apply with it, atomically.
    pub opt_change: Option<OptChange>,
    /// Every received parameter, as a JSON object.
    pub params: String,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
}

/// A stored inbound SMS with what it was linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// The message as received.
    pub message: InboundMessage,
    /// The most recent message sent to its sender when it arrived.
    pub outbox_id: Option<i64>,
    /// That message's source event.
    pub event_id: Option<String>,
}

/// A cached Lookups v2 answer for one E.164 number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRecord {
    /// The E.164 number.
    pub number: String,
    /// Lookups' `valid`.
    pub valid: bool,
    /// `line_type_intelligence.type`, e.g. `mobile`, `landline`.
    pub line_type: Option<String>,
    /// Validation errors or other detail worth showing.
    pub detail: Option<String>,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

/// An opted-out number (a STOP reply, or Twilio's 21610).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// The E.164 number.
    pub number: String,
    /// When it opted out.
    pub at: DateTime<Utc>,
    /// Why, e.g. the reply that opted it out.
    pub reason: String,
}

/// An opt-out cleared by an operator (`ml-connector optouts clear`), kept for the audit
/// (schema version 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutClearance {
    /// The E.164 number.
    pub number: String,
    /// Who cleared it (`--by`, else the OS user).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The opt-out that was cleared.
    pub cleared: OptOut,
}

/// Which messages [`Store::list_messages`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this event's messages.
    pub event_id: Option<String>,
    /// Only messages in this status.
    pub status: Option<OutboxStatus>,
    /// Only messages last changed (or created) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The callback [`Store::rotate_secrets`] applies to each sealed secret: `(name, sealed)` in,
/// the value sealed with the new key out.
pub type ResealFn<'a> = dyn Fn(&str, &[u8]) -> std::result::Result<Vec<u8>, Cause> + 'a;

/// The durable store. Object-safe: the pipeline holds an `Arc<dyn Store>`.
///
/// Every write that the host acknowledges (a webhook's 2xx, a dispatch) is durable when the
/// method returns.
pub trait Store: Send + Sync {
    /// Stores one event; a repeat of a stored id changes nothing and returns `Duplicate`.
    fn insert_event(&self, event: &NewEvent) -> Result<InsertOutcome>;

    /// Stores many events in one transaction (group commit), one outcome per event in order.
    /// A repeat within the batch is a `Duplicate` too.
    fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>>;

    /// Up to `limit` pending events, oldest first. Claims are not locked: one dispatcher per
    /// database runs them, and an event stays pending until [`Store::complete_dispatch`], so a
    /// crash mid-dispatch runs it again (outbox keys make that safe).
    fn claim_pending_events(&self, limit: usize) -> Result<Vec<StoredEvent>>;

    /// Commits dispatches in ONE transaction (one fsync for the batch). For each event, in
    /// order: cancels, then new outbox rows (an existing (event, plugin, key) is kept as is,
    /// so a re-run never duplicates), failures, and the event's status (`failed` if any
    /// plugin failed, else `dispatched`) with attempts + 1. All or nothing.
    fn complete_dispatches(&self, batch: &[(&str, &DispatchResult)]) -> Result<()>;

    /// [`Store::complete_dispatches`] for a single event.
    fn complete_dispatch(&self, event_id: &str, result: &DispatchResult) -> Result<()> {
        self.complete_dispatches(&[(event_id, result)])
    }

    /// Sets an event back to pending so the dispatcher runs it again. `false` if unknown.
    fn replay_event(&self, event_id: &str) -> Result<bool>;

    /// Up to `limit` events, newest first.
    fn list_events(&self, limit: usize) -> Result<Vec<StoredEvent>>;

    /// One event by id.
    fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>>;

    /// Every plugin failure recorded for an event, oldest first.
    fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>>;

    /// Up to `limit` outbox rows, newest first.
    fn list_outbox(&self, limit: usize) -> Result<Vec<OutboxRow>>;

    /// Stores (or replaces) a sealed secret.
    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()>;

    /// A sealed secret by name.
    fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Names of all stored secrets with when each was last written, sorted by name.
    fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>>;

    /// Whether any secret is stored (so the host knows a master key is required).
    fn has_secrets(&self) -> Result<bool>;

    /// Re-encrypts every secret with `reseal` in one transaction: all rows change or none.
    /// Returns how many were rewritten.
    fn rotate_secrets(&self, reseal: &ResealFn<'_>) -> Result<usize>;

    /// Checks the store answers, for `/healthz`.
    fn ping(&self) -> Result<()>;

    /// Up to `limit` messages the sender should work on now, oldest first: `pending` ones whose
    /// `next_attempt_at` (else `not_before`) has passed, and `sending` ones (left by a crash).
    fn claim_due_messages(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxMessage>>;

    /// The earliest time a pending message becomes due, if any is scheduled in the future.
    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>>;

    /// One message by outbox id.
    fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>>;

    /// Messages matching `filter`, newest first.
    fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>>;

    /// Applies a state change and records `attempt` (if any) and the history line, in one
    /// transaction. Only a `pending` or `sending` row changes: `false` (and nothing written) if
    /// the row was cancelled, replayed or finished meanwhile.
    fn update_message(&self, update: &MessageUpdate, attempt: Option<&Attempt>) -> Result<bool>;

    /// Every attempt of a message, oldest first.
    fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>>;

    /// Every status change of a message, oldest first.
    fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>>;

    /// Re-queues a failed or undeliverable message as a new attempt series (history kept).
    /// `false` if it is unknown or in another status.
    fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool>;

    /// Records that `number` opted out (Twilio 21610); later messages to it are not sent.
    fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()>;

    /// Whether `number` opted out.
    fn is_opted_out(&self, number: &str) -> Result<bool>;

    /// Clears an opt-out (the number replied START). `false` if it was not opted out.
    fn clear_opt_out(&self, number: &str) -> Result<bool>;

    /// Records a Twilio status callback in one transaction: the dedupe row (also for unknown
    /// SIDs), and for a known SID a history line, and the delivery status when the callback's
    /// rank is above the current one (a late status never moves a message backwards).
    fn record_status_callback(&self, callback: &StatusCallback) -> Result<CallbackOutcome>;

    /// Records an inbound SMS in one transaction, linked to the most recent message sent to its
    /// sender, applying its opt-out change. A repeated MessageSid changes nothing and returns
    /// `Duplicate`. Also returns the linked record as stored.
    fn record_inbound(&self, message: &InboundMessage) -> Result<(InsertOutcome, InboundRecord)>;

    /// Inbound replies linked to a message, oldest first.
    fn list_replies(&self, outbox_id: i64) -> Result<Vec<InboundRecord>>;

    /// The current delivery status Twilio reported for a message, if any.
    fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>>;

    /// The cached Lookups answer for `number`.
    fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>>;

    /// Caches a Lookups answer (replacing an older one).
    fn put_lookup(&self, record: &LookupRecord) -> Result<()>;

    // Opt-outs by hand (`ml-connector optouts`, schema version 4).

    /// Every opted-out number, most recent first.
    fn list_opt_outs(&self) -> Result<Vec<OptOut>>;

    /// Clears `number`'s opt-out on an operator's word and records who and when, in one
    /// transaction. `None` (and nothing recorded) if the number was not opted out.
    fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>>;

    /// Opt-outs cleared by hand, newest first, for one number or all; at most `limit`.
    fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>>;
}
