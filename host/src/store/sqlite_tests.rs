//! Tests of the SQLite store: migrations on open, inbox dedupe, dispatch commits, secrets.

use chrono::TimeZone as _;

use super::*;
use crate::model::Channel;
use crate::store::{NewMessage, OutboxStatus, PluginFailure};

fn open_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    (dir, store)
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn event(id: &str, secs: i64) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: Some("biz-1".into()),
        received_at: at(secs),
        body: format!(r#"{{"event_id": "{id}"}}"#).into_bytes(),
        data: format!(r#"{{"invoice_id":"{id}"}}"#),
    }
}

fn message(plugin: &str, key: &str) -> NewMessage {
    NewMessage {
        plugin: plugin.into(),
        key: key.into(),
        channel: Channel::Sms,
        to: "customer".into(),
        body: format!("body of {key}"),
        not_before: None,
    }
}

fn sends(messages: Vec<NewMessage>) -> DispatchResult {
    DispatchResult {
        messages,
        ..DispatchResult::default()
    }
}

fn cancels(plugin: &str, prefix: &str) -> DispatchResult {
    DispatchResult {
        cancels: vec![(plugin.into(), prefix.into())],
        ..DispatchResult::default()
    }
}

/// `(plugin, key, status)` of every outbox row, oldest first.
fn outbox(store: &SqliteStore) -> Vec<(String, String, OutboxStatus)> {
    let mut rows: Vec<_> = store
        .list_outbox(1000)
        .unwrap()
        .into_iter()
        .map(|row| (row.plugin, row.key, row.status))
        .collect();
    rows.reverse();
    rows
}

fn pragma_text(store: &SqliteStore, name: &str) -> String {
    store
        .writer()
        .query_row(&format!("PRAGMA {name}"), [], |row| {
            row.get::<_, rusqlite::types::Value>(0)
        })
        .map(|value| match value {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

#[test]
fn a_fresh_database_is_migrated_in_wal_mode_with_full_sync() {
    let (_dir, store) = open_temp();
    assert_eq!(
        pragma_text(&store, "user_version"),
        migrations::SCHEMA_VERSION.to_string()
    );
    assert_eq!(pragma_text(&store, "journal_mode"), "wal");
    // 2 = FULL
    assert_eq!(pragma_text(&store, "synchronous"), "2");
    assert_eq!(pragma_text(&store, "foreign_keys"), "1");
    store.ping().unwrap();
}

#[test]
fn reopening_keeps_data_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.insert_event(&event("e1", 0)).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        pragma_text(&store, "user_version"),
        migrations::SCHEMA_VERSION.to_string()
    );
    assert_eq!(store.list_events(10).unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_build_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    let conn = Connection::open(&path).unwrap();
    assert_eq!(migrations::user_version(&conn).unwrap(), 99);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn a_version_1_database_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../tests/fixtures/schema_v1.sql"))
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.insert_event(&event("e1", 0)).unwrap(),
        InsertOutcome::Inserted
    );
}

#[test]
fn a_repeated_event_is_a_duplicate_and_changes_nothing() {
    let (_dir, store) = open_temp();
    let first = event("e1", 0);
    assert_eq!(store.insert_event(&first).unwrap(), InsertOutcome::Inserted);
    let mut again = event("e1", 60);
    again.data = r#"{"changed":true}"#.into();
    assert_eq!(
        store.insert_event(&again).unwrap(),
        InsertOutcome::Duplicate
    );
    let stored = store.get_event("e1").unwrap().unwrap();
    assert_eq!(stored.data, first.data);
    assert_eq!(stored.received_at, first.received_at);
    assert_eq!(stored.status, EventStatus::Pending);
    assert_eq!(stored.attempts, 0);
    assert_eq!(store.get_event("nope").unwrap(), None);
}

#[test]
fn a_batch_reports_one_outcome_per_event_in_order() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("old", 0)).unwrap();
    let batch = [event("a", 1), event("old", 2), event("b", 3), event("a", 4)];
    assert_eq!(
        store.insert_events(&batch).unwrap(),
        [
            InsertOutcome::Inserted,
            InsertOutcome::Duplicate,
            InsertOutcome::Inserted,
            InsertOutcome::Duplicate
        ]
    );
    assert!(store.insert_events(&[]).unwrap().is_empty());
}

#[test]
fn pending_events_are_claimed_oldest_first() {
    let (_dir, store) = open_temp();
    for (i, id) in ["first", "second", "third"].into_iter().enumerate() {
        store.insert_event(&event(id, i as i64)).unwrap();
    }
    let ids = |events: Vec<StoredEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.claim_pending_events(2).unwrap()),
        ["first", "second"]
    );
    store
        .complete_dispatch("first", &DispatchResult::default())
        .unwrap();
    assert_eq!(
        ids(store.claim_pending_events(10).unwrap()),
        ["second", "third"]
    );
    assert_eq!(
        ids(store.list_events(10).unwrap()),
        ["third", "second", "first"]
    );
}

