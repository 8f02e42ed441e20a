//! The sender's test helpers: the Twilio stand-in (`tests/support/twilio_standin.rs`), test
//! settings and clients, and helpers to fill a store's outbox.
#![allow(dead_code)] // each test binary uses a different subset

#[path = "../support/twilio_standin.rs"]
mod twilio_standin;
#[allow(unused_imports)] // not every test binary uses the stand-in itself
pub use twilio_standin::*;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ml_connector::config::TwilioMode;
use ml_connector::model::Channel;
use ml_connector::sinks::driver::{DriverSettings, SinkDriver};
use ml_connector::sinks::retry::Backoff;
use ml_connector::sinks::twilio::request_builder::Identity;
use ml_connector::sinks::twilio::service::{Credentials, TwilioService};
use ml_connector::sinks::twilio::sink::{TwilioSettings, TwilioSink};
use ml_connector::store::sqlite::SqliteStore;
use ml_connector::store::{
    CustomerNumbers, DispatchResult, InboxStore as _, Lease, MessageFilter, NewEvent, NewMessage, OutboxMessage, OutboxStore as _,
};

/// The account SID every test uses (`AC` + 32 hex digits, as the specs require).
pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
/// The sender number.
pub const FROM: &str = "+15005550006";

/// The Twilio sink's and the sink driver's settings, as the tests set them.
pub struct SenderSettings {
    /// The sink's.
    pub sink: TwilioSettings,
    /// The driver's.
    pub driver: DriverSettings,
}

/// Sender settings for tests: fast backoff, no rate limit unless set.
pub fn settings(mode: TwilioMode) -> SenderSettings {
    SenderSettings {
        sink: TwilioSettings {
            mode,
            identity: Identity {
                account_sid: ACCOUNT.into(),
                from: Some(FROM.into()),
                messaging_service_sid: None,
                status_callback: "https://connector.example.com/webhooks/twilio/status".into(),
            },
            default_region: "US".into(),
            team: [("accounting".to_owned(), "+1 (415) 555-2671".to_owned())].into(),
        },
        driver: DriverSettings {
            quiet_hours: None,
            timezone: ml_connector::timezone::Timezone::utc(),
            messages_per_second: None,
            max_retries: 3,
            backoff: Backoff { base: Duration::from_millis(5), cap: Duration::from_millis(50) },
            poll_interval: Duration::from_millis(20),
            concurrency: 8,
            call_callback_wait: Duration::ZERO,
        },
    }
}

/// The production sender: the sink driver over the Twilio sink, on `store`.
pub fn sender(store: &Arc<SqliteStore>, service: Option<TwilioService>, settings: SenderSettings) -> SinkDriver {
    sender_woken_by(store, service, settings, Arc::new(tokio::sync::Notify::new()))
}

/// [`sender`], woken by `wake` as the dispatcher wakes it after a commit.
pub fn sender_woken_by(store: &Arc<SqliteStore>, service: Option<TwilioService>, settings: SenderSettings, wake: Arc<tokio::sync::Notify>) -> SinkDriver {
    let sink = Arc::new(TwilioSink::new(store.clone(), service, settings.sink));
    SinkDriver::new(sink, store.clone(), Lease::new("test-sender", Duration::from_secs(30)), settings.driver, wake)
}

/// The lease tests complete dispatches with.
pub fn test_lease() -> Lease {
    Lease::new("test", Duration::from_secs(30))
}

/// A client for the stand-in with a short timeout.
pub fn service(base: &str, timeout: Duration) -> TwilioService {
    TwilioService::new(base, base, Credentials { username: ACCOUNT.into(), password: "token-123".into() }, timeout).unwrap()
}

/// A temp store.
pub fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("sender.db")).unwrap();
    (dir, Arc::new(store))
}

/// An event to store.
pub fn event(id: &str, kind: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        source: "wave".into(),
        kind: kind.into(),
        business_id: Some("biz".into()),
        record: None,
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        data: "{}".into(),
    }
}

/// Commits `result` as the dispatch of the stored event `event_id`.
pub async fn complete(store: &SqliteStore, event_id: &str, result: DispatchResult) {
    let lost = store.complete_dispatches(&test_lease(), vec![(event_id.to_owned(), result)]).await.unwrap();
    assert!(lost.is_empty());
}

/// Stores event `event_id` and dispatches `messages` for it, with the customer's numbers.
/// Returns the new outbox ids in message order.
pub async fn dispatch(store: &SqliteStore, event_id: &str, customer: CustomerNumbers, messages: &[(Channel, &str, &str)]) -> Vec<i64> {
    let result = DispatchResult {
        messages: messages
            .iter()
            .enumerate()
            .map(|(i, (channel, to, body))| NewMessage {
                plugin: "test-plugin".into(),
                key: format!("k{i}"),
                channel: *channel,
                to: (*to).into(),
                body: (*body).into(),
                not_before: None,
            })
            .collect(),
        customer,
        ..DispatchResult::default()
    };
    dispatch_result(store, event_id, result).await
}

/// Stores event `event_id` and commits `result` as its dispatch. Returns the new outbox ids in
/// message order.
pub async fn dispatch_result(store: &SqliteStore, event_id: &str, result: DispatchResult) -> Vec<i64> {
    store.insert_events(vec![event(event_id, "invoice.overdue")]).await.unwrap();
    complete(store, event_id, result).await;
    let filter = MessageFilter { event_id: Some(event_id.into()), limit: 10_000, ..MessageFilter::default() };
    let mut ids: Vec<i64> = store.list_messages(&filter).await.unwrap().into_iter().map(|m| m.row.id).collect();
    ids.sort_unstable();
    ids
}

/// Drains until every listed message reaches a final state (a liveness bound, not a timing
/// assertion: retries wait a few milliseconds of backoff).
pub async fn settle(sender: &SinkDriver, store: &SqliteStore, ids: &[i64]) -> Vec<OutboxMessage> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        sender.drain(None).await.unwrap();
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            messages.push(store.get_message(*id).await.unwrap().unwrap());
        }
        if messages.iter().all(|m| m.row.status.is_final()) {
            return messages;
        }
        assert!(Instant::now() < deadline, "messages never settled: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A non-zero rate.
pub fn rate(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}
