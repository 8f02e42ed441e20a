//! Schema version 7: one SID, one message. Twilio's SID is unique across outbox rows, so an
//! ambiguous send can never adopt a call or message another row already holds. A database
//! written before this (where a crash could leave two rows with one SID) keeps the SID on the
//! oldest row; every later row loses it, with a history line naming the holder.

/// The version-7 step (`UPGRADES[6]`).
pub(super) const V7: &str = r#"
INSERT INTO message_history (outbox_id, at, status, detail)
SELECT o.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, o.status,
       'sid ' || o.sid || ' is also held by message '
         || (SELECT min(h.id) FROM outbox h WHERE h.sid = o.sid)
         || '; cleared by schema version 7 (one SID, one message)'
FROM outbox o
WHERE o.sid IS NOT NULL AND o.id > (SELECT min(h.id) FROM outbox h WHERE h.sid = o.sid);
UPDATE outbox SET sid = NULL
WHERE sid IS NOT NULL AND id > (SELECT min(h.id) FROM outbox h WHERE h.sid = outbox.sid);
DROP INDEX outbox_by_sid;
CREATE UNIQUE INDEX outbox_by_sid ON outbox (sid) WHERE sid IS NOT NULL;
"#;

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::migrations::tests::schema;
    use super::super::migrations::{migrate, user_version};

    #[test]
    fn version_7_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen.execute_batch(include_str!("../../../tests/fixtures/schema_v7.sql")).unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 7);
        if user_version(&migrated).unwrap() == 7 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn a_version_6_database_with_one_sid_on_two_messages_keeps_it_on_the_oldest_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v6.sql")).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, source, kind, received_at, body, data)
               VALUES ('crash-0', 'wave', 'invoice.overdue', 0, x'7b7d', '{}'),
                      ('crash-129', 'wave', 'invoice.overdue', 0, x'7b7d', '{}');
             INSERT INTO outbox (event_id, plugin, key, channel, recipient, body, created_at, status, sid)
               VALUES ('crash-0', 'p', 'k', 'call', 'team:accounting', 'hi', 0, 'sent', 'CA1'),
                      ('crash-129', 'p', 'k', 'call', 'team:accounting', 'hi', 0, 'sent', 'CA1');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 6);
        let sids: Vec<(i64, Option<String>)> = conn
            .prepare("SELECT id, sid FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(sids, vec![(1, Some("CA1".into())), (2, None)]);
        let detail: String = conn.query_row("SELECT detail FROM message_history WHERE outbox_id = 2", [], |r| r.get(0)).unwrap();
        assert_eq!(detail, "sid CA1 is also held by message 1; cleared by schema version 7 (one SID, one message)");
        let refused = conn.execute("UPDATE outbox SET sid = 'CA1' WHERE id = 2", []);
        assert!(refused.is_err(), "the unique index refuses a second holder");
    }
}
