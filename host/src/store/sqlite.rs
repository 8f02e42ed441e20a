//! SQLite backend of the store: one writer connection and one reader connection in WAL mode, with
//! `synchronous = FULL` so that a returned write (and so a webhook's 2xx) survives power loss.

mod migrations;
mod optouts;
mod sender;
mod twilio_in;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension as _, Transaction, TransactionBehavior,
    params,
};

use super::{
    Attempt, DispatchResult, EventStatus, FailureRecord, HistoryRecord, InsertOutcome,
    LookupRecord, MessageFilter, MessageUpdate, NewEvent, OutboxMessage, OutboxRow, ResealFn, Result, Store, StoreError, StoredEvent,
};
use super::{OptOut, OptOutClearance};

/// How long a statement waits for another process's lock (e.g. a CLI command) before failing
/// as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest `last_error` summary kept on an event; the full causes are in `plugin_failures`.
const LAST_ERROR_MAX_CHARS: usize = 1000;

const EVENT_COLUMNS: &str =
    "id, source, kind, business_id, received_at, data, status, attempts, last_error, dispatched_at";

/// The SQLite store. Writes go through one connection, reads through another, so reads never
/// wait behind a group commit.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// A database written by a newer build is refused with [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let open_error = |cause: rusqlite::Error| StoreError::Open {
            path: shown.clone(),
            cause: Arc::new(cause),
        };
        let mut writer = Connection::open(path).map_err(open_error)?;
        // Check before anything writes to the file: WAL mode changes its header.
        let found = migrations::user_version(&writer).map_err(open_error)?;
        migrations::refuse_newer(&shown, found)?;
        // WAL cannot be switched inside a transaction, so it is set before migrating.
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %shown, mode, "Store could not enable WAL; readers will block writers.");
        }
        configure(&writer).map_err(open_error)?;
        migrations::migrate(&mut writer, &shown)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        configure(&reader).map_err(open_error)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(open_error)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic cannot leave the connection mid-transaction (rusqlite rolls back on drop),
        // so a poisoned lock still guards a usable connection.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per-connection settings.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // FULL: WAL commits are fsynced, so an acknowledged webhook is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(32);
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
                )
            );
            let cause = Arc::new(err);
            if temporary {
                StoreError::Unavailable { op, cause }
            } else {
                StoreError::Backend { op, cause }
            }
        })
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(table: &'static str, ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt {
        table,
        reason: format!("timestamp {ms} out of range"),
    })
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// An `events` row as read, before validation.
struct EventRow {
    id: String,
    source: String,
    kind: String,
    business_id: Option<String>,
    received_at: i64,
    data: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    dispatched_at: Option<i64>,
}

impl EventRow {
    /// Reads the columns of [`EVENT_COLUMNS`], in order.
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            source: row.get(1)?,
            kind: row.get(2)?,
            business_id: row.get(3)?,
            received_at: row.get(4)?,
            data: row.get(5)?,
            status: row.get(6)?,
            attempts: row.get(7)?,
            last_error: row.get(8)?,
            dispatched_at: row.get(9)?,
        })
    }

    fn into_event(self) -> Result<StoredEvent> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "events",
            reason,
        };
        Ok(StoredEvent {
            status: EventStatus::parse(&self.status).ok_or_else(|| {
                corrupt(format!("event {} has status {:?}", self.id, self.status))
            })?,
            attempts: u32::try_from(self.attempts).map_err(|_| {
                corrupt(format!("event {} has {} attempts", self.id, self.attempts))
            })?,
            received_at: from_millis("events", self.received_at)?,
            dispatched_at: self
                .dispatched_at
                .map(|ms| from_millis("events", ms))
                .transpose()?,
            id: self.id,
            source: self.source,
            kind: self.kind,
            business_id: self.business_id,
            data: self.data,
            last_error: self.last_error,
        })
    }
}

fn query_events(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(sql).op(op)?;
    let rows = stmt
        .query_map(params, EventRow::read)
        .op(op)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(op)?;
    rows.into_iter().map(EventRow::into_event).collect()
}

fn insert_event_in(tx: &Transaction<'_>, event: &NewEvent) -> Result<InsertOutcome> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (id, source, kind, business_id, received_at, body, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO NOTHING",
        )
        .op("insert event")?;
    let changed = stmt
        .execute(params![
            event.id,
            event.source,
            event.kind,
            event.business_id,
            millis(event.received_at),
            event.body,
            event.data,
        ])
        .op("insert event")?;
    Ok(if changed == 0 {
        InsertOutcome::Duplicate
    } else {
        InsertOutcome::Inserted
    })
}

/// `plugin: cause; plugin: cause`, capped at [`LAST_ERROR_MAX_CHARS`].
fn summarize_failures(result: &DispatchResult) -> Option<String> {
    if result.failures.is_empty() {
        return None;
    }
    let summary = result
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.plugin, f.cause))
        .collect::<Vec<_>>()
        .join("; ");
    if summary.chars().count() <= LAST_ERROR_MAX_CHARS {
        return Some(summary);
    }
    let mut cut: String = summary.chars().take(LAST_ERROR_MAX_CHARS - 1).collect();
    cut.push('…');
    Some(cut)
}

