//! The inbox's side of the store: verified events in, leased claims by dispatchers, and the
//! atomic commit of a dispatch (its outbox rows, cancels and plugin failures with the event's
//! new status).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Lease, Result};
use crate::model::{Channel, Recipient};

/// A verified event to store in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The source's event id. It is the store-wide key, so sources whose ids could collide with
    /// another source's namespace them (Wave's `event_id` is a UUID; QAD's are `qad:…`).
    pub id: String,
    /// Where the event came from, e.g. `wave`.
    pub source: String,
    /// The event type, e.g. `invoice.paid`.
    pub kind: String,
    /// The business (tenant) the event belongs to, when the source has one.
    pub business_id: Option<String>,
    /// The source record the event is about, e.g. `qad:acme:purchase_order:PO-77`: its messages,
    /// their delivery status and replies are shown together by `audit --record`.
    pub record: Option<String>,
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
    /// Waiting for a dispatcher.
    Pending,
    /// Every subscribed plugin ran and its messages are in the outbox.
    Dispatched,
    /// At least one plugin failed; the others' messages are in the outbox. Replay to retry.
    Failed,
}

super::text_enum!(EventStatus { Pending = "pending", Dispatched = "dispatched", Failed = "failed" });

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
    /// The source record it is about.
    pub record: Option<String>,
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
    /// The version of the plugin that failed (the SHA-256 of its wasm, hex), when recorded.
    pub plugin_version: Option<String>,
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
    /// The abstract recipient.
    pub to: Recipient,
    /// The text (SMS body, or what the call says).
    pub body: String,
    /// Not to be sent before this time (scheduled reminders).
    pub not_before: Option<DateTime<Utc>>,
}

/// Everything one dispatch of an event produced, committed atomically by
/// [`InboxStore::complete_dispatches`].
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
    /// each new outbox row so quiet hours are read in it.
    pub timezone: Option<String>,
    /// The context the plugins were given, recorded with their runs.
    pub context: Option<super::RecordedContext>,
    /// What each plugin that ran decided (or why it failed), for replays and shadow runs.
    pub runs: Vec<super::NewRun>,
}

impl DispatchResult {
    /// The version of `plugin` that ran, from its recorded run.
    pub fn plugin_version(&self, plugin: &str) -> Option<&str> {
        self.runs.iter().find(|r| r.plugin == plugin).map(|r| r.digest.as_str())
    }
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

/// Which events [`InboxStore::list_events`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only events about this record.
    pub record: Option<String>,
    /// Skip this many (paging).
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

impl EventFilter {
    /// The newest `limit` events.
    pub fn newest(limit: usize) -> Self {
        Self { limit, ..Self::default() }
    }
}

/// Events in, claimed and dispatched.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores events in ONE transaction (group commit), one outcome per event in order. A repeat
    /// of a stored id, or within the batch, is a `Duplicate` and changes nothing.
    async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<InsertOutcome>>;

    /// Leases up to `limit` pending events, oldest first, that no live lease holds.
    async fn claim_events(&self, lease: &Lease, limit: usize) -> Result<Vec<StoredEvent>>;

    /// Gives leased events back untouched, so they wait for the next claim (e.g. while
    /// enrichment is unavailable).
    async fn release_events(&self, lease: &Lease, ids: Vec<String>) -> Result<()>;

    /// Commits dispatches in ONE transaction. For each event still pending and either held by
    /// `lease` or unclaimed, in order: cancels, new outbox rows (an existing (event, plugin, key)
    /// is kept as is, so a re-run never duplicates), failures, and the event's status (`failed`
    /// if any plugin failed, else `dispatched`) with attempts + 1 and its lease released. An event
    /// whose lease was taken over (or that is no longer pending) is skipped with nothing written,
    /// and its id returned. All or nothing for the rest. An unknown event fails the whole batch.
    async fn complete_dispatches(&self, lease: &Lease, batch: Vec<(String, DispatchResult)>) -> Result<Vec<String>>;

    /// Sets an event back to pending (releasing any lease) so a dispatcher runs it again.
    /// `false` if unknown.
    async fn replay_event(&self, event_id: &str) -> Result<bool>;

    /// Events matching `filter`, newest first.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>>;

    /// One event by id.
    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>>;

    /// Every plugin failure recorded for an event, oldest first.
    async fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>>;

    /// The newest `limit` plugin failures of any event, newest first, with their event's id.
    async fn recent_failures(&self, limit: usize) -> Result<Vec<(String, FailureRecord)>>;
}
