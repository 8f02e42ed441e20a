//! [`SecretStore`] on SQLite: sealed bytes by name; a key rotation rewrites every row in one
//! transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis};
use crate::store::{ResealFn, Result, SecretStore, StoreError};

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(&self, name: &str, sealed: Vec<u8>) -> Result<()> {
        let name = name.to_owned();
        self.write("put secret", move |conn| {
            conn.execute(
                "INSERT INTO secrets (name, sealed, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                params![name, sealed, millis(Utc::now())],
            )
            .op("put secret")
            .map(drop)
        })
        .await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.read("get secret", move |conn| {
            conn.query_row("SELECT sealed FROM secrets WHERE name = ?1", [name], |row| row.get(0)).optional().op("get secret")
        })
        .await
    }

    async fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        const OP: &str = "list secrets";
        self.read(OP, |conn| {
            let mut stmt = conn.prepare_cached("SELECT name, updated_at FROM secrets ORDER BY name").op(OP)?;
            let rows = stmt.query_map([], |row| <(String, i64)>::try_from(row)).op(OP)?.collect::<rusqlite::Result<Vec<_>>>().op(OP)?;
            rows.into_iter().map(|(name, at)| Ok((name, from_millis("secrets", at)?))).collect()
        })
        .await
    }

    async fn has_secrets(&self) -> Result<bool> {
        self.read("check secrets", |conn| conn.query_row("SELECT EXISTS (SELECT 1 FROM secrets)", [], |row| row.get(0)).op("check secrets"))
            .await
    }

    async fn rotate_secrets(&self, reseal: Box<ResealFn>) -> Result<usize> {
        const OP: &str = "rotate secrets";
        self.write(OP, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).op(OP)?;
            let rows = {
                let mut stmt = tx.prepare("SELECT name, sealed FROM secrets ORDER BY name").op(OP)?;
                stmt.query_map([], |row| <(String, Vec<u8>)>::try_from(row)).op(OP)?.collect::<rusqlite::Result<Vec<_>>>().op(OP)?
            };
            let now = millis(Utc::now());
            for (name, sealed) in &rows {
                let resealed = reseal(name, sealed).map_err(|cause| StoreError::Rotate { name: name.clone(), cause })?;
                tx.execute("UPDATE secrets SET sealed = ?2, updated_at = ?3 WHERE name = ?1", params![name, resealed, now]).op(OP)?;
            }
            tx.commit().op(OP)?;
            Ok(rows.len())
        })
        .await
    }
}
