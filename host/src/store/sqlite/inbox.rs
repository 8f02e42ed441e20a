//! [`InboxStore`] on SQLite: events in one group-commit transaction (shared with the other
//! hot-path writes queued meanwhile), leased claims with
//! `UPDATE … RETURNING`, and a dispatch committed with its outbox rows.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{Connection, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis, sql_limit};
use crate::store::{
    DispatchResult, EventFilter, EventStatus, FailureRecord, InboxStore, InsertOutcome, Lease, NewEvent, Result, StoreError, StoredEvent,
};

/// Longest `last_error` summary kept on an event; the full causes are in `plugin_failures`.
const LAST_ERROR_MAX_CHARS: usize = 1000;

const EVENT_COLUMNS: &str = "seq, id, source, kind, business_id, record, received_at, data, status, attempts, last_error, dispatched_at";

/// An `events` row as read, before validation.
struct EventRow {
    seq: i64,
    id: String,
    source: String,
    kind: String,
    business_id: Option<String>,
    record: Option<String>,
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
            seq: row.get(0)?,
            id: row.get(1)?,
            source: row.get(2)?,
            kind: row.get(3)?,
            business_id: row.get(4)?,
            record: row.get(5)?,
            received_at: row.get(6)?,
            data: row.get(7)?,
            status: row.get(8)?,
            attempts: row.get(9)?,
            last_error: row.get(10)?,
            dispatched_at: row.get(11)?,
        })
    }

    fn into_event(self) -> Result<StoredEvent> {
        let corrupt = |reason: String| StoreError::Corrupt { table: "events", reason };
        Ok(StoredEvent {
            status: EventStatus::parse(&self.status).ok_or_else(|| corrupt(format!("event {} has status {:?}", self.id, self.status)))?,
            attempts: u32::try_from(self.attempts).map_err(|_| corrupt(format!("event {} has {} attempts", self.id, self.attempts)))?,
            received_at: from_millis("events", self.received_at)?,
            dispatched_at: self.dispatched_at.map(|ms| from_millis("events", ms)).transpose()?,
            id: self.id,
            source: self.source,
            kind: self.kind,
            business_id: self.business_id,
            record: self.record,
            data: self.data,
            last_error: self.last_error,
        })
    }
}

/// Runs an events query; rows come back in `seq` order (ascending), whatever order the
/// statement produced them in (`RETURNING` promises none).
fn query_events(conn: &Connection, op: &'static str, sql: &str, params: impl rusqlite::Params, newest_first: bool) -> Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(sql).op(op)?;
    let mut rows = stmt.query_map(params, EventRow::read).op(op)?.collect::<rusqlite::Result<Vec<_>>>().op(op)?;
    rows.sort_by_key(|r| if newest_first { -r.seq } else { r.seq });
    rows.into_iter().map(EventRow::into_event).collect()
}

/// Inserts `events` in order, inside the caller's transaction; one outcome each. The statement is
/// taken from the cache once for them all (finding it hashes its text).
fn insert_events_in(tx: &Connection, events: &[NewEvent]) -> Result<Vec<InsertOutcome>> {
    const OP: &str = "insert events";
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (id, source, kind, business_id, record, received_at, body, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO NOTHING",
        )
        .op(OP)?;
    events
        .iter()
        .map(|event| {
            let changed = stmt
                .execute(params![event.id, event.source, event.kind, event.business_id, event.record, millis(event.received_at), event.body, event.data])
                .op(OP)?;
            Ok(if changed == 0 { InsertOutcome::Duplicate } else { InsertOutcome::Inserted })
        })
        .collect()
}

/// `plugin: cause; plugin: cause`, capped at [`LAST_ERROR_MAX_CHARS`].
pub(crate) fn summarize_failures(result: &DispatchResult) -> Option<String> {
    if result.failures.is_empty() {
        return None;
    }
    let summary = result.failures.iter().map(|f| format!("{}: {}", f.plugin, f.cause)).collect::<Vec<_>>().join("; ");
    if summary.chars().count() <= LAST_ERROR_MAX_CHARS {
        return Some(summary);
    }
    let mut cut: String = summary.chars().take(LAST_ERROR_MAX_CHARS - 1).collect();
    cut.push('…');
    Some(cut)
}

#[async_trait]
impl InboxStore for SqliteStore {
    async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<InsertOutcome>> {
        const OP: &str = "insert events";
        self.write_grouped(OP, move |conn| insert_events_in(conn, &events)).await
    }

