//! The Twilio sender's queries: due messages, state changes with their attempt and history rows,
//! audit listings, replay, and the Lookups cache (schema version 2).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::model::{Channel, Recipient};

use super::{SqlResultExt as _, from_millis, millis, sql_limit};
use crate::store::{
    Attempt, CustomerNumbers, HistoryRecord, LookupRecord, MessageFilter, MessageUpdate,
    OutboxMessage, OutboxRow, OutboxStatus, Result, StoreError,
};

const COLUMNS: &str = "id, event_id, plugin, key, channel, recipient, body, not_before, status,
    created_at, customer_mobile, customer_phone, series, attempts, next_attempt_at, sending_since,
    to_number, sid, error_code, error_message, updated_at, timezone";

/// A row as read, before validation.
struct Raw {
    id: i64,
    event_id: String,
    plugin: String,
    key: String,
    channel: String,
    to: String,
    body: String,
    not_before: Option<i64>,
    status: String,
    created_at: i64,
    mobile: Option<String>,
    phone: Option<String>,
    series: i64,
    attempts: i64,
    next_attempt_at: Option<i64>,
    sending_since: Option<i64>,
    to_number: Option<String>,
    sid: Option<String>,
    error_code: Option<i64>,
    error_message: Option<String>,
    updated_at: Option<i64>,
    timezone: Option<String>,
}

impl Raw {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            event_id: row.get(1)?,
            plugin: row.get(2)?,
            key: row.get(3)?,
            channel: row.get(4)?,
            to: row.get(5)?,
            body: row.get(6)?,
            not_before: row.get(7)?,
            status: row.get(8)?,
            created_at: row.get(9)?,
            mobile: row.get(10)?,
            phone: row.get(11)?,
            series: row.get(12)?,
            attempts: row.get(13)?,
            next_attempt_at: row.get(14)?,
            sending_since: row.get(15)?,
            to_number: row.get(16)?,
            sid: row.get(17)?,
            error_code: row.get(18)?,
            error_message: row.get(19)?,
            updated_at: row.get(20)?,
            timezone: row.get(21)?,
        })
    }

    fn into_message(self) -> Result<OutboxMessage> {
        let id = self.id;
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "outbox",
            reason,
        };
        let time = |ms: Option<i64>| ms.map(|ms| from_millis("outbox", ms)).transpose();
        Ok(OutboxMessage {
            row: OutboxRow {
                channel: Channel::parse(&self.channel)
                    .ok_or_else(|| corrupt(format!("row {id} has channel {:?}", self.channel)))?,
                status: OutboxStatus::parse(&self.status)
                    .ok_or_else(|| corrupt(format!("row {id} has status {:?}", self.status)))?,
                not_before: time(self.not_before)?,
                created_at: from_millis("outbox", self.created_at)?,
                id,
                event_id: self.event_id,
                plugin: self.plugin,
                key: self.key,
                to: Recipient::parse(&self.to),
                body: self.body,
            },
            customer: CustomerNumbers {
                mobile: self.mobile,
                phone: self.phone,
            },
            timezone: self.timezone,
            series: u32::try_from(self.series)
                .map_err(|_| corrupt(format!("row {id} has series {}", self.series)))?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt(format!("row {id} has {} attempts", self.attempts)))?,
            next_attempt_at: time(self.next_attempt_at)?,
            sending_since: time(self.sending_since)?,
            to_number: self.to_number,
            sid: self.sid,
            error_code: self.error_code,
            error_message: self.error_message,
            updated_at: time(self.updated_at)?,
        })
    }
}

fn query(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxMessage>> {
    let mut stmt = conn.prepare_cached(sql).op(op)?;
    let rows = stmt
        .query_map(params, Raw::read)
        .op(op)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(op)?;
    rows.into_iter().map(Raw::into_message).collect()
}

/// Due time of a pending row: `next_attempt_at`, else `not_before`, else at once.
const DUE: &str = "COALESCE(next_attempt_at, not_before, 0)";

pub(super) fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxMessage>> {
    query(
        conn,
        "claim due messages",
        &format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE status IN ('pending', 'sending') AND {DUE} <= ?1
             ORDER BY id LIMIT ?2"
        ),
        params![millis(now), sql_limit(limit)],
    )
}

pub(super) fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = conn
        .query_row(
            &format!("SELECT MIN({DUE}) FROM outbox WHERE status IN ('pending', 'sending')"),
            [],
            |row| row.get(0),
        )
        .op("next due message")?;
    ms.map(|ms| from_millis("outbox", ms)).transpose()
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<OutboxMessage>> {
    Ok(query(
        conn,
        "get message",
        &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
        [id],
    )?
    .pop())
}

pub(super) fn list(conn: &Connection, filter: &MessageFilter) -> Result<Vec<OutboxMessage>> {
    query(
        conn,
        "list messages",
        &format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE (?1 IS NULL OR event_id = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR COALESCE(updated_at, created_at) >= ?3)
             ORDER BY id DESC LIMIT ?4"
        ),
        params![
            filter.event_id,
            filter.status.map(OutboxStatus::as_str),
            filter.since.map(millis),
            sql_limit(filter.limit)
        ],
    )
}

