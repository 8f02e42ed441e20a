//! [`OutboxStore`] on PostgreSQL: due messages leased with `FOR UPDATE SKIP LOCKED`, state
//! changes with their attempt and history rows in one transaction, audit listings and replay.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{OUTBOX_CHANNEL, PgResultExt as _, PgStore, from_millis, millis, sql_limit};
use crate::model::{Channel, Recipient};
use crate::store::{
    Attempt, CustomerNumbers, HistoryRecord, HourlyCount, Lease, MessageFilter, MessageUpdate, OutboxMessage, OutboxRow, OutboxStatus, OutboxStore,
    RecordHistory, Result, StoreError,
};

const COLUMNS: &str = "id, event_id, plugin, key, channel, recipient, body, not_before, status,
    created_at, customer_mobile, customer_phone, series, attempts, next_attempt_at, sending_since,
    to_number, sid, error_code, error_message, updated_at, timezone, plugin_version";

/// Due time of a pending row: `next_attempt_at`, else `not_before`, else at once.
const DUE: &str = "COALESCE(next_attempt_at, not_before, 0)";

/// Reads the columns of [`COLUMNS`], in order.
fn read_message(row: &Row) -> Result<OutboxMessage> {
    const OP: &str = "read message";
    let id: i64 = row.try_get(0).op(OP)?;
    let corrupt = |reason: String| StoreError::Corrupt { table: "outbox", reason };
    let time = |i: usize| -> Result<Option<DateTime<Utc>>> { row.try_get::<_, Option<i64>>(i).op(OP)?.map(|ms| from_millis("outbox", ms)).transpose() };
    let channel: String = row.try_get(4).op(OP)?;
    let status: String = row.try_get(8).op(OP)?;
    let (series, attempts): (i64, i64) = (row.try_get(12).op(OP)?, row.try_get(13).op(OP)?);
    Ok(OutboxMessage {
        row: OutboxRow {
            id,
            event_id: row.try_get(1).op(OP)?,
            plugin: row.try_get(2).op(OP)?,
            key: row.try_get(3).op(OP)?,
            channel: Channel::parse(&channel).ok_or_else(|| corrupt(format!("row {id} has channel {channel:?}")))?,
            to: Recipient::parse(row.try_get::<_, &str>(5).op(OP)?),
            body: row.try_get(6).op(OP)?,
            not_before: time(7)?,
            status: OutboxStatus::parse(&status).ok_or_else(|| corrupt(format!("row {id} has status {status:?}")))?,
            created_at: from_millis("outbox", row.try_get(9).op(OP)?)?,
        },
        customer: CustomerNumbers { mobile: row.try_get(10).op(OP)?, phone: row.try_get(11).op(OP)? },
        series: u32::try_from(series).map_err(|_| corrupt(format!("row {id} has series {series}")))?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt(format!("row {id} has {attempts} attempts")))?,
        next_attempt_at: time(14)?,
        sending_since: time(15)?,
        to_number: row.try_get(16).op(OP)?,
        sid: row.try_get(17).op(OP)?,
        error_code: row.try_get(18).op(OP)?,
        error_message: row.try_get(19).op(OP)?,
        updated_at: time(20)?,
        timezone: row.try_get(21).op(OP)?,
        plugin_version: row.try_get(22).op(OP)?,
    })
}

fn messages(rows: &[Row]) -> Result<Vec<OutboxMessage>> {
    rows.iter().map(read_message).collect()
}

