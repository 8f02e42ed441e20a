//! [`InboxStore`] on PostgreSQL: events in one group-commit transaction (notifying dispatchers
//! on commit), claims with `FOR UPDATE SKIP LOCKED` under leases, and a dispatch committed with
//! its outbox rows (notifying sink drivers).

use async_trait::async_trait;
use chrono::Utc;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{EVENTS_CHANNEL, OUTBOX_CHANNEL, PgResultExt as _, PgStore, from_millis, millis, sql_limit};
use crate::store::sqlite::summarize_failures;
use crate::store::{
    DispatchResult, EventFilter, EventStatus, FailureRecord, InboxStore, InsertOutcome, Lease, NewEvent, Result, StoreError, StoredEvent,
};

const EVENT_COLUMNS: &str = "seq, id, source, kind, business_id, record, received_at, data, status, attempts, last_error, dispatched_at";

/// Reads the columns of [`EVENT_COLUMNS`], in order, with the row's `seq`.
fn read_event(row: &Row) -> Result<(i64, StoredEvent)> {
    const OP: &str = "read event";
    let corrupt = |reason: String| StoreError::Corrupt { table: "events", reason };
    let id: String = row.try_get(1).op(OP)?;
    let status: String = row.try_get(8).op(OP)?;
    let attempts: i64 = row.try_get(9).op(OP)?;
    let event = StoredEvent {
        status: EventStatus::parse(&status).ok_or_else(|| corrupt(format!("event {id} has status {status:?}")))?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt(format!("event {id} has {attempts} attempts")))?,
        received_at: from_millis("events", row.try_get(6).op(OP)?)?,
        dispatched_at: row.try_get::<_, Option<i64>>(11).op(OP)?.map(|ms| from_millis("events", ms)).transpose()?,
        source: row.try_get(2).op(OP)?,
        kind: row.try_get(3).op(OP)?,
        business_id: row.try_get(4).op(OP)?,
        record: row.try_get(5).op(OP)?,
        data: row.try_get(7).op(OP)?,
        last_error: row.try_get(10).op(OP)?,
        id,
    };
    Ok((row.try_get(0).op(OP)?, event))
}

/// Events from `rows`, in `seq` order (ascending, or newest first).
fn events(rows: &[Row], newest_first: bool) -> Result<Vec<StoredEvent>> {
    let mut read = rows.iter().map(read_event).collect::<Result<Vec<_>>>()?;
    read.sort_by_key(|(seq, _)| if newest_first { -seq } else { *seq });
    Ok(read.into_iter().map(|(_, e)| e).collect())
}

