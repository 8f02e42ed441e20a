//! [`OutboxStore`] on SQLite: due messages leased with `UPDATE … RETURNING`, state changes with
//! their attempt and history rows in one transaction, audit listings and replay.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis, sql_limit};
use crate::model::{Channel, Recipient};
use crate::store::{
    Attempt, CustomerNumbers, HistoryRecord, HourlyCount, Lease, MessageFilter, MessageUpdate, OutboxMessage, OutboxRow, OutboxStatus, OutboxStore,
    RecordHistory, Result, StoreError,
};

const COLUMNS: &str = "id, event_id, plugin, key, channel, recipient, body, not_before, status,
    created_at, customer_mobile, customer_phone, series, attempts, next_attempt_at, sending_since,
    to_number, sid, error_code, error_message, updated_at, timezone, plugin_version";

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
    plugin_version: Option<String>,
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
            plugin_version: row.get(22)?,
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
            plugin_version: self.plugin_version,
        })
    }
}

fn query(conn: &Connection, op: &'static str, sql: &str, params: impl rusqlite::Params) -> Result<Vec<OutboxMessage>> {
    let mut stmt = conn.prepare_cached(sql).op(op)?;
    let rows = stmt.query_map(params, Raw::read).op(op)?.collect::<rusqlite::Result<Vec<_>>>().op(op)?;
    rows.into_iter().map(Raw::into_message).collect()
}

/// Due time of a pending row: `next_attempt_at`, else `not_before`, else at once.
const DUE: &str = "COALESCE(next_attempt_at, not_before, 0)";

