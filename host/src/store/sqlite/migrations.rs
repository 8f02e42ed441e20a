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

/// Schema version 2: the Twilio sender's state. Outbox rows gain the send schedule and result
/// (`status` grows `sending`, `sent`, `failed`, `undeliverable`, `dry-run`), the customer numbers
/// resolved at dispatch, and a replay `series`; every Twilio request is an `attempts` row, every
/// status change a `message_history` row; opted-out numbers and Lookups answers are kept.
const V2: &str = r#"
ALTER TABLE outbox ADD COLUMN customer_mobile TEXT;
ALTER TABLE outbox ADD COLUMN customer_phone  TEXT;
ALTER TABLE outbox ADD COLUMN series          INTEGER NOT NULL DEFAULT 1;
ALTER TABLE outbox ADD COLUMN attempts        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE outbox ADD COLUMN sending_since   INTEGER;
ALTER TABLE outbox ADD COLUMN to_number       TEXT;
ALTER TABLE outbox ADD COLUMN sid             TEXT;
ALTER TABLE outbox ADD COLUMN error_code      INTEGER;
ALTER TABLE outbox ADD COLUMN error_message   TEXT;
ALTER TABLE outbox ADD COLUMN updated_at      INTEGER;
CREATE INDEX outbox_due ON outbox (id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_event ON outbox (event_id);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    outbox_id     INTEGER NOT NULL REFERENCES outbox (id),
    series        INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    request       TEXT    NOT NULL,
    http_status   INTEGER,
    sid           TEXT,
    error_code    INTEGER,
    error_message TEXT,
    latency_ms    INTEGER NOT NULL
);
CREATE INDEX attempts_by_outbox ON attempts (outbox_id);

CREATE TABLE message_history (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    at        INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    detail    TEXT
);
CREATE INDEX message_history_by_outbox ON message_history (outbox_id);

CREATE TABLE opt_outs (
    number TEXT    PRIMARY KEY,
    at     INTEGER NOT NULL,
    reason TEXT    NOT NULL
) WITHOUT ROWID;

