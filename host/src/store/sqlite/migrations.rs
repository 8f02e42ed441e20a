//! SQLite schema versions: stepwise upgrades tracked in `PRAGMA user_version`, all applied in one
//! transaction; a database newer than this build is refused untouched.
//!
//! Released steps are frozen: never edit one, add the next. Each released schema also has a
//! frozen copy in `host/tests/fixtures/schema_v<N>.sql` that upgrade tests start from.

use rusqlite::{Connection, TransactionBehavior};

use super::SqlResultExt as _;
use crate::store::{Result, StoreError};

/// Schema version 1: inbox, outbox, plugin failures, sealed secrets. Times are unix milliseconds.
const V1: &str = r#"
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    source        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    business_id   TEXT,
    received_at   INTEGER NOT NULL,
    body          BLOB    NOT NULL,
    data          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'dispatched', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    dispatched_at INTEGER
);
CREATE INDEX events_pending ON events (seq) WHERE status = 'pending';

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL REFERENCES events (id),
    plugin     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    channel    TEXT    NOT NULL CHECK (channel IN ('sms', 'call')),
    recipient  TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    not_before INTEGER,
    status     TEXT    NOT NULL DEFAULT 'pending',
    created_at INTEGER NOT NULL,
    UNIQUE (event_id, plugin, key)
);
CREATE INDEX outbox_pending_by_plugin ON outbox (plugin, key) WHERE status = 'pending';

CREATE TABLE plugin_failures (
    id       INTEGER PRIMARY KEY,
    event_id TEXT    NOT NULL REFERENCES events (id),
    plugin   TEXT    NOT NULL,
    cause    TEXT    NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX plugin_failures_by_event ON plugin_failures (event_id);

CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// `UPGRADES[n]` takes a database from version `n` to `n + 1`.
const UPGRADES: &[&str] = &[V1];

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = UPGRADES.len() as i64;

/// Reads `PRAGMA user_version`.
pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Fails with [`StoreError::SchemaTooNew`] when `found` is newer than this build.
pub(super) fn refuse_newer(path: &str, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`] in one immediate transaction. Returns the version the
/// database had before. A no-op (and no write) when it is already current.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<i64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op("begin migration")?;
    // Read again inside the write lock: another process may have migrated meanwhile.
    let found = user_version(&tx).op("read schema version")?;
    refuse_newer(path, found)?;
    let from = usize::try_from(found).map_err(|_| StoreError::Corrupt {
        table: "user_version",
        reason: format!("negative schema version {found}"),
    })?;
    if from == UPGRADES.len() {
        return Ok(found);
    }
    for (step, sql) in UPGRADES.iter().enumerate().skip(from) {
        tracing::info!(from = step, to = step + 1, path, "Upgrading store schema.");
        tx.execute_batch(sql).op("upgrade schema")?;
    }
    // `PRAGMA` takes no bound parameters; the value is a compile-time integer.
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .op("set schema version")?;
    tx.commit().op("commit migration")?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema objects of a database, whitespace-normalised, for comparison.
    fn schema(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name",
            )
            .unwrap();
        stmt.query_map([], |row| {
            let sql: String = row.get(2)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn a_fresh_database_migrates_to_the_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 0);
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn version_1_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v1.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 1);
        // Holds while version 1 is the newest; later versions compare against their own fixture.
        if SCHEMA_VERSION == 1 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
        let err = migrate(&mut conn, "x.db").unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(schema(&conn).is_empty());
    }
}
