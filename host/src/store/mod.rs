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

/// A message channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A text message.
    Sms,
    /// A voice call reading the body.
    Call,
}

/// Where an outbox message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting to be sent (at or after `not_before`).
    Pending,
    /// Cancelled by a plugin before it was sent.
    Cancelled,
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
text_enum!(Channel { Sms = "sms", Call = "call" });
text_enum!(OutboxStatus { Pending = "pending", Cancelled = "cancelled" });

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
    pub to: String,
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
    pub to: String,
    /// The text.
    pub body: String,
    /// Not to be sent before this time.
    pub not_before: Option<DateTime<Utc>>,
    /// Where the message is in its life.
    pub status: OutboxStatus,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
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
}