    async fn claim_events(&self, lease: &Lease, limit: usize) -> Result<Vec<StoredEvent>> {
        const OP: &str = "claim events";
        let (holder, now) = (lease.holder().to_owned(), Utc::now());
        let until = millis(lease.until(now));
        self.write_grouped(OP, move |conn| {
            query_events(
                conn,
                OP,
                &format!(
                    "UPDATE events SET claimed_by = ?1, lease_until = ?2
                     WHERE seq IN (SELECT seq FROM events
                                   WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= ?3)
                                   ORDER BY seq LIMIT ?4)
                     RETURNING {EVENT_COLUMNS}"
                ),
                params![holder, until, millis(now), sql_limit(limit)],
                false,
            )
        })
        .await
    }

    async fn release_events(&self, lease: &Lease, ids: Vec<String>) -> Result<()> {
        const OP: &str = "release events";
        let holder = lease.holder().to_owned();
        self.write_grouped(OP, move |conn| {
            let mut release = conn
                .prepare_cached("UPDATE events SET claimed_by = NULL, lease_until = NULL WHERE id = ?1 AND claimed_by = ?2")
                .op(OP)?;
            for id in &ids {
                release.execute(params![id, holder]).op(OP)?;
            }
            Ok(())
        })
        .await
    }

    async fn complete_dispatches(&self, lease: &Lease, batch: Vec<(String, DispatchResult)>) -> Result<Vec<String>> {
        const OP: &str = "complete dispatch";
        let holder = lease.holder().to_owned();
        self.write_grouped(OP, move |conn| {
            let now = millis(Utc::now());
            let mut lost = Vec::new();
            for (event_id, result) in &batch {
                if !apply_dispatch(conn, &holder, event_id, result, now)? {
                    lost.push(event_id.clone());
                }
            }
            Ok(lost)
        })
        .await
    }

    async fn replay_event(&self, event_id: &str) -> Result<bool> {
        let id = event_id.to_owned();
        self.write("replay event", move |conn| {
            let changed = conn
                .execute("UPDATE events SET status = 'pending', claimed_by = NULL, lease_until = NULL WHERE id = ?1", [id])
                .op("replay event")?;
            Ok(changed > 0)
        })
        .await
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>> {
        let filter = filter.clone();
        self.read("list events", move |conn| {
            query_events(
                conn,
                "list events",
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR record = ?2)
                     ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
                ),
                params![filter.kind, filter.record, sql_limit(filter.limit), sql_limit(filter.offset)],
                true,
            )
        })
        .await
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
        let id = event_id.to_owned();
        self.read("get event", move |conn| {
            Ok(query_events(conn, "get event", &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"), [id], false)?.pop())
        })
        .await
    }

    async fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>> {
        const OP: &str = "list failures";
        let id = event_id.to_owned();
        self.read(OP, move |conn| {
            let mut stmt = conn.prepare_cached("SELECT plugin, cause, at, plugin_version FROM plugin_failures WHERE event_id = ?1 ORDER BY id").op(OP)?;
            let rows = stmt
                .query_map([id], |row| <(String, String, i64, Option<String>)>::try_from(row))
                .op(OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .op(OP)?;
            rows.into_iter()
                .map(|(plugin, cause, at, plugin_version)| Ok(FailureRecord { plugin, cause, at: from_millis("plugin_failures", at)?, plugin_version }))
                .collect()
        })
        .await
    }

    async fn recent_failures(&self, limit: usize) -> Result<Vec<(String, FailureRecord)>> {
        const OP: &str = "recent failures";
        self.read(OP, move |conn| {
            let mut stmt = conn.prepare_cached("SELECT event_id, plugin, cause, at, plugin_version FROM plugin_failures ORDER BY id DESC LIMIT ?1").op(OP)?;
            let rows = stmt
                .query_map([sql_limit(limit)], |row| <(String, String, String, i64, Option<String>)>::try_from(row))
                .op(OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .op(OP)?;
            rows.into_iter()
                .map(|(event, plugin, cause, at, plugin_version)| Ok((event, FailureRecord { plugin, cause, at: from_millis("plugin_failures", at)?, plugin_version })))
                .collect()
        })
        .await
    }
}

/// One event's share of [`InboxStore::complete_dispatches`]: its status, its cancels, its outbox
/// rows and its failures, inside the caller's transaction. `false` (nothing written) when the
/// event is no longer pending or another claimer holds it.
fn apply_dispatch(tx: &Connection, holder: &str, event_id: &str, result: &DispatchResult, now: i64) -> Result<bool> {
    const OP: &str = "complete dispatch";
    let last_error = summarize_failures(result);
    let status = if last_error.is_some() { EventStatus::Failed } else { EventStatus::Dispatched };
    // Cached: preparing it again for every event cost more than running it.
    let updated = tx
        .prepare_cached(
            "UPDATE events
             SET status = ?2, attempts = attempts + 1, last_error = ?3, dispatched_at = ?4,
                 claimed_by = NULL, lease_until = NULL
             WHERE id = ?1 AND status = 'pending' AND (claimed_by IS NULL OR claimed_by = ?5)",
        )
        .op(OP)?
        .execute(params![event_id, status.as_str(), last_error, now, holder])
        .op(OP)?;
    if updated == 0 {
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE id = ?1)")
            .op(OP)?
            .query_row([event_id], |row| row.get(0))
            .op(OP)?;
        if !known {
            return Err(StoreError::UnknownEvent { id: event_id.to_owned() });
        }
        return Ok(false);
    }
    // Cancels first, and only rows of earlier events, so a plugin can replace its scheduled
    // messages in one answer, and a replay cannot cancel its own rows. The prefix is compared
    // exactly (LIKE would need escaping and ignores ASCII case).
    let mut cancel = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'cancelled', claimed_by = NULL, lease_until = NULL
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
               (event_id, plugin, key, channel, recipient, body, not_before, created_at, customer_mobile, customer_phone, timezone, plugin_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
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
                result.plugin_version(&message.plugin),
            ])
            .op(OP)?;
    }
    let mut failure = tx.prepare_cached("INSERT INTO plugin_failures (event_id, plugin, cause, at, plugin_version) VALUES (?1, ?2, ?3, ?4, ?5)").op(OP)?;
    for f in &result.failures {
        failure.execute(params![event_id, f.plugin, f.cause, now, result.plugin_version(&f.plugin)]).op(OP)?;
    }
    super::runs::write_runs(tx, event_id, result, now)?;
    Ok(true)
}
