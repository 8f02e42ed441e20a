//! [`PluginStore`] on SQLite.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis};
use crate::store::{InstalledPlugin, PluginStore, Result, ShadowResult};

const COLUMNS: &str = "name, digest, previous, enabled, updated_at";

fn entry(conn: &Connection, op: &'static str, name: &str) -> Result<Option<InstalledPlugin>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM plugin_installs WHERE name = ?1"), [name], |row| {
        <(String, Option<String>, Option<String>, bool, i64)>::try_from(row)
    })
    .optional()
    .op(op)?
    .map(to_entry)
    .transpose()
}

fn to_entry((name, digest, previous, enabled, at): (String, Option<String>, Option<String>, bool, i64)) -> Result<InstalledPlugin> {
    Ok(InstalledPlugin { name, digest, previous, enabled, updated_at: from_millis("plugin_installs", at)? })
}

#[async_trait]
impl PluginStore for SqliteStore {
    async fn put_plugin_wasm(&self, digest: &str, wasm: Vec<u8>) -> Result<()> {
        let digest = digest.to_owned();
        self.write("store plugin wasm", move |conn| {
            conn.execute(
                "INSERT INTO plugin_wasm (digest, wasm, added_at) VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING",
                params![digest, wasm, millis(Utc::now())],
            )
            .op("store plugin wasm")
            .map(drop)
        })
        .await
    }

    async fn get_plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.read("read plugin wasm", move |conn| {
            conn.query_row("SELECT wasm FROM plugin_wasm WHERE digest = ?1", [digest], |row| row.get(0)).optional().op("read plugin wasm")
        })
        .await
    }

    async fn install_plugin(&self, name: &str, digest: &str) -> Result<InstalledPlugin> {
        const OP: &str = "install plugin";
        let (name, digest) = (name.to_owned(), digest.to_owned());
        self.write(OP, move |conn| {
            let tx = conn.transaction().op(OP)?;
            tx.execute(
                "INSERT INTO plugin_installs (name, digest, previous, enabled, updated_at) VALUES (?1, ?2, NULL, 1, ?3)
                 ON CONFLICT (name) DO UPDATE SET
                   previous = CASE WHEN digest IS excluded.digest THEN previous ELSE digest END,
                   digest = excluded.digest, enabled = 1, updated_at = excluded.updated_at",
                params![name, digest, millis(Utc::now())],
            )
            .op(OP)?;
            let now = entry(&tx, OP, &name)?.expect("the entry just written");
            tx.commit().op(OP)?;
            Ok(now)
        })
        .await
    }

    async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<InstalledPlugin> {
        const OP: &str = "switch plugin";
        let name = name.to_owned();
        self.write(OP, move |conn| {
            let tx = conn.transaction().op(OP)?;
            tx.execute(
                "INSERT INTO plugin_installs (name, digest, previous, enabled, updated_at) VALUES (?1, NULL, NULL, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                params![name, enabled, millis(Utc::now())],
            )
            .op(OP)?;
            let now = entry(&tx, OP, &name)?.expect("the entry just written");
            tx.commit().op(OP)?;
            Ok(now)
        })
        .await
    }

    async fn rollback_plugin(&self, name: &str) -> Result<Option<InstalledPlugin>> {
        const OP: &str = "roll back plugin";
        let name = name.to_owned();
        self.write(OP, move |conn| {
            let tx = conn.transaction().op(OP)?;
            let changed = tx
                .execute(
                    "UPDATE plugin_installs SET digest = previous, previous = digest, enabled = 1, updated_at = ?2
                     WHERE name = ?1 AND previous IS NOT NULL",
                    params![name, millis(Utc::now())],
                )
                .op(OP)?;
            let now = if changed > 0 { entry(&tx, OP, &name)? } else { None };
            tx.commit().op(OP)?;
            Ok(now)
        })
        .await
    }

    async fn list_installed_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        const OP: &str = "list installed plugins";
        self.read(OP, move |conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM plugin_installs ORDER BY name")).op(OP)?;
            let rows = stmt.query_map([], |row| <(String, Option<String>, Option<String>, bool, i64)>::try_from(row)).op(OP)?;
            rows.map(|row| to_entry(row.op(OP)?)).collect()
        })
        .await
    }

    async fn record_shadow(&self, result: &ShadowResult) -> Result<()> {
        const OP: &str = "record shadow result";
        let r = result.clone();
        self.write(OP, move |conn| {
            conn.execute(
                "INSERT INTO plugin_shadows (plugin, candidate, digest, events, different, ran_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (plugin) DO UPDATE SET candidate = excluded.candidate, digest = excluded.digest,
                   events = excluded.events, different = excluded.different, ran_at = excluded.ran_at",
                params![r.plugin, r.candidate, r.digest, r.events, r.different, millis(r.ran_at)],
            )
            .op(OP)
            .map(drop)
        })
        .await
    }

    async fn last_shadows(&self) -> Result<Vec<ShadowResult>> {
        const OP: &str = "list shadow results";
        self.read(OP, move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT plugin, candidate, digest, events, different, ran_at FROM plugin_shadows ORDER BY plugin")
                .op(OP)?;
            let rows = stmt.query_map([], |row| <(String, String, String, u64, u64, i64)>::try_from(row)).op(OP)?;
            rows.map(|row| {
                let (plugin, candidate, digest, events, different, at) = row.op(OP)?;
                Ok(ShadowResult { plugin, candidate, digest, events, different, ran_at: from_millis("plugin_shadows", at)? })
            })
            .collect()
        })
        .await
    }
}