pub(super) fn update(
    conn: &mut Connection,
    update: &MessageUpdate,
    attempt: Option<&Attempt>,
) -> Result<bool> {
    const OP: &str = "update message";
    let now = millis(Utc::now());
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op(OP)?;
    let changed = tx
        .execute(
            "UPDATE outbox SET status = ?2, attempts = ?3, next_attempt_at = ?4,
                 sending_since = ?5, to_number = COALESCE(?6, to_number), sid = ?7,
                 error_code = ?8, error_message = ?9, updated_at = ?10
             WHERE id = ?1 AND status IN ('pending', 'sending')",
            params![
                update.id,
                update.status.as_str(),
                update.attempts,
                update.next_attempt_at.map(millis),
                update.sending_since.map(millis),
                update.to_number,
                update.sid,
                update.error_code,
                update.error_message,
                now
            ],
        )
        .op(OP)?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(a) = attempt {
        tx.execute(
            "INSERT INTO attempts (outbox_id, series, started_at, kind, request, http_status, sid,
                                   error_code, error_message, latency_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                a.outbox_id,
                a.series,
                millis(a.started_at),
                a.kind,
                a.request,
                a.http_status,
                a.sid,
                a.error_code,
                a.error_message,
                i64::try_from(a.latency_ms).unwrap_or(i64::MAX)
            ],
        )
        .op(OP)?;
    }
    if let Some(detail) = &update.history {
        tx.execute(
            "INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)",
            params![update.id, now, update.status.as_str(), detail],
        )
        .op(OP)?;
    }
    if let Some(sid) = &update.sid {
        super::twilio_in::adopt_early_callbacks(&tx, update.id, sid)?;
    }
    tx.commit().op(OP)?;
    Ok(true)
}

pub(super) fn attempts(conn: &Connection, outbox_id: i64) -> Result<Vec<Attempt>> {
    const OP: &str = "list attempts";
    let mut stmt = conn
        .prepare_cached(
            "SELECT series, started_at, kind, request, http_status, sid, error_code, error_message,
                    latency_ms
             FROM attempts WHERE outbox_id = ?1 ORDER BY id",
        )
        .op(OP)?;
    let rows = stmt
        .query_map([outbox_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<u16>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, i64>(8)?,
            ))
        })
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    rows.into_iter()
        .map(
            |(series, started_at, kind, request, http_status, sid, error_code, error_message, latency)| {
                Ok(Attempt {
                    outbox_id,
                    series: u32::try_from(series).unwrap_or(0),
                    started_at: from_millis("attempts", started_at)?,
                    kind,
                    request,
                    http_status,
                    sid,
                    error_code,
                    error_message,
                    latency_ms: u64::try_from(latency).unwrap_or(0),
                })
            },
        )
        .collect()
}

pub(super) fn history(conn: &Connection, outbox_id: i64) -> Result<Vec<HistoryRecord>> {
    const OP: &str = "list history";
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, status, detail FROM message_history WHERE outbox_id = ?1 ORDER BY id",
        )
        .op(OP)?;
    let rows = stmt
        .query_map([outbox_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    rows.into_iter()
        .map(|(at, status, detail)| {
            Ok(HistoryRecord {
                at: from_millis("message_history", at)?,
                status,
                detail,
            })
        })
        .collect()
}

pub(super) fn requeue(conn: &mut Connection, id: i64, at: DateTime<Utc>) -> Result<bool> {
    const OP: &str = "requeue message";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op(OP)?;
    let changed = tx
        .execute(
            "UPDATE outbox SET status = 'pending', series = series + 1, attempts = 0,
                 next_attempt_at = NULL, sending_since = NULL, sid = NULL, error_code = NULL,
                 error_message = NULL, updated_at = ?2
             WHERE id = ?1 AND status IN ('failed', 'undeliverable')",
            params![id, millis(at)],
        )
        .op(OP)?;
    if changed > 0 {
        tx.execute(
            "INSERT INTO message_history (outbox_id, at, status, detail)
             VALUES (?1, ?2, 'pending', 'replayed: new attempt series')",
            params![id, millis(at)],
        )
        .op(OP)?;
    }
    tx.commit().op(OP)?;
    Ok(changed > 0)
}

pub(super) fn get_lookup(conn: &Connection, number: &str) -> Result<Option<LookupRecord>> {
    const OP: &str = "get lookup";
    let row = conn
        .query_row(
            "SELECT valid, line_type, detail, fetched_at FROM lookups WHERE number = ?1",
            [number],
            |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()
        .op(OP)?;
    row.map(|(valid, line_type, detail, at)| {
        Ok(LookupRecord {
            number: number.to_owned(),
            valid,
            line_type,
            detail,
            fetched_at: from_millis("lookups", at)?,
        })
    })
    .transpose()
}
