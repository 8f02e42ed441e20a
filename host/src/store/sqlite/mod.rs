//! SQLite backend of the store: one writer connection and a small pool of readers in WAL mode,
//! with `synchronous = FULL` so that a returned write (and so a webhook's 2xx) survives power
//! loss. rusqlite is synchronous; every call runs on tokio's blocking pool.

mod cursors;
mod group;
mod inbox;
mod migration_v7;
mod migration_v8;
mod migrations;
mod optouts;
mod outbox;
mod plugins;
mod runs;
mod secrets;
mod twilio;

pub(crate) use self::inbox::summarize_failures;
pub(crate) use self::twilio::{judge_callback, moved_lines};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{Result, Store, StoreError};

/// How long a statement waits for another process's lock (e.g. a CLI command) before failing
/// as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle reader connections kept open; more are opened under load and closed after use. Opening
/// one reads the schema, which under a sending burst (each message's opt-out is a read) cost
/// more than the reads themselves with only 4 kept.
const IDLE_READERS: usize = 16;

/// The SQLite store. Writes go through one connection, reads through others, so reads never
/// wait behind a group commit.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    queue: group::Queue,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// A database written by a newer build is refused with [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_capped(path, None)
    }

    /// [`SqliteStore::open`], the database capped at `max_size_mib` MiB when set: a write that
    /// would grow it further fails as [`StoreError::Unavailable`] (SQLite's `SQLITE_FULL`, as
    /// on a full disk), which webhooks answer with 503. A database already larger keeps its
    /// size as the cap (SQLite never lowers `max_page_count` below the pages in use).
    pub fn open_capped(path: &Path, max_size_mib: Option<u64>) -> Result<Self> {
        let shown = path.display().to_string();
        let open_error = |cause: rusqlite::Error| StoreError::Open { path: shown.clone(), cause: Arc::new(cause) };
        let mut writer = Connection::open(path).map_err(open_error)?;
        // Check before anything writes to the file: WAL mode changes its header.
        let found = migrations::user_version(&writer).map_err(open_error)?;
        migrations::refuse_newer(&shown, found)?;
        // WAL cannot be switched inside a transaction, so it is set before migrating.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %shown, mode, "Store could not enable WAL; readers will block writers.");
        }
        configure(&writer).map_err(open_error)?;
        migrations::migrate(&mut writer, &shown)?;
        if let Some(mib) = max_size_mib {
            cap_size(&writer, mib, &shown).map_err(open_error)?;
        }
        let store = SqliteStore {
            inner: Arc::new(Inner { path: path.to_owned(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()), queue: group::Queue::default() }),
        };
        // Fail now, not on the first read, if a reader cannot be opened.
        let reader = store.inner.open_reader().map_err(open_error)?;
        store.inner.readers().push(reader);
        Ok(store)
    }

    /// Runs `f` on the writer connection, on the blocking pool.
    async fn write<T: Send + 'static>(&self, op: &'static str, f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut inner.writer())).await.map_err(|e| StoreError::backend(op, e))?
    }

    /// Runs `f` on a reader connection, on the blocking pool.
    async fn read<T: Send + 'static>(&self, op: &'static str, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers().pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => inner.open_reader().op(op)?,
            };
            let result = f(&conn);
            let mut idle = inner.readers();
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::backend(op, e))?
    }

    /// The writer connection, for tests that inspect or lock the database.
    #[cfg(test)]
    fn writer_connection(&self) -> MutexGuard<'_, Connection> {
        self.inner.writer()
    }
}

impl Inner {
    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic cannot leave the connection mid-transaction (rusqlite rolls back on drop, and
        // a group commit cut short is rolled back here), so a poisoned lock still guards a usable
        // connection.
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }

    fn readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_reader(&self) -> rusqlite::Result<Connection> {
        let reader = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        configure(&reader)?;
        reader.pragma_update(None, "query_only", true)?;
        Ok(reader)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read("ping", |conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).op("ping").map(drop)).await
    }

    fn location(&self) -> String {
        self.inner.path.display().to_string()
    }
}

/// Per-connection settings.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // FULL: WAL commits are fsynced, so an acknowledged webhook is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of the hot paths (ingest, dispatch, claims, message updates, group commit).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Caps the database behind the writer `conn` at `mib` MiB (`PRAGMA max_page_count`, which
/// lasts as long as the connection).
fn cap_size(conn: &Connection, mib: u64, shown: &str) -> rusqlite::Result<()> {
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let pages = mib.saturating_mul(1024 * 1024) / page_size.max(1);
    let cap: u64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| row.get(0))?;
    if cap > pages {
        tracing::warn!(path = %shown, max_size_mib = mib, size_mib = cap * page_size / (1024 * 1024), "Store is already larger than store.max_size_mib; it is capped at its current size.");
    }
    Ok(())
}

/// Converts rusqlite errors into [`StoreError`], naming the operation and telling temporary
/// conditions apart.
pub(crate) trait SqlResultExt<T> {
    /// Maps the error for operation `op`.
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|err| {
            let temporary = matches!(
                err.sqlite_error_code(),
                Some(
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::CannotOpen
                        | ErrorCode::OutOfMemory
                        | ErrorCode::ReadOnly
                )
            );
            if temporary { StoreError::unavailable(op, err) } else { StoreError::backend(op, err) }
        })
    }
}

/// Unix milliseconds, as every backend stores times.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time back, or [`StoreError::Corrupt`] naming `table`.
pub(crate) fn from_millis(table: &'static str, ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt { table, reason: format!("timestamp {ms} out of range") })
}

/// A row limit as SQL's `BIGINT`.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