impl Store for SqliteStore {
    fn insert_event(&self, event: &NewEvent) -> Result<InsertOutcome> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("begin insert event")?;
        let outcome = insert_event_in(&tx, event)?;
        tx.commit().op("commit insert event")?;
        Ok(outcome)
    }

    fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op("begin insert events")?;
        let outcomes = events
            .iter()
            .map(|event| insert_event_in(&tx, event))
            .collect::<Result<Vec<_>>>()?;
        tx.commit().op("commit insert events")?;
        Ok(outcomes)
    }

    fn claim_pending_events(&self, limit: usize) -> Result<Vec<StoredEvent>> {
        query_events(
            &self.reader(),
            "claim pending events",
            &format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE status = 'pending' ORDER BY seq LIMIT ?1"
            ),
            [sql_limit(limit)],
        )
    }

    fn complete_dispatches(&self, batch: &[(&str, &DispatchResult)]) -> Result<()> {
        const OP: &str = "complete dispatch";
        let now = millis(Utc::now());
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op(OP)?;
        for (event_id, result) in batch {
            apply_dispatch(&tx, event_id, result, now)?;
        }
        tx.commit().op(OP)
    }

    fn replay_event(&self, event_id: &str) -> Result<bool> {
        let changed = self
            .writer()
            .execute(
                "UPDATE events SET status = 'pending' WHERE id = ?1",
                [event_id],
            )
            .op("replay event")?;
        Ok(changed > 0)
    }

    fn list_events(&self, limit: usize) -> Result<Vec<StoredEvent>> {
        query_events(
            &self.reader(),
            "list events",
            &format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT ?1"),
            [sql_limit(limit)],
        )
    }

    fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
        Ok(query_events(
            &self.reader(),
            "get event",
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"),
            [event_id],
        )?
        .pop())
    }

    fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>> {
        const OP: &str = "list failures";
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT plugin, cause, at FROM plugin_failures WHERE event_id = ?1 ORDER BY id",
            )
            .op(OP)?;
        let rows = stmt
            .query_map([event_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .op(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .op(OP)?;
        rows.into_iter()
            .map(|(plugin, cause, at)| {
                Ok(FailureRecord {
                    plugin,
                    cause,
                    at: from_millis("plugin_failures", at)?,
                })
            })
            .collect()
    }

    fn list_outbox(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        let filter = MessageFilter { limit, ..MessageFilter::default() };
        Ok(sender::list(&self.reader(), &filter)?.into_iter().map(|m| m.row).collect())
    }

    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO secrets (name, sealed, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed,
                                                  updated_at = excluded.updated_at",
                params![name, sealed, millis(Utc::now())],
            )
            .op("put secret")?;
        Ok(())
    }

    fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.reader()
            .query_row(
                "SELECT sealed FROM secrets WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
            .op("get secret")
    }

    fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        const OP: &str = "list secrets";
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached("SELECT name, updated_at FROM secrets ORDER BY name")
            .op(OP)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .op(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .op(OP)?;
        rows.into_iter()
            .map(|(name, at)| Ok((name, from_millis("secrets", at)?)))
            .collect()
    }

    fn has_secrets(&self) -> Result<bool> {
        self.reader()
            .query_row("SELECT EXISTS (SELECT 1 FROM secrets)", [], |row| {
                row.get(0)
            })
            .op("check secrets")
    }

    fn rotate_secrets(&self, reseal: &ResealFn<'_>) -> Result<usize> {
        const OP: &str = "rotate secrets";
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .op(OP)?;
        let rows = {
            let mut stmt = tx
                .prepare("SELECT name, sealed FROM secrets ORDER BY name")
                .op(OP)?;
            stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .op(OP)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .op(OP)?
        };
        let now = millis(Utc::now());
        for (name, sealed) in &rows {
            let resealed = reseal(name, sealed).map_err(|cause| StoreError::Rotate {
                name: name.clone(),
                cause,
            })?;
            tx.execute(
                "UPDATE secrets SET sealed = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, resealed, now],
            )
            .op(OP)?;
        }
        tx.commit().op(OP)?;
        Ok(rows.len())
    }

    fn ping(&self) -> Result<()> {
        self.reader()
            .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
            .op("ping")?;
        Ok(())
    }

    fn claim_due_messages(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxMessage>> {
        sender::claim_due(&self.reader(), now, limit)
    }

    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        sender::next_due_at(&self.reader())
    }

    fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        sender::get(&self.reader(), id)
    }

    fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>> {
        sender::list(&self.reader(), filter)
    }

    fn update_message(&self, update: &MessageUpdate, attempt: Option<&Attempt>) -> Result<bool> {
        sender::update(&mut self.writer(), update, attempt)
    }

    fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>> {
        sender::attempts(&self.reader(), outbox_id)
    }

    fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>> {
        sender::history(&self.reader(), outbox_id)
    }

    fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        sender::requeue(&mut self.writer(), id, at)
    }

    fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO opt_outs (number, at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (number) DO UPDATE SET at = excluded.at, reason = excluded.reason",
                params![number, millis(at), reason],
            )
            .op("record opt-out")?;
        Ok(())
    }

    fn is_opted_out(&self, number: &str) -> Result<bool> {
        self.reader()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = ?1)",
                [number],
                |row| row.get(0),
            )
            .op("check opt-out")
    }

    fn clear_opt_out(&self, number: &str) -> Result<bool> {
        let n = self
            .writer()
            .execute("DELETE FROM opt_outs WHERE number = ?1", [number])
            .op("clear opt-out")?;
        Ok(n > 0)
    }

    fn record_status_callback(
        &self,
        callback: &crate::store::StatusCallback,
    ) -> Result<crate::store::CallbackOutcome> {
        twilio_in::record_callback(&mut self.writer(), callback)
    }

    fn record_inbound(
        &self,
        message: &crate::store::InboundMessage,
    ) -> Result<(InsertOutcome, crate::store::InboundRecord)> {
        twilio_in::record_inbound(&mut self.writer(), message)
    }

    fn list_replies(&self, outbox_id: i64) -> Result<Vec<crate::store::InboundRecord>> {
        twilio_in::replies(&self.reader(), outbox_id)
    }

    fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>> {
        use rusqlite::OptionalExtension as _;
        Ok(self
            .reader()
            .query_row(
                "SELECT delivery_status FROM outbox WHERE id = ?1",
                [outbox_id],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()
            .op("read delivery status")?
            .flatten())
    }

    fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>> {
        sender::get_lookup(&self.reader(), number)
    }

    fn put_lookup(&self, record: &LookupRecord) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO lookups (number, valid, line_type, detail, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (number) DO UPDATE SET valid = excluded.valid,
                   line_type = excluded.line_type, detail = excluded.detail,
                   fetched_at = excluded.fetched_at",
                params![
                    record.number,
                    record.valid,
                    record.line_type,
                    record.detail,
                    millis(record.fetched_at)
                ],
            )
            .op("cache lookup")?;
        Ok(())
    }

    // Opt-outs by hand (schema version 4).

    fn list_opt_outs(&self) -> Result<Vec<OptOut>> {
        optouts::list(&self.reader())
    }

    fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>> {
        optouts::clear(&mut self.writer(), number, by, at)
    }

    fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>> {
        optouts::clearances(&self.reader(), number, limit)
    }
}


