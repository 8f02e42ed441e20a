//! Replaying a failed message or an event: the one code path that `messages replay`,
//! `events replay` and the web console's replay forms share.

use chrono::Utc;

use crate::store::{InboxStore, OutboxStatus, OutboxStore, StoreError};

/// Why a replay did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No message has this outbox id.
    #[error("no message has outbox id {0}")]
    UnknownMessage(i64),
    /// The message is in a status that is not replayed.
    #[error("message {id} is {status}; only failed and undeliverable messages are replayed")]
    NotReplayable {
        /// The outbox id.
        id: i64,
        /// Its status.
        status: OutboxStatus,
    },
    /// No event has this id.
    #[error("no stored event has id {0:?}")]
    UnknownEvent(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Re-queues failed or undeliverable message `id` as a new attempt series (its history kept);
/// returns the new series' number.
pub async fn replay_message(store: &dyn OutboxStore, id: i64) -> Result<u32, ReplayError> {
    let message = store.get_message(id).await?.ok_or(ReplayError::UnknownMessage(id))?;
    if !message.row.status.is_replayable() {
        return Err(ReplayError::NotReplayable { id, status: message.row.status });
    }
    if !store.requeue_message(id, Utc::now()).await? {
        // Replayed (or otherwise changed) by someone else between the read and the write.
        let status = store.get_message(id).await?.map_or(message.row.status, |m| m.row.status);
        return Err(ReplayError::NotReplayable { id, status });
    }
    Ok(message.series + 1)
}

/// Sets event `event_id` back to pending so the dispatcher runs the plugins on it again (outbox
/// rows are unique by event, plugin and key: nothing is duplicated).
pub async fn replay_event(store: &dyn InboxStore, event_id: &str) -> Result<(), ReplayError> {
    if store.replay_event(event_id).await? { Ok(()) } else { Err(ReplayError::UnknownEvent(event_id.to_owned())) }
}
