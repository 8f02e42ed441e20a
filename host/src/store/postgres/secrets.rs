//! [`SecretStore`] on PostgreSQL: sealed bytes by name (sealed by `crate::secrets`, exactly as
//! for SQLite); a key rotation rewrites every row in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PgResultExt as _, PgStore, from_millis, millis};
use crate::store::{ResealFn, Result, SecretStore, StoreError};

#[async_trait]
impl SecretStore for PgStore {
    async fn put_secret(&self, name: &str, sealed: Vec<u8>) -> Result<()> {
        const OP: &str = "put secret";
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO secrets (name, sealed, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                &[&name, &sealed, &millis(Utc::now())],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        const OP: &str = "get secret";
        let row = self.client(OP).await?.query_opt("SELECT sealed FROM secrets WHERE name = $1", &[&name]).await.op(OP)?;
        row.map(|row| row.try_get(0).op(OP)).transpose()
    }

    async fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        const OP: &str = "list secrets";
        let rows = self.client(OP).await?.query("SELECT name, updated_at FROM secrets ORDER BY name", &[]).await.op(OP)?;
        rows.iter().map(|row| Ok((row.try_get(0).op(OP)?, from_millis("secrets", row.try_get(1).op(OP)?)?))).collect()
    }

    async fn has_secrets(&self) -> Result<bool> {
        const OP: &str = "check secrets";
        self.client(OP).await?.query_one("SELECT EXISTS (SELECT 1 FROM secrets)", &[]).await.op(OP)?.try_get(0).op(OP)
    }

    async fn rotate_secrets(&self, reseal: Box<ResealFn>) -> Result<usize> {
        const OP: &str = "rotate secrets";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let rows = tx.query("SELECT name, sealed FROM secrets ORDER BY name FOR UPDATE", &[]).await.op(OP)?;
        let now = millis(Utc::now());
        for row in &rows {
            let (name, sealed): (String, Vec<u8>) = (row.try_get(0).op(OP)?, row.try_get(1).op(OP)?);
            let resealed = reseal(&name, &sealed).map_err(|cause| StoreError::Rotate { name: name.clone(), cause })?;
            tx.execute("UPDATE secrets SET sealed = $2, updated_at = $3 WHERE name = $1", &[&name, &resealed, &now]).await.op(OP)?;
        }
        tx.commit().await.op(OP)?;
        Ok(rows.len())
    }
}
