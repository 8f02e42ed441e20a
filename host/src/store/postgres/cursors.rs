//! [`CursorStore`] on PostgreSQL: a cursor row is also the lease on its poller.

use async_trait::async_trait;
use chrono::Utc;

use super::{PgResultExt as _, PgStore, from_millis, millis};
use crate::store::{Cursor, CursorStore, Lease, Result};

#[async_trait]
impl CursorStore for PgStore {
    async fn get_cursor(&self, name: &str) -> Result<Option<Cursor>> {
        const OP: &str = "get cursor";
        let row = self
            .client(OP)
            .await?
            .query_opt("SELECT value, updated_at FROM cursors WHERE name = $1 AND value IS NOT NULL", &[&name])
            .await
            .op(OP)?;
        row.map(|row| Ok(Cursor { value: row.try_get(0).op(OP)?, updated_at: from_millis("cursors", row.try_get(1).op(OP)?)? })).transpose()
    }

    async fn put_cursor(&self, name: &str, value: &str) -> Result<()> {
        const OP: &str = "put cursor";
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                &[&name, &value, &millis(Utc::now())],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn list_cursors(&self) -> Result<Vec<(String, Cursor)>> {
        const OP: &str = "list cursors";
        let rows = self
            .client(OP)
            .await?
            .query("SELECT name, value, updated_at FROM cursors WHERE value IS NOT NULL ORDER BY name", &[])
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0).op(OP)?, Cursor { value: row.try_get(1).op(OP)?, updated_at: from_millis("cursors", row.try_get(2).op(OP)?)? })))
            .collect()
    }

    async fn lease_cursor(&self, name: &str, lease: &Lease) -> Result<bool> {
        const OP: &str = "lease cursor";
        let now = Utc::now();
        let changed = self
            .client(OP)
            .await?
            .execute(
                "INSERT INTO cursors (name, value, updated_at, claimed_by, lease_until) VALUES ($1, NULL, $4, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET claimed_by = excluded.claimed_by, lease_until = excluded.lease_until
                 WHERE cursors.claimed_by IS NULL OR cursors.claimed_by = excluded.claimed_by OR cursors.lease_until <= $4",
                &[&name, &lease.holder(), &millis(lease.until(now)), &millis(now)],
            )
            .await
            .op(OP)?;
        Ok(changed > 0)
    }

    async fn release_cursor(&self, name: &str, lease: &Lease) -> Result<()> {
        const OP: &str = "release cursor";
        self.client(OP)
            .await?
            .execute("UPDATE cursors SET claimed_by = NULL, lease_until = NULL WHERE name = $1 AND claimed_by = $2", &[&name, &lease.holder()])
            .await
            .op(OP)
            .map(drop)
    }
}
