//! Tests of the SQLite backend: the conformance suite, and what only SQLite has (pragmas, schema
//! upgrades on open, lock errors).

use std::sync::Arc;

use rusqlite::Connection;

use super::*;
use crate::store::conformance::conformance_suite;
use crate::store::{EventFilter, InboxStore as _, InsertOutcome, NewEvent};

async fn fresh() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    (dir, Arc::new(store))
}

conformance_suite!(fresh);

fn event(id: &str) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: None,
        record: None,
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        data: "{}".into(),
    }
}

fn pragma_text(store: &SqliteStore, name: &str) -> String {
    store
        .writer_connection()
        .query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, rusqlite::types::Value>(0))
        .map(|value| match value {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

#[tokio::test]
async fn a_fresh_database_is_migrated_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    assert_eq!(pragma_text(&store, "user_version"), migrations::SCHEMA_VERSION.to_string());
    assert_eq!(pragma_text(&store, "journal_mode"), "wal");
    // 2 = FULL
    assert_eq!(pragma_text(&store, "synchronous"), "2");
    assert_eq!(pragma_text(&store, "foreign_keys"), "1");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn reopening_keeps_data_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.insert_events(vec![event("e1")]).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(pragma_text(&store, "user_version"), migrations::SCHEMA_VERSION.to_string());
    assert_eq!(store.list_events(&EventFilter::newest(10)).await.unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_build_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;").unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    let conn = Connection::open(&path).unwrap();
    assert_eq!(migrations::user_version(&conn).unwrap(), 99);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
}

#[tokio::test]
async fn a_version_1_database_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../../tests/fixtures/schema_v1.sql")).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.insert_events(vec![event("e1")]).await.unwrap(), [InsertOutcome::Inserted]);
}

#[test]
fn busy_locked_and_read_only_errors_are_unavailable() {
    let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
    for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED, rusqlite::ffi::SQLITE_FULL, rusqlite::ffi::SQLITE_READONLY] {
        assert!(Err::<(), _>(failure(code)).op("x").unwrap_err().is_unavailable(), "code {code}");
    }
    assert!(!Err::<(), _>(failure(rusqlite::ffi::SQLITE_CONSTRAINT)).op("x").unwrap_err().is_unavailable());
}

#[tokio::test]
async fn a_held_write_lock_makes_writes_unavailable_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    store.writer_connection().busy_timeout(std::time::Duration::from_millis(10)).unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.insert_events(vec![event("e1")]).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.insert_events(vec![event("e1")]).await.unwrap(), [InsertOutcome::Inserted]);
}

/// Writes queued while the writer is busy share one transaction (group commit); one that fails
/// is rolled back alone (here after writing part of its batch), the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_in_a_group_commit_is_rolled_back_alone() {
    use crate::model::{Channel, Recipient};
    use crate::store::{DispatchResult, EventStatus, Lease, MessageFilter, NewMessage, OutboxStore as _, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    store.insert_events(vec![event("a")]).await.unwrap();
    let lease = Lease::new("test", std::time::Duration::from_secs(30));
    let message = NewMessage { plugin: "p".into(), key: "k".into(), channel: Channel::Sms, to: Recipient::parse("team:x"), body: "hi".into(), not_before: None };
    let result = DispatchResult { messages: vec![message], ..DispatchResult::default() };

    // Hold the writer (on another thread) so that every write below is queued for the same
    // group commit.
    let (locked, is_locked) = std::sync::mpsc::channel();
    let holder = {
        let store = store.clone();
        std::thread::spawn(move || {
            let _held = store.writer_connection();
            locked.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
        })
    };
    is_locked.recv().unwrap();
    let writes = {
        let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
        let (lease, result) = (lease.clone(), result.clone());
        (
            tokio::spawn(async move { s1.insert_events(vec![event("b")]).await }),
            tokio::spawn(async move { s2.complete_dispatches(&lease, vec![("a".into(), result.clone()), ("unknown".into(), result)]).await }),
            tokio::spawn(async move { s3.insert_events(vec![event("c")]).await }),
        )
    };
    assert_eq!(writes.0.await.unwrap().unwrap(), [InsertOutcome::Inserted]);
    assert!(matches!(writes.1.await.unwrap(), Err(StoreError::UnknownEvent { .. })));
    assert_eq!(writes.2.await.unwrap().unwrap(), [InsertOutcome::Inserted]);
    holder.join().unwrap();

    // "a" was written before "unknown" failed the batch: none of it is kept.
    assert_eq!(store.get_event("a").await.unwrap().unwrap().status, EventStatus::Pending);
    assert!(store.list_messages(&MessageFilter { limit: 10, ..MessageFilter::default() }).await.unwrap().is_empty());
    assert_eq!(store.list_events(&EventFilter::newest(10)).await.unwrap().len(), 3);
    // The writer is usable afterwards.
    assert!(store.complete_dispatches(&lease, vec![("a".into(), result)]).await.unwrap().is_empty());
    assert_eq!(store.list_messages(&MessageFilter { limit: 10, ..MessageFilter::default() }).await.unwrap().len(), 1);
}
