//! Tests of the PostgreSQL backend against the server `scripts/postgres` starts
//! (`ML_CONNECTOR_TEST_POSTGRES_URL`), each in a database of its own so they run in parallel:
//! the conformance suite, what only PostgreSQL has (a newer schema refused, notifications across
//! stores, the shared send rate), and two stores claiming from one database at once.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::store::conformance::conformance_suite;
use crate::store::{Lease, NewEvent, Wakes};

#[path = "../../../../tests/support/postgres.rs"]
mod test_server;
use test_server::{TestDatabase, fresh_database};

async fn store_on(url: &str) -> Arc<dyn Store> {
    Arc::new(PgStore::connect(url).await.expect("open the PostgreSQL store"))
}

/// A fresh store on its own database (dropped with the [`TestDatabase`]), or `None` (skipped).
async fn fresh_for(test: &str) -> Option<(TestDatabase, Arc<dyn Store>)> {
    let db = fresh_database(test).await?;
    let store = store_on(&db.url).await;
    Some((db, store))
}

/// A fresh store for the conformance suite, or `None`: skipped (or failed under CI).
async fn fresh() -> Option<(TestDatabase, Arc<dyn Store>)> {
    fresh_for("postgres conformance").await
}

conformance_suite!(fresh);

fn event(id: &str) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: None,
        record: None,
        received_at: chrono::Utc::now(),
        body: b"{}".to_vec(),
        data: "{}".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_a_newer_schema_is_refused_untouched() {
    let Some((db, _store)) = fresh_for("a_database_with_a_newer_schema_is_refused_untouched").await else { return };
    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("UPDATE schema_version SET version = 99").await.unwrap();
    let err = PgStore::connect(&db.url).await.err().expect("a newer schema is refused");
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer than the 3 this build knows"), "{err}");
    let version: i64 = client.query_one("SELECT version FROM schema_version", &[]).await.unwrap().get(0);
    assert_eq!(version, 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_a_current_database_migrates_nothing_and_keeps_its_rows() {
    let Some((db, store)) = fresh_for("reopening_a_current_database_migrates_nothing_and_keeps_its_rows").await else { return };
    store.insert_events(vec![event("kept")]).await.unwrap();
    let again = store_on(&db.url).await;
    assert!(again.get_event("kept").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_location_names_the_database_without_the_password() {
    let Some((db, _)) = fresh_for("the_location_names_the_database_without_the_password").await else { return };
    let with_password = db.url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let store = store_on(&with_password).await;
    assert!(!store.location().contains("hunter2"), "{}", store.location());
    assert!(store.location().starts_with("postgres://postgres@127.0.0.1:"), "{}", store.location());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stored_by_one_store_wakes_the_dispatcher_watching_another() {
    let Some((db, writer)) = fresh_for("an_event_stored_by_one_store_wakes_the_dispatcher_watching_another").await else { return };
    let watcher = store_on(&db.url).await;
    let wakes = Wakes::default();
    watcher.watch(wakes.clone());
    // The listener wakes both once when it starts listening; wait for that, then for the event.
    tokio::time::timeout(Duration::from_secs(10), wakes.events.notified()).await.expect("listening");
    writer.insert_events(vec![event("e1")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), wakes.events.notified()).await.expect("woken by the other store's commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_claiming_at_once_never_share_an_event() {
    let Some((db, first)) = fresh_for("two_stores_claiming_at_once_never_share_an_event").await else { return };
    let second = store_on(&db.url).await;
    let events: Vec<_> = (0..200).map(|i| event(&format!("e{i:03}"))).collect();
    first.insert_events(events).await.unwrap();
    let claim_all = |store: Arc<dyn Store>, holder: &'static str| async move {
        let lease = Lease::new(holder, Duration::from_secs(60));
        let mut got = Vec::new();
        loop {
            let batch = store.claim_events(&lease, 7).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|e| e.id));
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claim_all(first.clone(), "a")),
        tokio::spawn(claim_all(second.clone(), "b"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<_> = a.iter().chain(&b).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "every event claimed once ({} by a, {} by b)", a.len(), b.len());
    assert_eq!(a.len() + b.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_slots_reserved_through_two_stores_are_one_period_apart() {
    let Some((db, first)) = fresh_for("send_slots_reserved_through_two_stores_are_one_period_apart").await else { return };
    let second = store_on(&db.url).await;
    let period = Duration::from_millis(100);
    let mut waits = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { &first } else { &second };
        waits.push(store.reserve_send_slot("twilio", period).await.unwrap().expect("PostgreSQL keeps a shared rate"));
    }
    // Reserved back to back, each slot is one period after the previous one: the waits grow by
    // about a period each (less the time the round trips took).
    let last = *waits.last().unwrap();
    assert!(last >= Duration::from_millis(700), "ten slots at 10/s span at least 0.9 s less round trips: {waits:?}");
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
}
