//! [`RunStore`] on SQLite, and the write of a dispatch's runs inside its transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis, sql_limit};
use crate::store::{DispatchResult, Result, RunFilter, RunStore, StoredRun};

/// Records the context and runs of `result` for `event_id` (part of completing its dispatch).
pub(super) fn write_runs(tx: &Connection, event_id: &str, result: &DispatchResult, now: i64) -> Result<()> {
    const OP: &str = "record plugin runs";
    let Some(context) = &result.context else { return Ok(()) };
    if result.runs.is_empty() {
        return Ok(());
    }
    tx.prepare_cached("INSERT INTO plugin_contexts (hash, body) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING")
        .op(OP)?
        .execute(params![context.hash, context.json])
        .op(OP)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO plugin_runs (event_id, plugin, digest, context_hash, actions, error, ran_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .op(OP)?;
    for run in &result.runs {
        let (actions, error) = match &run.outcome {
            Ok(actions) => (Some(actions), None),
            Err(error) => (None, Some(error)),
        };
        insert.execute(params![event_id, run.plugin, run.digest, context.hash, actions, error, now]).op(OP)?;
    }
    Ok(())
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>> {
        const OP: &str = "list plugin runs";
        let filter = filter.clone();
        self.read(OP, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT r.id, r.event_id, e.kind, r.plugin, r.digest, c.body, r.actions, r.error, r.ran_at
                     FROM plugin_runs r
                     JOIN events e ON e.id = r.event_id
                     JOIN plugin_contexts c ON c.hash = r.context_hash
                     WHERE r.plugin = ?1 AND (?2 IS NULL OR e.kind = ?2) AND (?3 IS NULL OR r.ran_at >= ?3)
                       AND r.id = (SELECT MAX(id) FROM plugin_runs l WHERE l.plugin = r.plugin AND l.event_id = r.event_id)
                     ORDER BY r.id DESC LIMIT ?4",
                )
                .op(OP)?;
            let rows = stmt
                .query_map(params![filter.plugin, filter.kind, filter.since.map(millis), sql_limit(filter.limit)], |row| {
                    Ok((
                        (row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?),
                        (row.get::<_, String>(4)?, row.get::<_, String>(5)?, row.get::<_, Option<String>>(6)?, row.get::<_, Option<String>>(7)?),
                        row.get::<_, i64>(8)?,
                    ))
                })
                .op(OP)?;
            rows.map(|row| {
                let ((id, event_id, kind, plugin), (digest, context, actions, error), ran_at) = row.op(OP)?;
                let outcome = actions.ok_or_else(|| error.unwrap_or_default());
                Ok(StoredRun { id, event_id, kind, plugin, digest, context, outcome, ran_at: from_millis("plugin_runs", ran_at)? })
            })
            .collect()
        })
        .await
    }

    async fn prune_runs(&self, before: DateTime<Utc>) -> Result<usize> {
        const OP: &str = "prune plugin runs";
        self.write(OP, move |conn| {
            let tx = conn.transaction().op(OP)?;
            let pruned = tx.execute("DELETE FROM plugin_runs WHERE ran_at < ?1", [millis(before)]).op(OP)?;
            tx.execute("DELETE FROM plugin_contexts WHERE hash NOT IN (SELECT context_hash FROM plugin_runs)", []).op(OP)?;
            tx.commit().op(OP)?;
            Ok(pruned)
        })
        .await
    }
}
