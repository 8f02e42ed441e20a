//! [`CursorStore`] on SQLite.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{OptionalExtension as _, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis};
use crate::store::{Cursor, CursorStore, Lease, Result};

#[async_trait]
impl CursorStore for SqliteStore {
    async fn get_cursor(&self, name: &str) -> Result<Option<Cursor>> {
        let name = name.to_owned();
        self.read("get cursor", move |conn| {
            let row = conn
                .query_row("SELECT value, updated_at FROM cursors WHERE name = ?1 AND value IS NOT NULL", [name], |row| {
                    <(String, i64)>::try_from(row)
                })
                .optional()
                .op("get cursor")?;
            row.map(|(value, at)| Ok(Cursor { value, updated_at: from_millis("cursors", at)? })).transpose()
        })
        .await
    }

    async fn put_cursor(&self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write("put cursor", move |conn| {
            conn.execute(
                "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![name, value, millis(Utc::now())],
            )
            .op("put cursor")
            .map(drop)
        })
        .await
    }

    async fn list_cursors(&self) -> Result<Vec<(String, Cursor)>> {
        const OP: &str = "list cursors";
        self.read(OP, |conn| {
            let mut stmt = conn.prepare_cached("SELECT name, value, updated_at FROM cursors WHERE value IS NOT NULL ORDER BY name").op(OP)?;
            let rows = stmt.query_map([], |row| <(String, String, i64)>::try_from(row)).op(OP)?.collect::<rusqlite::Result<Vec<_>>>().op(OP)?;
            rows.into_iter().map(|(name, value, at)| Ok((name, Cursor { value, updated_at: from_millis("cursors", at)? }))).collect()
        })
        .await
    }

    async fn lease_cursor(&self, name: &str, lease: &Lease) -> Result<bool> {
        let (name, holder, now) = (name.to_owned(), lease.holder().to_owned(), Utc::now());
        let until = millis(lease.until(now));
        self.write("lease cursor", move |conn| {
            let changed = conn
                .execute(
                    "INSERT INTO cursors (name, value, updated_at, claimed_by, lease_until) VALUES (?1, NULL, ?4, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET claimed_by = excluded.claimed_by, lease_until = excluded.lease_until
                     WHERE cursors.claimed_by IS NULL OR cursors.claimed_by = excluded.claimed_by OR cursors.lease_until <= ?4",
                    params![name, holder, until, millis(now)],
                )
                .op("lease cursor")?;
            Ok(changed > 0)
        })
        .await
    }

    async fn release_cursor(&self, name: &str, lease: &Lease) -> Result<()> {
        let (name, holder) = (name.to_owned(), lease.holder().to_owned());
        self.write("release cursor", move |conn| {
            conn.execute("UPDATE cursors SET claimed_by = NULL, lease_until = NULL WHERE name = ?1 AND claimed_by = ?2", params![name, holder])
                .op("release cursor")
                .map(drop)
        })
        .await
    }
}
