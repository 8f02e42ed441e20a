//! Schema version 8: the last `plugin shadow` result against each plugin, for the console.

/// The version-8 step (`UPGRADES[7]`).
pub(super) const V8: &str = r#"
CREATE TABLE plugin_shadows (
    plugin    TEXT    PRIMARY KEY,
    candidate TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    events    INTEGER NOT NULL,
    different INTEGER NOT NULL,
    ran_at    INTEGER NOT NULL
) WITHOUT ROWID;
"#;

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::migrations::tests::schema;
    use super::super::migrations::{migrate, user_version};

    #[test]
    fn version_8_matches_its_frozen_fixture() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, ":memory:").unwrap();
        let frozen = Connection::open_in_memory().unwrap();
        frozen.execute_batch(include_str!("../../../tests/fixtures/schema_v8.sql")).unwrap();
        assert_eq!(user_version(&frozen).unwrap(), 8);
        if user_version(&migrated).unwrap() == 8 {
            assert_eq!(schema(&migrated), schema(&frozen));
        }
    }

    #[test]
    fn a_version_7_database_upgrades_keeping_its_installs() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v7.sql")).unwrap();
        conn.execute_batch(
            "INSERT INTO plugin_wasm (digest, wasm, added_at) VALUES ('d1', x'00', 0);
             INSERT INTO plugin_installs (name, digest, previous, enabled, updated_at) VALUES ('p', 'd1', NULL, 1, 0);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, ":memory:").unwrap(), 7);
        let digest: String = conn.query_row("SELECT digest FROM plugin_installs WHERE name = 'p'", [], |r| r.get(0)).unwrap();
        assert_eq!(digest, "d1");
        let shadows: i64 = conn.query_row("SELECT count(*) FROM plugin_shadows", [], |r| r.get(0)).unwrap();
        assert_eq!(shadows, 0);
    }
}