/// One event's share of [`SqliteStore::complete_dispatches`]: its status, its
/// cancels, its outbox rows and its failures, inside the caller's transaction.
fn apply_dispatch(tx: &rusqlite::Transaction<'_>, event_id: &str, result: &DispatchResult, now: i64) -> Result<()> {
    const OP: &str = "complete dispatch";
    let last_error = summarize_failures(result);
    let status = if last_error.is_some() {
        EventStatus::Failed
    } else {
        EventStatus::Dispatched
    };
    let updated = tx
        .execute(
            "UPDATE events
             SET status = ?2, attempts = attempts + 1, last_error = ?3, dispatched_at = ?4
             WHERE id = ?1",
            params![event_id, status.as_str(), last_error, now],
        )
        .op(OP)?;
    if updated == 0 {
        return Err(StoreError::UnknownEvent {
            id: event_id.to_owned(),
        });
    }
    {
        // Cancels first, and only rows of earlier events, so a plugin can replace its
            // scheduled messages in one answer, and a replay cannot cancel its own rows. The
            // prefix is compared exactly (LIKE would need escaping and ignores ASCII case).
            let mut cancel = tx
                .prepare_cached(
                    "UPDATE outbox SET status = 'cancelled'
                     WHERE plugin = ?1 AND status = 'pending' AND event_id <> ?3
                       AND substr(key, 1, length(?2)) = ?2",
                )
                .op(OP)?;
            for (plugin, prefix) in &result.cancels {
                cancel.execute(params![plugin, prefix, event_id]).op(OP)?;
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO outbox
                       (event_id, plugin, key, channel, recipient, body, not_before, created_at,
                        customer_mobile, customer_phone, timezone)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (event_id, plugin, key) DO NOTHING",
                )
                .op(OP)?;
            for message in &result.messages {
                insert
                    .execute(params![
                        event_id,
                        message.plugin,
                        message.key,
                        message.channel.as_str(),
                        message.to.to_string(),
                        message.body,
                        message.not_before.map(millis),
                        now,
                        result.customer.mobile,
                        result.customer.phone,
                        result.timezone,
                    ])
                    .op(OP)?;
            }
            let mut failure = tx
                .prepare_cached(
                    "INSERT INTO plugin_failures (event_id, plugin, cause, at) VALUES (?1, ?2, ?3, ?4)",
                )
                .op(OP)?;
            for f in &result.failures {
                failure
                    .execute(params![event_id, f.plugin, f.cause, now])
                    .op(OP)?;
            }
        }
    Ok(())
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