fn channel_names(channels: &[Channel]) -> Vec<&'static str> {
    channels.iter().map(|c| c.as_str()).collect()
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn claim_due_messages(&self, lease: &Lease, now: DateTime<Utc>, channels: &[Channel], limit: usize) -> Result<Vec<OutboxMessage>> {
        const OP: &str = "claim due messages";
        let rows = self
            .client(OP)
            .await?
            .query(
                &format!(
                    "UPDATE outbox SET claimed_by = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE status IN ('pending', 'sending') AND channel = ANY($5)
                                    AND {DUE} <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                                  ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING {COLUMNS}"
                ),
                &[&lease.holder(), &millis(lease.until(Utc::now())), &millis(now), &sql_limit(limit), &channel_names(channels)],
            )
            .await
            .op(OP)?;
        let mut claimed = messages(&rows)?;
        claimed.sort_by_key(|m| m.row.id);
        Ok(claimed)
    }

    async fn next_due_at(&self, channels: &[Channel]) -> Result<Option<DateTime<Utc>>> {
        const OP: &str = "next due message";
        let row = self
            .client(OP)
            .await?
            .query_one(
                &format!(
                    "SELECT MIN(GREATEST({DUE}, COALESCE(lease_until, 0))) FROM outbox
                     WHERE status IN ('pending', 'sending') AND channel = ANY($1)"
                ),
                &[&channel_names(channels)],
            )
            .await
            .op(OP)?;
        row.try_get::<_, Option<i64>>(0).op(OP)?.map(|ms| from_millis("outbox", ms)).transpose()
    }

    async fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        const OP: &str = "get message";
        let rows = self.client(OP).await?.query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"), &[&id]).await.op(OP)?;
        Ok(messages(&rows)?.pop())
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>> {
        const OP: &str = "list messages";
        let rows = self
            .client(OP)
            .await?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox
                     WHERE ($1::TEXT IS NULL OR event_id = $1) AND ($2::TEXT IS NULL OR status = $2)
                       AND ($3::BIGINT IS NULL OR COALESCE(updated_at, created_at) >= $3)
                       AND ($5::TEXT IS NULL OR event_id IN (SELECT id FROM events WHERE record = $5))
                       AND ($6::BIGINT IS NULL OR COALESCE(updated_at, created_at) < $6)
                       AND ($7::TEXT IS NULL OR plugin = $7)
                       AND ($8::TEXT IS NULL OR to_number = $8 OR recipient = $8)
                     ORDER BY id DESC LIMIT $4 OFFSET $9"
                ),
                &[
                    &filter.event_id,
                    &filter.status.map(OutboxStatus::as_str),
                    &filter.since.map(millis),
                    &sql_limit(filter.limit),
                    &filter.record,
                    &filter.until.map(millis),
                    &filter.plugin,
                    &filter.number,
                    &sql_limit(filter.offset),
                ],
            )
            .await
            .op(OP)?;
        messages(&rows)
    }

    async fn count_messages_by_hour(&self, since: DateTime<Utc>) -> Result<Vec<HourlyCount>> {
        const OP: &str = "count messages by hour";
        let rows = self
            .client(OP)
            .await?
            .query(
                "SELECT created_at / 3600000 AS hour, status, COUNT(*) FROM outbox WHERE created_at >= $1
                 GROUP BY hour, status ORDER BY hour, status",
                &[&millis(since)],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let (hour, status, count): (i64, String, i64) = (row.try_get(0).op(OP)?, row.try_get(1).op(OP)?, row.try_get(2).op(OP)?);
                let status = OutboxStatus::parse(&status).ok_or_else(|| StoreError::Corrupt { table: "outbox", reason: format!("unknown status {status:?}") })?;
                Ok(HourlyCount { hour: from_millis("outbox", hour * 3_600_000)?, status, count: u64::try_from(count).unwrap_or(0) })
            })
            .collect()
    }

    async fn count_messages(&self, status: OutboxStatus) -> Result<u64> {
        const OP: &str = "count messages";
        let count: i64 = self.client(OP).await?.query_one("SELECT COUNT(*) FROM outbox WHERE status = $1", &[&status.as_str()]).await.op(OP)?.try_get(0).op(OP)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn reserve_send_slot(&self, name: &str, period: std::time::Duration) -> Result<Option<std::time::Duration>> {
        self.reserve_slot(name, period).await.map(Some)
    }

    async fn others_in_flight(&self, id: i64, channel: Channel, to_number: &str, since: DateTime<Utc>) -> Result<bool> {
        const OP: &str = "find messages in flight";
        self.client(OP)
            .await?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE id <> $1 AND channel = $2 AND to_number = $3
                     AND status = 'sending' AND sid IS NULL AND sending_since > $4)",
                &[&id, &channel.as_str(), &to_number, &millis(since)],
            )
            .await
            .op(OP)?
            .try_get(0)
            .op(OP)
    }

    async fn update_message(&self, lease: &Lease, update: &MessageUpdate, attempts: &[Attempt]) -> Result<bool> {
        const OP: &str = "update message";
        let now = millis(Utc::now());
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        if let Some(sid) = &update.sid {
            let holder = tx.query_opt("SELECT id FROM outbox WHERE sid = $1 AND id <> $2", &[sid, &update.id]).await.op(OP)?;
            if let Some(row) = holder {
                return Err(StoreError::SidTaken { sid: sid.clone(), holder: row.try_get(0).op(OP)? });
            }
        }
        let changed = tx
            .execute(
                "UPDATE outbox SET status = $2, attempts = $3, next_attempt_at = $4,
                     sending_since = $5, to_number = COALESCE($6, to_number),
                     sid = CASE WHEN $2 = 'sending' THEN COALESCE($7, sid) ELSE $7 END,
                     error_code = $8, error_message = $9, updated_at = $10,
                     claimed_by = CASE WHEN $12 THEN claimed_by END,
                     lease_until = CASE WHEN $12 THEN $13::BIGINT END
                 WHERE id = $1 AND status IN ('pending', 'sending')
                   AND (claimed_by IS NULL OR claimed_by = $11)
                   AND ($7::TEXT IS NULL OR sid IS NULL OR sid = $7)",
                &[
                    &update.id,
                    &update.status.as_str(),
                    &i64::from(update.attempts),
                    &update.next_attempt_at.map(millis),
                    &update.sending_since.map(millis),
                    &update.to_number,
                    &update.sid,
                    &update.error_code,
                    &update.error_message,
                    &now,
                    &lease.holder(),
                    &update.keeps_lease(),
                    &millis(lease.until(Utc::now())),
                ],
            )
            .await
            .op(OP)?;
        if changed == 0 {
            return Ok(false);
        }
        for a in attempts {
            tx.execute(
                "INSERT INTO attempts (outbox_id, series, started_at, kind, request, http_status, sid, error_code, error_message, latency_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &a.outbox_id,
                    &i64::from(a.series),
                    &millis(a.started_at),
                    &a.kind,
                    &a.request,
                    &a.http_status.map(i64::from),
                    &a.sid,
                    &a.error_code,
                    &a.error_message,
                    &i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
                ],
            )
            .await
            .op(OP)?;
        }
        if let Some(detail) = &update.history {
            tx.execute(
                "INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, $3, $4)",
                &[&update.id, &now, &update.status.as_str(), detail],
            )
            .await
            .op(OP)?;
        }
        if let Some(sid) = &update.sid {
            // Status callbacks can beat the sender's own record of the SID: adopt them now.
            super::twilio::adopt_early_callbacks(&tx, update.id, sid).await?;
        }
        if update.status == OutboxStatus::Pending && update.next_attempt_at.is_none() {
            // Handed back due at once: any replica's sender may take it.
            tx.execute("SELECT pg_notify($1, '')", &[&OUTBOX_CHANNEL]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(true)
    }

    async fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>> {
        const OP: &str = "list attempts";
        let rows = self
            .client(OP)
            .await?
            .query(
                "SELECT series, started_at, kind, request, http_status, sid, error_code, error_message, latency_ms
                 FROM attempts WHERE outbox_id = $1 ORDER BY id",
                &[&outbox_id],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    outbox_id,
                    series: u32::try_from(row.try_get::<_, i64>(0).op(OP)?).unwrap_or(0),
                    started_at: from_millis("attempts", row.try_get(1).op(OP)?)?,
                    kind: row.try_get(2).op(OP)?,
                    request: row.try_get(3).op(OP)?,
                    http_status: row.try_get::<_, Option<i64>>(4).op(OP)?.and_then(|s| u16::try_from(s).ok()),
                    sid: row.try_get(5).op(OP)?,
                    error_code: row.try_get(6).op(OP)?,
                    error_message: row.try_get(7).op(OP)?,
                    latency_ms: u64::try_from(row.try_get::<_, i64>(8).op(OP)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>> {
        const OP: &str = "list history";
        let rows = self
            .client(OP)
            .await?
            .query("SELECT at, status, detail FROM message_history WHERE outbox_id = $1 ORDER BY id", &[&outbox_id])
            .await
            .op(OP)?;
        rows.iter().map(history).collect()
    }

    async fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
        const OP: &str = "requeue message";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let changed = tx
            .execute(
                "UPDATE outbox SET status = 'pending', series = series + 1, attempts = 0,
                     next_attempt_at = NULL, sending_since = NULL, sid = NULL, error_code = NULL,
                     error_message = NULL, updated_at = $2, claimed_by = NULL, lease_until = NULL
                 WHERE id = $1 AND status IN ('failed', 'undeliverable')",
                &[&id, &millis(at)],
            )
            .await
            .op(OP)?;
        if changed > 0 {
            tx.execute(
                "INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, 'pending', 'replayed: new attempt series')",
                &[&id, &millis(at)],
            )
            .await
            .op(OP)?;
            tx.execute("SELECT pg_notify($1, '')", &[&OUTBOX_CHANNEL]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(changed > 0)
    }

    async fn add_history(&self, outbox_id: i64, status: &str, detail: &str) -> Result<()> {
        const OP: &str = "add history";
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, $3, $4)",
                &[&outbox_id, &millis(Utc::now()), &status, &detail],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn list_record_history(&self, record_prefix: &str, after: i64, limit: usize) -> Result<Vec<RecordHistory>> {
        const OP: &str = "list record history";
        let rows = self
            .client(OP)
            .await?
            .query(
                "SELECT h.at, h.status, h.detail, h.id, e.record, o.id, o.channel, o.to_number, o.sid
                 FROM message_history h JOIN outbox o ON o.id = h.outbox_id JOIN events e ON e.id = o.event_id
                 WHERE h.id > $2 AND e.record IS NOT NULL AND left(e.record, char_length($1)) = $1
                 ORDER BY h.id LIMIT $3",
                &[&record_prefix, &after, &sql_limit(limit)],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let outbox_id: i64 = row.try_get(5).op(OP)?;
                let channel: String = row.try_get(6).op(OP)?;
                Ok(RecordHistory {
                    id: row.try_get(3).op(OP)?,
                    record: row.try_get(4).op(OP)?,
                    outbox_id,
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| StoreError::Corrupt { table: "outbox", reason: format!("row {outbox_id} has channel {channel:?}") })?,
                    to_number: row.try_get(7).op(OP)?,
                    sid: row.try_get(8).op(OP)?,
                    history: history(row)?,
                })
            })
            .collect()
    }
}

/// A history line from its first three columns: `at, status, detail`.
fn history(row: &Row) -> Result<HistoryRecord> {
    const OP: &str = "read history";
    Ok(HistoryRecord {
        at: from_millis("message_history", row.try_get(0).op(OP)?)?,
        status: row.try_get(1).op(OP)?,
        detail: row.try_get(2).op(OP)?,
    })
}