#[test]
fn a_dispatch_writes_the_outbox_once_even_when_rerun() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("e1", 0)).unwrap();
    let mut reminder = message("reminders", "inv-1:day-3");
    reminder.channel = Channel::Call;
    reminder.to = "team:billing".into();
    reminder.not_before = Some(at(3 * 86_400));
    let result = sends(vec![message("reminders", "inv-1:now"), reminder.clone()]);

    store.complete_dispatch("e1", &result).unwrap();
    assert!(store.replay_event("e1").unwrap());
    store.complete_dispatch("e1", &result).unwrap();

    let rows = store.list_outbox(10).unwrap();
    assert_eq!(rows.len(), 2);
    let newest = &rows[0];
    assert_eq!(
        (
            newest.event_id.as_str(),
            newest.key.as_str(),
            newest.channel,
            newest.to.to_string().as_str()
        ),
        ("e1", "inv-1:day-3", Channel::Call, "team:billing")
    );
    assert_eq!(newest.not_before, reminder.not_before);
    assert_eq!(newest.status, OutboxStatus::Pending);
    let stored = store.get_event("e1").unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::Dispatched);
    assert_eq!(stored.attempts, 2);
    assert!(stored.dispatched_at.is_some());
    assert_eq!(stored.last_error, None);
}

#[test]
fn plugin_failures_mark_the_event_failed_and_are_kept() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("e1", 0)).unwrap();
    let result = DispatchResult {
        messages: vec![message("ok-plugin", "k")],
        cancels: vec![],
        failures: vec![
            PluginFailure {
                plugin: "slow".into(),
                cause: "deadline exceeded after 50 ms".into(),
            },
            PluginFailure {
                plugin: "big".into(),
                cause: "memory limit 16 MiB".into(),
            },
        ],
        ..DispatchResult::default()
    };
    store.complete_dispatch("e1", &result).unwrap();
    let stored = store.get_event("e1").unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::Failed);
    assert_eq!(
        stored.last_error.as_deref(),
        Some("slow: deadline exceeded after 50 ms; big: memory limit 16 MiB")
    );
    let failures = store.list_failures("e1").unwrap();
    assert_eq!(failures.len(), 2);
    assert_eq!(
        (failures[0].plugin.as_str(), failures[1].plugin.as_str()),
        ("slow", "big")
    );
    assert_eq!(outbox(&store).len(), 1);
    // Failed events are not claimed again until replayed.
    assert!(store.claim_pending_events(10).unwrap().is_empty());
    assert!(store.replay_event("e1").unwrap());
    assert_eq!(store.claim_pending_events(10).unwrap().len(), 1);
    store.complete_dispatch("e1", &sends(vec![])).unwrap();
    let stored = store.get_event("e1").unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.last_error),
        (EventStatus::Dispatched, None)
    );
}

#[test]
fn a_long_failure_summary_is_capped() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("e1", 0)).unwrap();
    let result = DispatchResult {
        failures: vec![PluginFailure {
            plugin: "p".into(),
            cause: "é".repeat(5000),
        }],
        ..DispatchResult::default()
    };
    store.complete_dispatch("e1", &result).unwrap();
    let last_error = store.get_event("e1").unwrap().unwrap().last_error.unwrap();
    assert_eq!(last_error.chars().count(), LAST_ERROR_MAX_CHARS);
    assert_eq!(store.list_failures("e1").unwrap()[0].cause.len(), 10_000);
}

#[test]
fn cancels_match_the_prefix_exactly_within_the_plugin() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("e1", 0)).unwrap();
    store.insert_event(&event("e2", 1)).unwrap();
    let keys = ["a%b1", "axb1", "a_c", "abc", "Abc", "b"];
    let mut messages: Vec<_> = keys.iter().map(|k| message("p", k)).collect();
    messages.push(message("other", "abc"));
    store.complete_dispatch("e1", &sends(messages)).unwrap();

    for (prefix, expected_cancelled) in [
        ("a%", vec!["a%b1"]),
        ("a_", vec!["a%b1", "a_c"]),
        ("ab", vec!["a%b1", "a_c", "abc"]),
        ("zzz", vec!["a%b1", "a_c", "abc"]),
    ] {
        store.replay_event("e2").unwrap();
        store
            .complete_dispatch("e2", &cancels("p", prefix))
            .unwrap();
        let cancelled: Vec<_> = outbox(&store)
            .into_iter()
            .filter(|(_, _, status)| *status == OutboxStatus::Cancelled)
            .map(|(plugin, key, _)| {
                assert_eq!(plugin, "p");
                key
            })
            .collect();
        assert_eq!(cancelled, expected_cancelled, "after cancelling {prefix:?}");
    }
}