CREATE TABLE lookups (
    number     TEXT    PRIMARY KEY,
    valid      INTEGER NOT NULL,
    line_type  TEXT,
    detail     TEXT,
    fetched_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Schema version 3: Twilio webhooks in. Outbox rows gain the delivery status Twilio reports
/// (`delivery_status`, with its `delivery_rank` so a late callback never moves it backwards);
/// every status callback is a `twilio_callbacks` row, deduplicated by (SID, status, sequence
/// number or ''), kept even for SIDs the host never sent; every inbound SMS is an
/// `inbound_messages` row keyed by its MessageSid, linked to the most recent message sent to its
/// sender and through it to that message's source event. A callback that arrives before the
/// sender has stored its SID is adopted when the SID is stored.
const V3: &str = r#"
ALTER TABLE outbox ADD COLUMN delivery_status TEXT;
ALTER TABLE outbox ADD COLUMN delivery_rank   INTEGER;
CREATE INDEX outbox_by_sid ON outbox (sid) WHERE sid IS NOT NULL;
CREATE INDEX outbox_by_to_number ON outbox (to_number, id) WHERE to_number IS NOT NULL;

CREATE TABLE twilio_callbacks (
    id          INTEGER PRIMARY KEY,
    sid         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    sequence    TEXT    NOT NULL DEFAULT '',
    rank        INTEGER,
    outbox_id   INTEGER REFERENCES outbox (id),
    error_code  INTEGER,
    detail      TEXT,
    params      TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (sid, status, sequence)
);
CREATE INDEX twilio_callbacks_by_outbox ON twilio_callbacks (outbox_id);

CREATE TABLE inbound_messages (
    sid          TEXT    PRIMARY KEY,
    from_number  TEXT    NOT NULL,
    to_number    TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    opt_out_type TEXT,
    outbox_id    INTEGER REFERENCES outbox (id),
    event_id     TEXT,
    params       TEXT    NOT NULL,
    received_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbound_messages_by_outbox ON inbound_messages (outbox_id);
"#;

/// Schema version 4: the store shared by several processes, and events about records.
/// Events and outbox rows gain a lease (`claimed_by`, `lease_until`): a claimed row is invisible
/// to other claimers until the lease expires. Events gain the `record` they are about (e.g.
/// `qad:acme:purchase_order:PO-77`). Pollers keep their `cursors` (each also a lease, so one
/// replica polls a source at a time). The outbox is rebuilt without
/// the `CHECK` on `channel`, so a sink for another channel needs no migration (SQLite cannot drop
/// a constraint in place: new table, copy, swap, with foreign keys checked afterwards).
const V4: &str = r#"
ALTER TABLE events ADD COLUMN record      TEXT;
ALTER TABLE events ADD COLUMN claimed_by  TEXT;
ALTER TABLE events ADD COLUMN lease_until INTEGER;
CREATE INDEX events_by_record ON events (record, seq) WHERE record IS NOT NULL;

CREATE TABLE outbox_v4 (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events (id),
    plugin          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    not_before      INTEGER,
    status          TEXT    NOT NULL DEFAULT 'pending',
    created_at      INTEGER NOT NULL,
    customer_mobile TEXT,
    customer_phone  TEXT,
    series          INTEGER NOT NULL DEFAULT 1,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    sending_since   INTEGER,
    to_number       TEXT,
    sid             TEXT,
    error_code      INTEGER,
    error_message   TEXT,
    updated_at      INTEGER,
    delivery_status TEXT,
    delivery_rank   INTEGER,
    claimed_by      TEXT,
    lease_until     INTEGER,
    UNIQUE (event_id, plugin, key)
);
INSERT INTO outbox_v4 (id, event_id, plugin, key, channel, recipient, body, not_before, status, created_at,
                       customer_mobile, customer_phone, series, attempts, next_attempt_at, sending_since,
                       to_number, sid, error_code, error_message, updated_at, delivery_status, delivery_rank)
SELECT id, event_id, plugin, key, channel, recipient, body, not_before, status, created_at,
       customer_mobile, customer_phone, series, attempts, next_attempt_at, sending_since,
       to_number, sid, error_code, error_message, updated_at, delivery_status, delivery_rank
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_pending_by_plugin ON outbox (plugin, key) WHERE status = 'pending';
CREATE INDEX outbox_due ON outbox (id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_event ON outbox (event_id);
CREATE INDEX outbox_by_sid ON outbox (sid) WHERE sid IS NOT NULL;
CREATE INDEX outbox_by_to_number ON outbox (to_number, id) WHERE to_number IS NOT NULL;

CREATE TABLE cursors (
    name        TEXT    PRIMARY KEY,
    value       TEXT,
    updated_at  INTEGER NOT NULL,
    claimed_by  TEXT,
    lease_until INTEGER
) WITHOUT ROWID;
"#;

/// Schema version 5: operator fixes. Outbox rows keep the business's own time zone (an IANA
/// name reported by the source at dispatch, e.g. a connected Wave business's), which quiet hours
/// are read in; `NULL` means the configured `[twilio] timezone`. Every opt-out an operator clears
/// by hand (`ml-connector optouts clear`) is an `opt_out_clearances` row with who cleared it,
/// when, and the opt-out it replaced (when and why the number had opted out).
const V5: &str = r#"
ALTER TABLE outbox ADD COLUMN timezone TEXT;

CREATE TABLE opt_out_clearances (
    id           INTEGER PRIMARY KEY,
    number       TEXT    NOT NULL,
    cleared_by   TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    opted_out_at INTEGER NOT NULL,
    reason       TEXT    NOT NULL
);
CREATE INDEX opt_out_clearances_by_number ON opt_out_clearances (number, id);
"#;

/// Schema version 6: what each plugin saw and decided. Every dispatch records the context its
/// plugins were given (`plugin_contexts`, once per distinct context, by SHA-256) and one
/// `plugin_runs` row per plugin that ran: its version (the SHA-256 of its wasm), its actions
/// as JSON or its error. Replays and `plugin shadow` read them; old rows are pruned. Plugins
/// installed into the store: their wasm by SHA-256 (`plugin_wasm`) and, per name, the version
/// in use, the one before it and whether it runs (`plugin_installs`). Outbox rows and plugin
/// failures name the version of the plugin that wrote them.
const V6: &str = r#"
CREATE TABLE plugin_contexts (
    hash TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE plugin_runs (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT    NOT NULL REFERENCES events (id),
    plugin       TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    context_hash TEXT    NOT NULL REFERENCES plugin_contexts (hash),
    actions      TEXT,
    error        TEXT,
    ran_at       INTEGER NOT NULL,
    CHECK ((actions IS NULL) <> (error IS NULL))
);
CREATE INDEX plugin_runs_by_plugin ON plugin_runs (plugin, event_id, id);
CREATE INDEX plugin_runs_by_time ON plugin_runs (ran_at);

CREATE TABLE plugin_wasm (
    digest   TEXT    PRIMARY KEY,
    wasm     BLOB    NOT NULL,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE plugin_installs (
    name       TEXT    PRIMARY KEY,
    digest     TEXT    REFERENCES plugin_wasm (digest),
    previous   TEXT    REFERENCES plugin_wasm (digest),
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE outbox ADD COLUMN plugin_version TEXT;
ALTER TABLE plugin_failures ADD COLUMN plugin_version TEXT;
"#;

/// `UPGRADES[n]` takes a database from version `n` to `n + 1`.
const UPGRADES: &[&str] = &[V1, V2, V3, V4, V5, V6, super::migration_v7::V7, super::migration_v8::V8];

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
///
/// Foreign keys are off while upgrading (a table rebuild drops and renames referenced tables;
/// SQLite only honours the switch outside a transaction) and checked before they are on again.
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<i64> {
    conn.pragma_update(None, "foreign_keys", false).op("disable foreign keys")?;
    let migrated = upgrade(conn, path);
    let violations: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0))
        .op("check foreign keys")?;
    conn.pragma_update(None, "foreign_keys", true).op("enable foreign keys")?;
    if violations > 0 {
        return Err(StoreError::Corrupt { table: "foreign keys", reason: format!("{violations} rows reference missing rows") });
    }
    migrated
}

fn upgrade(conn: &mut Connection, path: &str) -> Result<i64> {
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
pub(super) mod tests {
    use super::*;

    /// The schema objects of a database, whitespace-normalised, for comparison.
    pub(in crate::store::sqlite) fn schema(conn: &Connection) -> Vec<(String, String, String)> {
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
    fn version_2_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v2.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 2);
        if SCHEMA_VERSION == 2 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn version_3_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v3.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 3);
        if SCHEMA_VERSION == 3 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn version_4_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v4.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 4);
        if SCHEMA_VERSION == 4 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn version_5_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v5.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 5);
        if SCHEMA_VERSION == 5 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn version_6_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen
            .execute_batch(include_str!("../../../tests/fixtures/schema_v6.sql"))
            .unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 6);
        if SCHEMA_VERSION == 6 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn a_version_4_database_with_an_opt_out_and_a_message_upgrades_to_version_5() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v4.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, source, kind, received_at, body, data)
               VALUES ('e1', 'wave', 'invoice.paid', 0, x'7b7d', '{}');
             INSERT INTO outbox (event_id, plugin, key, channel, recipient, body, created_at)
               VALUES ('e1', 'p', 'k', 'sms', 'customer', 'hi', 0);
             INSERT INTO opt_outs (number, at, reason) VALUES ('+14155550100', 0, 'STOP');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 4);
        let (status, timezone): (String, Option<String>) = conn
            .query_row("SELECT status, timezone FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), timezone), ("pending", None));
        let opted_out: i64 = conn
            .query_row("SELECT count(*) FROM opt_outs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(opted_out, 1);
    }

    #[test]
    fn a_version_3_database_keeps_its_messages_attempts_and_callbacks_through_the_outbox_rebuild() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v3.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO events (id, source, kind, received_at, body, data)
               VALUES ('e1', 'wave', 'invoice.paid', 0, x'7b7d', '{}');
             INSERT INTO outbox (id, event_id, plugin, key, channel, recipient, body, created_at, status, sid, delivery_status, delivery_rank)
               VALUES (7, 'e1', 'p', 'k', 'sms', 'customer', 'hi', 0, 'sent', 'SM1', 'delivered', 3);
             INSERT INTO attempts (outbox_id, series, started_at, kind, request, latency_ms)
               VALUES (7, 1, 0, 'message', '{}', 12);
             INSERT INTO twilio_callbacks (sid, status, outbox_id, params, received_at)
               VALUES ('SM1', 'delivered', 7, '{}', 1);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 3);
        let row: (i64, String, Option<String>, Option<String>) = conn
            .query_row("SELECT id, status, sid, delivery_status FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, (7, "sent".into(), Some("SM1".into()), Some("delivered".into())));
        let linked: i64 = conn
            .query_row("SELECT COUNT(*) FROM attempts JOIN twilio_callbacks USING (outbox_id) WHERE outbox_id = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(linked, 1);
        // A channel no sink had when the schema was written is now just text.
        conn.execute(
            "INSERT INTO outbox (event_id, plugin, key, channel, recipient, body, created_at) VALUES ('e1', 'p', 'k2', 'email', 'customer', 'hi', 0)",
            [],
        )
        .unwrap();
        let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert!(fk, "foreign keys are on again after the migration");
    }

    #[test]
    fn a_version_2_database_with_a_sent_message_upgrades_to_version_3() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v2.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, source, kind, received_at, body, data)
               VALUES ('e1', 'wave', 'invoice.paid', 0, x'7b7d', '{}');
             INSERT INTO outbox (event_id, plugin, key, channel, recipient, body, created_at, status, sid)
               VALUES ('e1', 'p', 'k', 'sms', 'customer', 'hi', 0, 'sent', 'SM1');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 2);
        let (status, delivery): (String, Option<String>) = conn
            .query_row("SELECT status, delivery_status FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), delivery), ("sent", None));
    }

    #[test]
    fn a_version_1_database_with_messages_upgrades_to_version_2() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v1.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, source, kind, received_at, body, data)
               VALUES ('e1', 'wave', 'invoice.paid', 0, x'7b7d', '{}');
             INSERT INTO outbox (event_id, plugin, key, channel, recipient, body, created_at)
               VALUES ('e1', 'p', 'k', 'sms', 'customer', 'hi', 0);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 1);
        let (status, series, attempts): (String, i64, i64) = conn
            .query_row("SELECT status, series, attempts FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), series, attempts), ("pending", 1, 0));
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
