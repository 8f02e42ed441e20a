//! [`RunStore`] on PostgreSQL, and the write of a dispatch's runs inside its transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::{PgResultExt as _, PgStore, from_millis, millis, sql_limit};
use crate::store::{DispatchResult, Result, RunFilter, RunStore, StoredRun};

/// Records the context and runs of `result` for `event_id` (part of completing its dispatch).
pub(super) async fn write_runs(tx: &Transaction<'_>, event_id: &str, result: &DispatchResult, now: i64) -> Result<()> {
    const OP: &str = "record plugin runs";
    let Some(context) = &result.context else { return Ok(()) };
    if result.runs.is_empty() {
        return Ok(());
    }
    tx.execute("INSERT INTO plugin_contexts (hash, body) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING", &[&context.hash, &context.json])
        .await
        .op(OP)?;
    for run in &result.runs {
        let (actions, error) = match &run.outcome {
            Ok(actions) => (Some(actions), None),
            Err(error) => (None, Some(error)),
        };
        tx.execute(
            "INSERT INTO plugin_runs (event_id, plugin, digest, context_hash, actions, error, ran_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&event_id, &run.plugin, &run.digest, &context.hash, &actions, &error, &now],
        )
        .await
        .op(OP)?;
    }
    Ok(())
}

#[async_trait]
impl RunStore for PgStore {
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<StoredRun>> {
        const OP: &str = "list plugin runs";
        let since = filter.since.map(millis);
        let rows = self
            .client(OP)
            .await?
            .query(
                "SELECT r.id, r.event_id, e.kind, r.plugin, r.digest, c.body, r.actions, r.error, r.ran_at
                 FROM plugin_runs r
                 JOIN events e ON e.id = r.event_id
                 JOIN plugin_contexts c ON c.hash = r.context_hash
                 WHERE r.plugin = $1 AND ($2::TEXT IS NULL OR e.kind = $2) AND ($3::BIGINT IS NULL OR r.ran_at >= $3)
                   AND r.id = (SELECT MAX(id) FROM plugin_runs l WHERE l.plugin = r.plugin AND l.event_id = r.event_id)
                 ORDER BY r.id DESC LIMIT $4",
                &[&filter.plugin, &filter.kind, &since, &sql_limit(filter.limit)],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let actions: Option<String> = row.try_get(6).op(OP)?;
                let error: Option<String> = row.try_get(7).op(OP)?;
                Ok(StoredRun {
                    id: row.try_get(0).op(OP)?,
                    event_id: row.try_get(1).op(OP)?,
                    kind: row.try_get(2).op(OP)?,
                    plugin: row.try_get(3).op(OP)?,
                    digest: row.try_get(4).op(OP)?,
                    context: row.try_get(5).op(OP)?,
                    outcome: actions.ok_or_else(|| error.unwrap_or_default()),
                    ran_at: from_millis("plugin_runs", row.try_get(8).op(OP)?)?,
                })
            })
            .collect()
    }

    async fn prune_runs(&self, before: DateTime<Utc>) -> Result<usize> {
        const OP: &str = "prune plugin runs";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let pruned = tx.execute("DELETE FROM plugin_runs WHERE ran_at < $1", &[&millis(before)]).await.op(OP)?;
        tx.execute("DELETE FROM plugin_contexts c WHERE NOT EXISTS (SELECT 1 FROM plugin_runs r WHERE r.context_hash = c.hash)", &[]).await.op(OP)?;
        tx.commit().await.op(OP)?;
        Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
    }
}