/// `'sms', 'call'`: an SQL list of channels (their text forms are fixed identifiers).
fn channel_list(channels: &[Channel]) -> String {
    channels.iter().map(|c| format!("'{}'", c.as_str())).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_due_messages(&self, lease: &Lease, now: DateTime<Utc>, channels: &[Channel], limit: usize) -> Result<Vec<OutboxMessage>> {
        const OP: &str = "claim due messages";
        let (holder, until) = (lease.holder().to_owned(), millis(lease.until(Utc::now())));
        let sql = format!(
            "UPDATE outbox SET claimed_by = ?1, lease_until = ?2
             WHERE id IN (SELECT id FROM outbox
                          WHERE status IN ('pending', 'sending') AND channel IN ({})
                            AND {DUE} <= ?3 AND (lease_until IS NULL OR lease_until <= ?3)
                          ORDER BY id LIMIT ?4)
             RETURNING {COLUMNS}",
            channel_list(channels)
        );
        self.write_grouped(OP, move |conn| {
            let mut claimed = query(conn, OP, &sql, params![holder, until, millis(now), sql_limit(limit)])?;
            claimed.sort_by_key(|m| m.row.id);
            Ok(claimed)
        })
        .await
    }

    async fn next_due_at(&self, channels: &[Channel]) -> Result<Option<DateTime<Utc>>> {
        const OP: &str = "next due message";
        let sql = format!(
            "SELECT MIN(MAX({DUE}, COALESCE(lease_until, 0))) FROM outbox
             WHERE status IN ('pending', 'sending') AND channel IN ({})",
            channel_list(channels)
        );
        self.read(OP, move |conn| {
            let ms: Option<i64> = conn.query_row(&sql, [], |row| row.get(0)).op(OP)?;
            ms.map(|ms| from_millis("outbox", ms)).transpose()
        })
        .await
    }

    async fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        self.read("get message", move |conn| Ok(query(conn, "get message", &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"), [id])?.pop()))
            .await
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>> {
        let filter = filter.clone();
        self.read("list messages", move |conn| {
            query(
                conn,
                "list messages",
                &format!(
                    "SELECT {COLUMNS} FROM outbox
                     WHERE (?1 IS NULL OR event_id = ?1) AND (?2 IS NULL OR status = ?2)
                       AND (?3 IS NULL OR COALESCE(updated_at, created_at) >= ?3)
                       AND (?5 IS NULL OR event_id IN (SELECT id FROM events WHERE record = ?5))
                       AND (?6 IS NULL OR COALESCE(updated_at, created_at) < ?6)
                       AND (?7 IS NULL OR plugin = ?7)
                       AND (?8 IS NULL OR to_number = ?8 OR recipient = ?8)
                     ORDER BY id DESC LIMIT ?4 OFFSET ?9"
                ),
                params![
                    filter.event_id,
                    filter.status.map(OutboxStatus::as_str),
                    filter.since.map(millis),
                    sql_limit(filter.limit),
                    filter.record,
                    filter.until.map(millis),
                    filter.plugin,
                    filter.number,
                    sql_limit(filter.offset)
                ],
            )
        })
        .await
    }

    async fn count_messages_by_hour(&self, since: DateTime<Utc>) -> Result<Vec<HourlyCount>> {
        const OP: &str = "count messages by hour";
        self.read(OP, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT created_at / 3600000 AS hour, status, COUNT(*) FROM outbox WHERE created_at >= ?1
                     GROUP BY hour, status ORDER BY hour, status",
                )
                .op(OP)?;
            let rows = stmt
                .query_map([millis(since)], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)))
                .op(OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .op(OP)?;
            rows.into_iter()
                .map(|(hour, status, count)| {
                    let status = OutboxStatus::parse(&status).ok_or_else(|| StoreError::Corrupt { table: "outbox", reason: format!("unknown status {status:?}") })?;
                    Ok(HourlyCount { hour: from_millis("outbox", hour * 3_600_000)?, status, count: u64::try_from(count).unwrap_or(0) })
                })
                .collect()
        })
        .await
    }

    async fn count_messages(&self, status: OutboxStatus) -> Result<u64> {
        const OP: &str = "count messages";
        self.read(OP, move |conn| {
            let count: i64 = conn.query_row("SELECT COUNT(*) FROM outbox WHERE status = ?1", [status.as_str()], |row| row.get(0)).op(OP)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn others_in_flight(&self, id: i64, channel: Channel, to_number: &str, since: DateTime<Utc>) -> Result<bool> {
        const OP: &str = "find messages in flight";
        let to_number = to_number.to_owned();
        self.read(OP, move |conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE id <> ?1 AND channel = ?2 AND to_number = ?3
                     AND status = 'sending' AND sid IS NULL AND sending_since > ?4)",
                params![id, channel.as_str(), to_number, millis(since)],
                |row| row.get(0),
            )
            .op(OP)
        })
        .await
    }

    async fn update_message(&self, lease: &Lease, update: &MessageUpdate, attempts: &[Attempt]) -> Result<bool> {
        const OP: &str = "update message";
        let (holder, update, attempts, lease) = (lease.holder().to_owned(), update.clone(), attempts.to_vec(), lease.clone());
        self.write_grouped(OP, move |tx| {
            let now = millis(Utc::now());
            let keep = update.keeps_lease();
            if let Some(sid) = &update.sid
                && let Some(holder) = super::twilio::holder_of(tx, sid, Some(update.id))?
            {
                return Err(StoreError::SidTaken { sid: sid.clone(), holder });
            }
            let changed = tx
                .prepare_cached(
                    "UPDATE outbox SET status = ?2, attempts = ?3, next_attempt_at = ?4,
                         sending_since = ?5, to_number = COALESCE(?6, to_number),
                         sid = CASE WHEN ?2 = 'sending' THEN COALESCE(?7, sid) ELSE ?7 END,
                         error_code = ?8, error_message = ?9, updated_at = ?10,
                         claimed_by = CASE WHEN ?12 THEN claimed_by END,
                         lease_until = CASE WHEN ?12 THEN ?13 END
                     WHERE id = ?1 AND status IN ('pending', 'sending')
                       AND (claimed_by IS NULL OR claimed_by = ?11)
                       AND (?7 IS NULL OR sid IS NULL OR sid = ?7)",
                )
                .and_then(|mut update_row| {
                    update_row.execute(params![
                        update.id,
                        update.status.as_str(),
                        update.attempts,
                        update.next_attempt_at.map(millis),
                        update.sending_since.map(millis),
                        update.to_number,
                        update.sid,
                        update.error_code,
                        update.error_message,
                        now,
                        holder,
                        keep,
                        millis(lease.until(Utc::now()))
                    ])
                })
                .op(OP)?;
            if changed == 0 {
                return Ok(false);
            }
            for a in &attempts {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO attempts (outbox_id, series, started_at, kind, request, http_status, sid,
                                               error_code, error_message, latency_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .op(OP)?;
                insert
                    .execute(params![
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
                    ])
                    .op(OP)?;
            }
            if let Some(detail) = &update.history {
                tx.prepare_cached("INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)")
                    .and_then(|mut insert| insert.execute(params![update.id, now, update.status.as_str(), detail]))
                    .op(OP)?;
            }
            if let Some(sid) = &update.sid {
                // Status callbacks can beat the sender's own record of the SID: adopt them now.
                super::twilio::adopt_early_callbacks(tx, update.id, sid)?;
            }
            Ok(true)
        })
        .await
    }

    async fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>> {
        const OP: &str = "list attempts";
        self.read(OP, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT series, started_at, kind, request, http_status, sid, error_code, error_message, latency_ms
                     FROM attempts WHERE outbox_id = ?1 ORDER BY id",
                )
                .op(OP)?;
            type Row = (i64, i64, String, String, Option<u16>, Option<String>, Option<i64>, Option<String>, i64);
            let rows = stmt.query_map([outbox_id], |row| Row::try_from(row)).op(OP)?.collect::<rusqlite::Result<Vec<_>>>().op(OP)?;
            rows.into_iter()
                .map(|(series, started_at, kind, request, http_status, sid, error_code, error_message, latency)| {
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
                })
                .collect()
        })
        .await
    }

    async fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>> {
        const OP: &str = "list history";
        self.read(OP, move |conn| {
            let mut stmt = conn.prepare_cached("SELECT at, status, detail FROM message_history WHERE outbox_id = ?1 ORDER BY id").op(OP)?;
            let rows = stmt
                .query_map([outbox_id], |row| <(i64, String, Option<String>)>::try_from(row))
                .op(OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .op(OP)?;
            rows.into_iter().map(|(at, status, detail)| Ok(HistoryRecord { at: from_millis("message_history", at)?, status, detail })).collect()
        })
        .await
    }

    async fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        const OP: &str = "requeue message";
        self.write(OP, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).op(OP)?;
            let changed = tx
                .execute(
                    "UPDATE outbox SET status = 'pending', series = series + 1, attempts = 0,
                         next_attempt_at = NULL, sending_since = NULL, sid = NULL, error_code = NULL,
                         error_message = NULL, updated_at = ?2, claimed_by = NULL, lease_until = NULL
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
        })
        .await
    }

    async fn add_history(&self, outbox_id: i64, status: &str, detail: &str) -> Result<()> {
        let (status, detail) = (status.to_owned(), detail.to_owned());
        self.write("add history", move |conn| {
            conn.execute(
                "INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)",
                params![outbox_id, millis(Utc::now()), status, detail],
            )
            .op("add history")
            .map(drop)
        })
        .await
    }

    async fn list_record_history(&self, record_prefix: &str, after: i64, limit: usize) -> Result<Vec<RecordHistory>> {
        const OP: &str = "list record history";
        let prefix = record_prefix.to_owned();
        self.read(OP, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT h.id, e.record, o.id, o.channel, o.to_number, o.sid, h.at, h.status, h.detail
                     FROM message_history h JOIN outbox o ON o.id = h.outbox_id JOIN events e ON e.id = o.event_id
                     WHERE h.id > ?2 AND e.record IS NOT NULL AND substr(e.record, 1, length(?1)) = ?1
                     ORDER BY h.id LIMIT ?3",
                )
                .op(OP)?;
            type Row = (i64, String, i64, String, Option<String>, Option<String>, i64, String, Option<String>);
            let rows = stmt
                .query_map(params![prefix, after, sql_limit(limit)], |row| Row::try_from(row))
                .op(OP)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .op(OP)?;
            rows.into_iter()
                .map(|(id, record, outbox_id, channel, to_number, sid, at, status, detail)| {
                    Ok(RecordHistory {
                        id,
                        record,
                        outbox_id,
                        channel: Channel::parse(&channel)
                            .ok_or_else(|| StoreError::Corrupt { table: "outbox", reason: format!("row {outbox_id} has channel {channel:?}") })?,
                        to_number,
                        sid,
                        history: HistoryRecord { at: from_millis("message_history", at)?, status, detail },
                    })
                })
                .collect()
        })
        .await
    }
}
