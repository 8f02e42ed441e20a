//! The durable store, split by concern into object-safe async traits so that every stage names
//! only what it uses and never a database: [`InboxStore`] (events in, claimed, dispatched),
//! [`OutboxStore`] (messages out), [`SecretStore`] (sealed credentials), [`CursorStore`]
//! (where pollers left off), and the Twilio sink's own state
//! ([`TwilioStore`](crate::sinks::twilio::state::TwilioStore)), which the sink defines.
//!
//! Claims are [leases](Lease): several processes can share one database. A backend is one
//! folder implementing [`Store`] (all of the above) that passes the conformance suite in
//! `conformance.rs`; [`open`] picks it from the configuration. SQLite is the embedded default.

mod cursors;
mod error;
mod inbox;
mod lease;
mod outbox;
mod plugins;
pub mod postgres;
mod runs;
mod secrets;
pub mod sqlite;
mod wakes;

#[cfg(test)]
pub(crate) mod conformance;

use std::sync::Arc;

use async_trait::async_trait;

pub use self::cursors::{Cursor, CursorStore};
pub use self::error::{Cause, Result, StoreError};
pub use self::inbox::{
    CustomerNumbers, DispatchResult, EventFilter, EventStatus, FailureRecord, InboxStore, InsertOutcome, NewEvent, NewMessage,
    PluginFailure, StoredEvent,
};
pub use self::lease::{DEFAULT_TTL as DEFAULT_LEASE_TTL, Lease};
pub use self::outbox::{
    Attempt, HistoryRecord, HourlyCount, MessageFilter, MessageUpdate, OutboxMessage, OutboxRow, OutboxStatus, OutboxStore, RecordHistory,
};
pub use self::plugins::{InstalledPlugin, PluginStore, ShadowResult};
pub use self::runs::{NewRun, RecordedContext, RunFilter, RunStore, StoredRun};
pub use self::secrets::{ResealFn, SecretStore};
pub use self::wakes::Wakes;
use crate::config::StoreConfig;
use crate::sinks::twilio::state::TwilioStore;

/// A text enum's stored form: `as_str`, `parse` and `Display`.
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

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

/// Everything a backend stores. Stages hold the narrower trait they need, upcast from an
/// `Arc<dyn Store>`.
///
/// Every write that the host acknowledges (a webhook's 2xx, a dispatch) is durable when the
/// method returns.
#[async_trait]
pub trait Store: InboxStore + OutboxStore + SecretStore + CursorStore + RunStore + PluginStore + TwilioStore {
    /// Checks the store answers, for `/healthz`.
    async fn ping(&self) -> Result<()>;

    /// Where the data lives, for messages (a path, or a URL without its password).
    fn location(&self) -> String;

    /// Fires `wakes` when another process sharing the store gives this one work (PostgreSQL's
    /// `LISTEN`); a store only one process writes does nothing.
    fn watch(&self, _wakes: Wakes) {}
}

/// Opens (and migrates) the store `config` names: PostgreSQL when `url` is set, else SQLite.
/// Connecting to PostgreSQL blocks this worker thread, so it needs a multi-threaded runtime.
pub fn open(config: &StoreConfig) -> Result<Arc<dyn Store>> {
    match &config.url {
        Some(url) => Ok(Arc::new(postgres::PgStore::open_blocking(url)?)),
        None => Ok(Arc::new(sqlite::SqliteStore::open_capped(&config.path, config.max_size_mib)?)),
    }
}