#[async_trait]
impl InboxStore for PgStore {
    async fn insert_events(&self, batch: Vec<NewEvent>) -> Result<Vec<InsertOutcome>> {
        const OP: &str = "insert events";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO events (id, source, kind, business_id, record, received_at, body, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO NOTHING",
            )
            .await
            .op(OP)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for e in &batch {
            let changed = tx
                .execute(&insert, &[&e.id, &e.source, &e.kind, &e.business_id, &e.record, &millis(e.received_at), &e.body, &e.data])
                .await
                .op(OP)?;
            outcomes.push(if changed == 0 { InsertOutcome::Duplicate } else { InsertOutcome::Inserted });
        }
        if outcomes.contains(&InsertOutcome::Inserted) {
            // Delivered to listeners (other replicas' dispatchers) only if the commit succeeds.
            tx.execute("SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(outcomes)
    }

    async fn claim_events(&self, lease: &Lease, limit: usize) -> Result<Vec<StoredEvent>> {
        const OP: &str = "claim events";
        let now = Utc::now();
        let rows = self
            .client(OP)
            .await?
            .query(
                &format!(
                    "UPDATE events SET claimed_by = $1, lease_until = $2
                     WHERE seq IN (SELECT seq FROM events
                                   WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= $3)
                                   ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
                     RETURNING {EVENT_COLUMNS}"
                ),
                &[&lease.holder(), &millis(lease.until(now)), &millis(now), &sql_limit(limit)],
            )
            .await
            .op(OP)?;
        events(&rows, false)
    }

    async fn release_events(&self, lease: &Lease, ids: Vec<String>) -> Result<()> {
        const OP: &str = "release events";
        self.client(OP)
            .await?
            .execute(
                "UPDATE events SET claimed_by = NULL, lease_until = NULL WHERE id = ANY($1) AND claimed_by = $2",
                &[&ids, &lease.holder()],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn complete_dispatches(&self, lease: &Lease, batch: Vec<(String, DispatchResult)>) -> Result<Vec<String>> {
        const OP: &str = "complete dispatch";
        let now = millis(Utc::now());
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let mut lost = Vec::new();
        let mut wrote_messages = false;
        for (event_id, result) in &batch {
            if apply_dispatch(&tx, lease.holder(), event_id, result, now).await? {
                wrote_messages |= !result.messages.is_empty();
            } else {
                lost.push(event_id.clone());
            }
        }
        if wrote_messages {
            tx.execute("SELECT pg_notify($1, '')", &[&OUTBOX_CHANNEL]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(lost)
    }

    async fn replay_event(&self, event_id: &str) -> Result<bool> {
        const OP: &str = "replay event";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let changed = tx
            .execute("UPDATE events SET status = 'pending', claimed_by = NULL, lease_until = NULL WHERE id = $1", &[&event_id])
            .await
            .op(OP)?;
        if changed > 0 {
            tx.execute("SELECT pg_notify($1, '')", &[&EVENTS_CHANNEL]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(changed > 0)
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>> {
        const OP: &str = "list events";
        let rows = self
            .client(OP)
            .await?
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE ($1::TEXT IS NULL OR kind = $1) AND ($2::TEXT IS NULL OR record = $2)
                     ORDER BY seq DESC LIMIT $3 OFFSET $4"
                ),
                &[&filter.kind, &filter.record, &sql_limit(filter.limit), &sql_limit(filter.offset)],
            )
            .await
            .op(OP)?;
        events(&rows, true)
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
        const OP: &str = "get event";
        let rows = self.client(OP).await?.query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"), &[&event_id]).await.op(OP)?;
        Ok(events(&rows, false)?.pop())
    }

    async fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>> {
        const OP: &str = "list failures";
        let rows = self
            .client(OP)
            .await?
            .query("SELECT plugin, cause, at, plugin_version FROM plugin_failures WHERE event_id = $1 ORDER BY id", &[&event_id])
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                Ok(FailureRecord {
                    plugin: row.try_get(0).op(OP)?,
                    cause: row.try_get(1).op(OP)?,
                    at: from_millis("plugin_failures", row.try_get(2).op(OP)?)?,
                    plugin_version: row.try_get(3).op(OP)?,
                })
            })
            .collect()
    }

    async fn recent_failures(&self, limit: usize) -> Result<Vec<(String, FailureRecord)>> {
        const OP: &str = "recent failures";
        let rows = self
            .client(OP)
            .await?
            .query("SELECT event_id, plugin, cause, at, plugin_version FROM plugin_failures ORDER BY id DESC LIMIT $1", &[&sql_limit(limit)])
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let record = FailureRecord {
                    plugin: row.try_get(1).op(OP)?,
                    cause: row.try_get(2).op(OP)?,
                    at: from_millis("plugin_failures", row.try_get(3).op(OP)?)?,
                    plugin_version: row.try_get(4).op(OP)?,
                };
                Ok((row.try_get(0).op(OP)?, record))
            })
            .collect()
    }
}

/// One event's share of [`InboxStore::complete_dispatches`], inside the caller's transaction:
/// its status, cancels, outbox rows and failures. `false` (nothing written) when the event is no
/// longer pending or another claimer holds it.
async fn apply_dispatch(tx: &Transaction<'_>, holder: &str, event_id: &str, result: &DispatchResult, now: i64) -> Result<bool> {
    const OP: &str = "complete dispatch";
    let last_error = summarize_failures(result);
    let status = if last_error.is_some() { EventStatus::Failed } else { EventStatus::Dispatched };
    let updated = tx
        .execute(
            "UPDATE events
             SET status = $2, attempts = attempts + 1, last_error = $3, dispatched_at = $4,
                 claimed_by = NULL, lease_until = NULL
             WHERE id = $1 AND status = 'pending' AND (claimed_by IS NULL OR claimed_by = $5)",
            &[&event_id, &status.as_str(), &last_error, &now, &holder],
        )
        .await
        .op(OP)?;
    if updated == 0 {
        let known: bool = tx.query_one("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)", &[&event_id]).await.op(OP)?.try_get(0).op(OP)?;
        if !known {
            return Err(StoreError::UnknownEvent { id: event_id.to_owned() });
        }
        return Ok(false);
    }
    // As in SQLite: cancels first, only of earlier events' rows, the prefix compared exactly.
    for (plugin, prefix) in &result.cancels {
        tx.execute(
            "UPDATE outbox SET status = 'cancelled', claimed_by = NULL, lease_until = NULL
             WHERE plugin = $1 AND status = 'pending' AND event_id <> $3
               AND left(key, char_length($2)) = $2",
            &[plugin, prefix, &event_id],
        )
        .await
        .op(OP)?;
    }
    for m in &result.messages {
        tx.execute(
            "INSERT INTO outbox
               (event_id, plugin, key, channel, recipient, body, not_before, created_at, customer_mobile, customer_phone, timezone, plugin_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (event_id, plugin, key) DO NOTHING",
            &[
                &event_id,
                &m.plugin,
                &m.key,
                &m.channel.as_str(),
                &m.to.to_string(),
                &m.body,
                &m.not_before.map(millis),
                &now,
                &result.customer.mobile,
                &result.customer.phone,
                &result.timezone,
                &result.plugin_version(&m.plugin),
            ],
        )
        .await
        .op(OP)?;
    }
    for f in &result.failures {
        tx.execute(
            "INSERT INTO plugin_failures (event_id, plugin, cause, at, plugin_version) VALUES ($1, $2, $3, $4, $5)",
            &[&event_id, &f.plugin, &f.cause, &now, &result.plugin_version(&f.plugin)],
        )
        .await
        .op(OP)?;
    }
    super::runs::write_runs(tx, event_id, result, now).await?;
    Ok(true)
}

