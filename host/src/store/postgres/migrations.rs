//! PostgreSQL schema versions: stepwise upgrades tracked in the one-row `schema_version` table,
//! applied in one transaction under an advisory lock (so replicas starting together migrate
//! once); a database newer than this build is refused untouched.
//!
//! Released steps are frozen: never edit one, add the next. Version 1 is the SQLite schema at
//! its version 5, with `BIGSERIAL` keys and `BYTEA` blobs, plus the send-rate row; version 2 is
//! SQLite's 6 and 7, version 3 SQLite's 8.

use deadpool_postgres::Object;

use super::PgResultExt as _;
use crate::store::{Result, StoreError};

/// Schema version 1: everything SQLite has at its version 5, and `rate_limits`.
const V1: &str = r#"
CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    source        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    business_id   TEXT,
    record        TEXT,
    received_at   BIGINT  NOT NULL,
    body          BYTEA   NOT NULL,
    data          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'dispatched', 'failed')),
    attempts      BIGINT  NOT NULL DEFAULT 0,
    last_error    TEXT,
    dispatched_at BIGINT,
    claimed_by    TEXT,
    lease_until   BIGINT
);
CREATE INDEX events_pending ON events (seq) WHERE status = 'pending';
CREATE INDEX events_by_record ON events (record, seq) WHERE record IS NOT NULL;

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events (id),
    plugin          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    not_before      BIGINT,
    status          TEXT    NOT NULL DEFAULT 'pending',
    created_at      BIGINT  NOT NULL,
    customer_mobile TEXT,
    customer_phone  TEXT,
    series          BIGINT  NOT NULL DEFAULT 1,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    sending_since   BIGINT,
    to_number       TEXT,
    sid             TEXT,
    error_code      BIGINT,
    error_message   TEXT,
    updated_at      BIGINT,
    delivery_status TEXT,
    delivery_rank   BIGINT,
    claimed_by      TEXT,
    lease_until     BIGINT,
    timezone        TEXT,
    UNIQUE (event_id, plugin, key)
);
CREATE INDEX outbox_pending_by_plugin ON outbox (plugin, key) WHERE status = 'pending';
CREATE INDEX outbox_due ON outbox (id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_event ON outbox (event_id);
CREATE INDEX outbox_by_sid ON outbox (sid) WHERE sid IS NOT NULL;
CREATE INDEX outbox_by_to_number ON outbox (to_number, id) WHERE to_number IS NOT NULL;

CREATE TABLE plugin_failures (
    id       BIGSERIAL PRIMARY KEY,
    event_id TEXT    NOT NULL REFERENCES events (id),
    plugin   TEXT    NOT NULL,
    cause    TEXT    NOT NULL,
    at       BIGINT  NOT NULL
);
CREATE INDEX plugin_failures_by_event ON plugin_failures (event_id);

CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    sealed     BYTEA   NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE attempts (
    id            BIGSERIAL PRIMARY KEY,
    outbox_id     BIGINT  NOT NULL REFERENCES outbox (id),
    series        BIGINT  NOT NULL,
    started_at    BIGINT  NOT NULL,
    kind          TEXT    NOT NULL,
    request       TEXT    NOT NULL,
    http_status   BIGINT,
    sid           TEXT,
    error_code    BIGINT,
    error_message TEXT,
    latency_ms    BIGINT  NOT NULL
);
CREATE INDEX attempts_by_outbox ON attempts (outbox_id);

CREATE TABLE message_history (
    id        BIGSERIAL PRIMARY KEY,
    outbox_id BIGINT  NOT NULL REFERENCES outbox (id),
    at        BIGINT  NOT NULL,
    status    TEXT    NOT NULL,
    detail    TEXT
);
CREATE INDEX message_history_by_outbox ON message_history (outbox_id);

CREATE TABLE opt_outs (
    number TEXT    PRIMARY KEY,
    at     BIGINT  NOT NULL,
    reason TEXT    NOT NULL
);

CREATE TABLE lookups (
    number     TEXT    PRIMARY KEY,
    valid      BOOLEAN NOT NULL,
    line_type  TEXT,
    detail     TEXT,
    fetched_at BIGINT  NOT NULL
);

CREATE TABLE twilio_callbacks (
    id          BIGSERIAL PRIMARY KEY,
    sid         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    sequence    TEXT    NOT NULL DEFAULT '',
    rank        BIGINT,
    outbox_id   BIGINT  REFERENCES outbox (id),
    error_code  BIGINT,
    detail      TEXT,
    params      TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    UNIQUE (sid, status, sequence)
);
CREATE INDEX twilio_callbacks_by_outbox ON twilio_callbacks (outbox_id);

CREATE TABLE inbound_messages (
    sid          TEXT    PRIMARY KEY,
    from_number  TEXT    NOT NULL,
    to_number    TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    opt_out_type TEXT,
    outbox_id    BIGINT  REFERENCES outbox (id),
    event_id     TEXT,
    params       TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL
);
CREATE INDEX inbound_messages_by_outbox ON inbound_messages (outbox_id);

CREATE TABLE cursors (
    name        TEXT    PRIMARY KEY,
    value       TEXT,
    updated_at  BIGINT  NOT NULL,
    claimed_by  TEXT,
    lease_until BIGINT
);

CREATE TABLE opt_out_clearances (
    id           BIGSERIAL PRIMARY KEY,
    number       TEXT    NOT NULL,
    cleared_by   TEXT    NOT NULL,
    at           BIGINT  NOT NULL,
    opted_out_at BIGINT  NOT NULL,
    reason       TEXT    NOT NULL
);
CREATE INDEX opt_out_clearances_by_number ON opt_out_clearances (number, id);

CREATE TABLE rate_limits (
    name    TEXT   PRIMARY KEY,
    next_us BIGINT NOT NULL
);
"#;

/// Schema version 2: SQLite's versions 6 and 7. What each plugin saw and decided
/// (`plugin_contexts`, `plugin_runs`), plugins installed into the store (`plugin_wasm`,
/// `plugin_installs`), the plugin version on outbox rows and failures, and one SID per message
/// (a SID already on two rows stays on the oldest only, with a history line on the others).
const V2: &str = r#"
CREATE TABLE plugin_contexts (
    hash TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE plugin_runs (
    id           BIGSERIAL PRIMARY KEY,
    event_id     TEXT    NOT NULL REFERENCES events (id),
    plugin       TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    context_hash TEXT    NOT NULL REFERENCES plugin_contexts (hash),
    actions      TEXT,
    error        TEXT,
    ran_at       BIGINT  NOT NULL,
    CHECK ((actions IS NULL) <> (error IS NULL))
);
CREATE INDEX plugin_runs_by_plugin ON plugin_runs (plugin, event_id, id);
CREATE INDEX plugin_runs_by_time ON plugin_runs (ran_at);

CREATE TABLE plugin_wasm (
    digest   TEXT    PRIMARY KEY,
    wasm     BYTEA   NOT NULL,
    added_at BIGINT  NOT NULL
);

CREATE TABLE plugin_installs (
    name       TEXT    PRIMARY KEY,
    digest     TEXT    REFERENCES plugin_wasm (digest),
    previous   TEXT    REFERENCES plugin_wasm (digest),
    enabled    BOOLEAN NOT NULL,
    updated_at BIGINT  NOT NULL
);

ALTER TABLE outbox ADD COLUMN plugin_version TEXT;
ALTER TABLE plugin_failures ADD COLUMN plugin_version TEXT;

INSERT INTO message_history (outbox_id, at, status, detail)
SELECT o.id, (extract(epoch FROM now()) * 1000)::BIGINT, o.status,
       'sid ' || o.sid || ' is also held by message '
         || (SELECT min(h.id) FROM outbox h WHERE h.sid = o.sid)
         || '; cleared by schema version 2 (one SID, one message)'
FROM outbox o
WHERE o.sid IS NOT NULL AND o.id > (SELECT min(h.id) FROM outbox h WHERE h.sid = o.sid);
UPDATE outbox SET sid = NULL
WHERE sid IS NOT NULL AND id > (SELECT min(h.id) FROM outbox h WHERE h.sid = outbox.sid);
DROP INDEX outbox_by_sid;
CREATE UNIQUE INDEX outbox_by_sid ON outbox (sid) WHERE sid IS NOT NULL;
"#;

/// Schema version 3 (SQLite's version 8): the last `plugin shadow` result against each plugin.
const V3: &str = r#"
CREATE TABLE plugin_shadows (
    plugin    TEXT    PRIMARY KEY,
    candidate TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    events    BIGINT  NOT NULL,
    different BIGINT  NOT NULL,
    ran_at    BIGINT  NOT NULL
);
"#;

/// `UPGRADES[n]` takes a database from version `n` to `n + 1`.
const UPGRADES: &[&str] = &[V1, V2, V3];

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = UPGRADES.len() as i64;

/// Any constant, the same in every replica: the advisory lock key migrations hold.
const MIGRATION_LOCK: i64 = 0x6d6c_636f_6e6e;

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction. Returns the version found.
pub(super) async fn migrate(client: &mut Object, location: &str) -> Result<i64> {
    const OP: &str = "migrate schema";
    let tx = client.transaction().await.op(OP)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.op(OP)?;
    // Quietly: the server's "already exists, skipping" notice would be logged on every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning; CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await
        .op(OP)?;
    let found: i64 = match tx.query_opt("SELECT version FROM schema_version", &[]).await.op(OP)? {
        Some(row) => row.try_get(0).op(OP)?,
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[]).await.op(OP)?;
            0
        }
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { path: location.to_owned(), found, supported: SCHEMA_VERSION });
    }
    for step in &UPGRADES[usize::try_from(found).unwrap_or(0)..] {
        tx.batch_execute(step).await.op(OP)?;
    }
    tx.execute("UPDATE schema_version SET version = $1", &[&SCHEMA_VERSION]).await.op(OP)?;
    tx.commit().await.op(OP)?;
    if found < SCHEMA_VERSION {
        tracing::info!(location, from = found, to = SCHEMA_VERSION, "Store schema upgraded.");
    }
    Ok(found)
}
