//! [`StoreError`]: what every store trait returns, with the temporary failures (busy, full,
//! unreachable) told apart so the HTTP edge answers 503 and the caller retries.

use std::sync::Arc;

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A backend failure, shared so one batch failure can be reported to every submitter.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Errors from the store. `Clone` because the inbox answers a whole batch with one error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database is busy, locked, full or unreachable: retrying later may succeed, so the HTTP
    /// layer answers 503 (and the sender of the webhook retries).
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
    /// The database cannot be opened or prepared.
    #[error("cannot open store {path}: {cause}")]
    Open {
        /// The database location (never with a password).
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
    /// The inbox's writer has stopped.
    #[error("ingest queue is closed")]
    IngestClosed,
    /// The inbox's queue is full: the submitter should retry shortly (503 with `Retry-After`).
    #[error("ingest queue is full")]
    IngestFull,
    /// A remote id (Twilio's SID) is already held by another message: one SID, one message.
    #[error("sid {sid} is already held by message {holder}")]
    SidTaken {
        /// The SID refused.
        sid: String,
        /// The outbox id holding it.
        holder: i64,
    },
}

impl StoreError {
    /// Whether the failure is temporary (busy, locked, disk full, I/O, queue stopped), which the
    /// HTTP layer maps to 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::IngestClosed | Self::IngestFull)
    }

    /// A backend failure of `op` from any error.
    pub fn backend(op: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend { op, cause: Arc::new(cause) }
    }

    /// A temporary failure of `op` from any error.
    pub fn unavailable(op: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable { op, cause: Arc::new(cause) }
    }
}
