//! Where each polling source left off: an opaque text per poller, saved only after the events
//! it covers are committed, so a restart re-reads at most one cycle (and event ids dedupe it).
//! A cursor is also the poller's lease, so of several replicas one polls a source at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Lease, Result};

/// A saved cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The poller's own text (a watermark, a page token, JSON…).
    pub value: String,
    /// When it was saved.
    pub updated_at: DateTime<Utc>,
}

/// Cursors by poller name.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The cursor saved under `name`, if any.
    async fn get_cursor(&self, name: &str) -> Result<Option<Cursor>>;

    /// Saves (or replaces) the cursor under `name`.
    async fn put_cursor(&self, name: &str, value: &str) -> Result<()>;

    /// Every saved cursor, sorted by name.
    async fn list_cursors(&self) -> Result<Vec<(String, Cursor)>>;

    /// Takes (or renews) the right to poll `name` for `lease`: `false` while another holder's
    /// lease on it lives.
    async fn lease_cursor(&self, name: &str, lease: &Lease) -> Result<bool>;

    /// Gives the right to poll `name` back (nothing happens unless `lease` holds it).
    async fn release_cursor(&self, name: &str, lease: &Lease) -> Result<()>;
}
