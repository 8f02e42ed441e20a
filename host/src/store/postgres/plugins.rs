//! [`PluginStore`] on PostgreSQL.

use async_trait::async_trait;
use chrono::Utc;
use tokio_postgres::Row;

use super::{PgResultExt as _, PgStore, from_millis, millis};
use crate::store::{InstalledPlugin, PluginStore, Result, ShadowResult};

const COLUMNS: &str = "name, digest, previous, enabled, updated_at";

fn to_entry(row: &Row) -> Result<InstalledPlugin> {
    const OP: &str = "read installed plugin";
    Ok(InstalledPlugin {
        name: row.try_get(0).op(OP)?,
        digest: row.try_get(1).op(OP)?,
        previous: row.try_get(2).op(OP)?,
        enabled: row.try_get(3).op(OP)?,
        updated_at: from_millis("plugin_installs", row.try_get(4).op(OP)?)?,
    })
}

#[async_trait]
impl PluginStore for PgStore {
    async fn put_plugin_wasm(&self, digest: &str, wasm: Vec<u8>) -> Result<()> {
        const OP: &str = "store plugin wasm";
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO plugin_wasm (digest, wasm, added_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
                &[&digest, &wasm, &millis(Utc::now())],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn get_plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        const OP: &str = "read plugin wasm";
        let row = self.client(OP).await?.query_opt("SELECT wasm FROM plugin_wasm WHERE digest = $1", &[&digest]).await.op(OP)?;
        row.map(|row| row.try_get(0).op(OP)).transpose()
    }

    async fn install_plugin(&self, name: &str, digest: &str) -> Result<InstalledPlugin> {
        const OP: &str = "install plugin";
        let row = self
            .client(OP)
            .await?
            .query_one(
                &format!(
                    "INSERT INTO plugin_installs AS p (name, digest, previous, enabled, updated_at) VALUES ($1, $2, NULL, TRUE, $3)
                     ON CONFLICT (name) DO UPDATE SET
                       previous = CASE WHEN p.digest IS NOT DISTINCT FROM excluded.digest THEN p.previous ELSE p.digest END,
                       digest = excluded.digest, enabled = TRUE, updated_at = excluded.updated_at
                     RETURNING {COLUMNS}"
                ),
                &[&name, &digest, &millis(Utc::now())],
            )
            .await
            .op(OP)?;
        to_entry(&row)
    }

    async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<InstalledPlugin> {
        const OP: &str = "switch plugin";
        let row = self
            .client(OP)
            .await?
            .query_one(
                &format!(
                    "INSERT INTO plugin_installs (name, digest, previous, enabled, updated_at) VALUES ($1, NULL, NULL, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at
                     RETURNING {COLUMNS}"
                ),
                &[&name, &enabled, &millis(Utc::now())],
            )
            .await
            .op(OP)?;
        to_entry(&row)
    }

    async fn rollback_plugin(&self, name: &str) -> Result<Option<InstalledPlugin>> {
        const OP: &str = "roll back plugin";
        let row = self
            .client(OP)
            .await?
            .query_opt(
                &format!(
                    "UPDATE plugin_installs SET digest = previous, previous = digest, enabled = TRUE, updated_at = $2
                     WHERE name = $1 AND previous IS NOT NULL RETURNING {COLUMNS}"
                ),
                &[&name, &millis(Utc::now())],
            )
            .await
            .op(OP)?;
        row.as_ref().map(to_entry).transpose()
    }

    async fn list_installed_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        const OP: &str = "list installed plugins";
        let rows = self.client(OP).await?.query(&format!("SELECT {COLUMNS} FROM plugin_installs ORDER BY name"), &[]).await.op(OP)?;
        rows.iter().map(to_entry).collect()
    }

    async fn record_shadow(&self, result: &ShadowResult) -> Result<()> {
        const OP: &str = "record shadow result";
        let (events, different) = (count(result.events), count(result.different));
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO plugin_shadows (plugin, candidate, digest, events, different, ran_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (plugin) DO UPDATE SET candidate = excluded.candidate, digest = excluded.digest,
                   events = excluded.events, different = excluded.different, ran_at = excluded.ran_at",
                &[&result.plugin, &result.candidate, &result.digest, &events, &different, &millis(result.ran_at)],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn last_shadows(&self) -> Result<Vec<ShadowResult>> {
        const OP: &str = "list shadow results";
        let rows = self
            .client(OP)
            .await?
            .query("SELECT plugin, candidate, digest, events, different, ran_at FROM plugin_shadows ORDER BY plugin", &[])
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                Ok(ShadowResult {
                    plugin: row.try_get(0).op(OP)?,
                    candidate: row.try_get(1).op(OP)?,
                    digest: row.try_get(2).op(OP)?,
                    events: row.try_get::<_, i64>(3).op(OP)?.try_into().unwrap_or(0),
                    different: row.try_get::<_, i64>(4).op(OP)?.try_into().unwrap_or(0),
                    ran_at: from_millis("plugin_shadows", row.try_get(5).op(OP)?)?,
                })
            })
            .collect()
    }
}

/// A count as PostgreSQL's BIGINT (saturating: no run compares 2^63 events).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