#[test]
fn a_plugin_can_replace_its_scheduled_messages_in_one_answer() {
    let (_dir, store) = open_temp();
    store.insert_event(&event("sent", 0)).unwrap();
    store.insert_event(&event("resent", 1)).unwrap();
    store
        .complete_dispatch("sent", &sends(vec![message("p", "inv-1:reminder")]))
        .unwrap();
    let replace = DispatchResult {
        messages: vec![message("p", "inv-1:reminder")],
        cancels: vec![("p".into(), "inv-1:".into())],
        failures: vec![],
        ..DispatchResult::default()
    };
    store.complete_dispatch("resent", &replace).unwrap();
    // Replaying must not cancel the replacement the same event wrote.
    store.replay_event("resent").unwrap();
    store.complete_dispatch("resent", &replace).unwrap();
    let rows = store.list_outbox(10).unwrap();
    let states: Vec<_> = rows
        .iter()
        .map(|r| (r.event_id.as_str(), r.status))
        .collect();
    assert_eq!(
        states,
        [
            ("resent", OutboxStatus::Pending),
            ("sent", OutboxStatus::Cancelled)
        ]
    );
}

#[test]
fn a_batch_of_dispatches_commits_in_order_and_all_or_nothing() {
    let (_dir, store) = open_temp();
    for (id, secs) in [("sent", 0), ("paid", 1)] {
        store.insert_event(&event(id, secs)).unwrap();
    }
    let sent = sends(vec![message("p", "invoice:1:reminder")]);
    let paid = cancels("p", "invoice:1:reminder");
    // A later event in the same batch sees the rows of an earlier one.
    store.complete_dispatches(&[("sent", &sent), ("paid", &paid)]).unwrap();
    assert_eq!(outbox(&store), vec![("p".into(), "invoice:1:reminder".into(), OutboxStatus::Cancelled)]);
    assert!(store.claim_pending_events(10).unwrap().is_empty());

    // One unknown event rolls back the whole batch.
    store.insert_event(&event("third", 2)).unwrap();
    let err = store.complete_dispatches(&[("third", &sends(vec![message("p", "x")])), ("nope", &sent)]).unwrap_err();
    assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
    assert_eq!(outbox(&store).len(), 1);
    assert_eq!(store.claim_pending_events(10).unwrap().len(), 1);
}

#[test]
fn completing_an_unknown_event_fails_and_writes_nothing() {
    let (_dir, store) = open_temp();
    let err = store
        .complete_dispatch("ghost", &sends(vec![message("p", "k")]))
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownEvent { .. }), "{err}");
    assert!(store.list_outbox(10).unwrap().is_empty());
    assert!(!store.replay_event("ghost").unwrap());
}

#[test]
fn secrets_are_stored_listed_and_replaced() {
    let (_dir, store) = open_temp();
    assert!(!store.has_secrets().unwrap());
    assert_eq!(store.get_secret("twilio.auth_token").unwrap(), None);
    store.put_secret("twilio.auth_token", b"sealed-1").unwrap();
    store.put_secret("wave.client_secret", b"sealed-2").unwrap();
    store.put_secret("twilio.auth_token", b"sealed-3").unwrap();
    assert!(store.has_secrets().unwrap());
    assert_eq!(
        store.get_secret("twilio.auth_token").unwrap().unwrap(),
        b"sealed-3"
    );
    let names: Vec<_> = store
        .list_secrets()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["twilio.auth_token", "wave.client_secret"]);
}

#[test]
fn rotation_rewrites_every_secret_or_none() {
    use crate::secrets::MasterKey;
    let (_dir, store) = open_temp();
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    for (name, value) in [
        ("twilio.auth_token", "tok"),
        ("wave.webhook_secret", "whsec"),
    ] {
        store
            .put_secret(name, &old.seal(name, value).unwrap())
            .unwrap();
    }
    // A callback failing on the second row leaves the first unchanged too.
    let before = store.get_secret("twilio.auth_token").unwrap();
    let err = store
        .rotate_secrets(&|name, sealed| {
            if name == "wave.webhook_secret" {
                return Err(Arc::new(std::io::Error::other("boom")) as _);
            }
            old.reseal(&new, name, sealed).map_err(|e| Arc::new(e) as _)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Rotate { ref name, .. } if name == "wave.webhook_secret"));
    assert_eq!(store.get_secret("twilio.auth_token").unwrap(), before);

    let rotated = store
        .rotate_secrets(&|name, sealed| {
            old.reseal(&new, name, sealed).map_err(|e| Arc::new(e) as _)
        })
        .unwrap();
    assert_eq!(rotated, 2);
    let sealed = store.get_secret("wave.webhook_secret").unwrap().unwrap();
    assert_eq!(
        new.open("wave.webhook_secret", &sealed).unwrap().expose(),
        "whsec"
    );
}

#[test]
fn busy_and_locked_errors_are_unavailable() {
    let busy =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    assert!(Err::<(), _>(busy).op("x").unwrap_err().is_unavailable());
    let constraint = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        None,
    );
    assert!(
        !Err::<(), _>(constraint)
            .op("x")
            .unwrap_err()
            .is_unavailable()
    );
}

#[test]
fn a_held_write_lock_makes_writes_unavailable_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .writer()
        .busy_timeout(std::time::Duration::from_millis(10))
        .unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.insert_event(&event("e1", 0)).unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        store.insert_event(&event("e1", 0)).unwrap(),
        InsertOutcome::Inserted
    );
}
