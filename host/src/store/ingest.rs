//! Group commit for webhook ingestion: one writer thread drains every queued event and commits
//! them in a single transaction, so each fsync covers up to [`MAX_BATCH`] webhooks.
//!
//! A submitter's future resolves only after the transaction holding its event has committed,
//! so answering 2xx after [`IngestQueue::submit`] keeps the "2xx means durable" contract.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use super::{InsertOutcome, NewEvent, Result, Store, StoreError};

/// Most events committed in one transaction. Large enough that one fsync serves a burst, small
/// enough that the first submitter of a batch does not wait long for the rest.
pub const MAX_BATCH: usize = 512;

/// One queued event and where to send its outcome.
struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<InsertOutcome>>,
}

/// The ingest queue: submit events from async handlers; a dedicated thread owns the writes.
///
/// The thread stops once the queue is dropped and everything queued has been committed.
pub struct IngestQueue {
    jobs: mpsc::Sender<Job>,
    wake: Arc<Notify>,
}

impl IngestQueue {
    /// Starts the writer thread. `capacity` bounds how many events may wait (at least 1); a
    /// full queue makes submitters wait, which pushes back on the HTTP layer.
    pub fn start(store: Arc<dyn Store>, capacity: usize) -> Result<Self> {
        let (jobs, queue) = mpsc::channel(capacity.max(1));
        let wake = Arc::new(Notify::new());
        let thread_wake = Arc::clone(&wake);
        std::thread::Builder::new()
            .name("ml-connector-ingest".into())
            .spawn(move || run_writer(store.as_ref(), queue, &thread_wake))
            .map_err(|err| StoreError::Unavailable {
                op: "start ingest thread",
                cause: Arc::new(err),
            })?;
        Ok(Self { jobs, wake })
    }

    /// Queues `event` and waits until it is committed (or found to be a duplicate).
    pub async fn submit(&self, event: NewEvent) -> Result<InsertOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send(Job { event, reply })
            .await
            .map_err(|_| StoreError::IngestClosed)?;
        outcome.await.map_err(|_| StoreError::IngestClosed)?
    }

    /// Notified after each commit that inserted at least one new event. The dispatcher waits on
    /// it when it finds nothing pending; `Notify` keeps a permit when nobody is waiting, so a
    /// commit between "found nothing" and "wait" is not missed.
    pub fn wake_handle(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

/// The writer thread: wait for one job, take whatever else is queued, commit, answer, repeat.
fn run_writer(store: &dyn Store, mut queue: mpsc::Receiver<Job>, wake: &Notify) {
    while let Some(first) = queue.blocking_recv() {
        let mut events = Vec::with_capacity(MAX_BATCH.min(queue.len() + 1));
        let mut replies = Vec::with_capacity(events.capacity());
        let mut next = Some(first);
        while let Some(job) = next {
            events.push(job.event);
            replies.push(job.reply);
            next = if events.len() < MAX_BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        match store.insert_events(&events) {
            Ok(outcomes) => {
                if outcomes.contains(&InsertOutcome::Inserted) {
                    wake.notify_one();
                }
                // A submitter that gave up (client disconnected) no longer listens; its event
                // is stored anyway and the sender's retry will be a duplicate.
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                tracing::warn!(events = events.len(), error = %err, "Store rejected an ingest batch.");
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{
        Attempt, DispatchResult, FailureRecord, HistoryRecord, LookupRecord, MessageFilter,
        MessageUpdate, OutboxMessage, OutboxRow, ResealFn, StoredEvent,
    };

    /// Delegates to SQLite, counting batches and failing them on demand.
    struct Probe {
        inner: SqliteStore,
        batches: AtomicUsize,
        fail: AtomicBool,
    }

    impl Store for Probe {
        fn insert_event(&self, event: &NewEvent) -> Result<InsertOutcome> {
            self.inner.insert_event(event)
        }
        fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable {
                    op: "insert events",
                    cause: Arc::new(std::io::Error::other("disk on fire")),
                });
            }
            self.inner.insert_events(events)
        }
        fn claim_pending_events(&self, limit: usize) -> Result<Vec<StoredEvent>> {
            self.inner.claim_pending_events(limit)
        }
        fn complete_dispatches(&self, batch: &[(&str, &DispatchResult)]) -> Result<()> {
            self.inner.complete_dispatches(batch)
        }
        fn replay_event(&self, event_id: &str) -> Result<bool> {
            self.inner.replay_event(event_id)
        }
        fn list_events(&self, limit: usize) -> Result<Vec<StoredEvent>> {
            self.inner.list_events(limit)
        }
        fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
            self.inner.get_event(event_id)
        }
        fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>> {
            self.inner.list_failures(event_id)
        }
        fn list_outbox(&self, limit: usize) -> Result<Vec<OutboxRow>> {
            self.inner.list_outbox(limit)
        }
        fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<()> {
            self.inner.put_secret(name, sealed)
        }
        fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get_secret(name)
        }
        fn list_secrets(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
            self.inner.list_secrets()
        }
        fn has_secrets(&self) -> Result<bool> {
            self.inner.has_secrets()
        }
        fn rotate_secrets(&self, reseal: &ResealFn<'_>) -> Result<usize> {
            self.inner.rotate_secrets(reseal)
        }
        fn ping(&self) -> Result<()> {
            self.inner.ping()
        }
        fn claim_due_messages(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxMessage>> {
            self.inner.claim_due_messages(now, limit)
        }
        fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
            self.inner.next_due_at()
        }
        fn get_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
            self.inner.get_message(id)
        }
        fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<OutboxMessage>> {
            self.inner.list_messages(filter)
        }
        fn update_message(&self, update: &MessageUpdate, attempt: Option<&Attempt>) -> Result<bool> {
            self.inner.update_message(update, attempt)
        }
        fn list_attempts(&self, outbox_id: i64) -> Result<Vec<Attempt>> {
            self.inner.list_attempts(outbox_id)
        }
        fn list_history(&self, outbox_id: i64) -> Result<Vec<HistoryRecord>> {
            self.inner.list_history(outbox_id)
        }
        fn requeue_message(&self, id: i64, at: DateTime<Utc>) -> Result<bool> {
            self.inner.requeue_message(id, at)
        }
        fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
            self.inner.record_opt_out(number, reason, at)
        }
        fn is_opted_out(&self, number: &str) -> Result<bool> {
            self.inner.is_opted_out(number)
        }
        fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>> {
            self.inner.get_lookup(number)
        }
        fn put_lookup(&self, record: &LookupRecord) -> Result<()> {
            self.inner.put_lookup(record)
        }
        fn list_opt_outs(&self) -> Result<Vec<crate::store::OptOut>> {
            self.inner.list_opt_outs()
        }
        fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<crate::store::OptOutClearance>> {
            self.inner.clear_opt_out_by_hand(number, by, at)
        }
        fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<crate::store::OptOutClearance>> {
            self.inner.list_opt_out_clearances(number, limit)
        }
        fn clear_opt_out(&self, number: &str) -> Result<bool> {
            self.inner.clear_opt_out(number)
        }
        fn record_status_callback(&self, callback: &crate::store::StatusCallback) -> Result<crate::store::CallbackOutcome> {
            self.inner.record_status_callback(callback)
        }
        fn record_inbound(&self, message: &crate::store::InboundMessage) -> Result<(InsertOutcome, crate::store::InboundRecord)> {
            self.inner.record_inbound(message)
        }
        fn list_replies(&self, outbox_id: i64) -> Result<Vec<crate::store::InboundRecord>> {
            self.inner.list_replies(outbox_id)
        }
        fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>> {
            self.inner.delivery_status(outbox_id)
        }
    }

    fn probe() -> (tempfile::TempDir, Arc<Probe>) {
        let dir = tempfile::tempdir().unwrap();
        let inner = SqliteStore::open(&dir.path().join("ingest.db")).unwrap();
        let probe = Probe {
            inner,
            batches: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        };
        (dir, Arc::new(probe))
    }

    fn event(id: &str) -> NewEvent {
        NewEvent {
            id: id.to_owned(),
            source: "wave".into(),
            kind: "invoice.paid".into(),
            business_id: Some("biz".into()),
            received_at: Utc::now(),
            body: format!(r#"{{"event_id":"{id}"}}"#).into_bytes(),
            data: "{}".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submitters_are_group_committed_and_deduplicated() {
        let (_dir, store) = probe();
        let queue = Arc::new(IngestQueue::start(store.clone(), 1024).unwrap());
        let wake = queue.wake_handle();
        // 100 distinct ids, each submitted 3 times, all at once.
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move { queue.submit(event(&format!("evt-{}", i % 100))).await })
            })
            .collect();
        let mut inserted = 0;
        let mut duplicates = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                InsertOutcome::Inserted => inserted += 1,
                InsertOutcome::Duplicate => duplicates += 1,
            }
        }
        assert_eq!((inserted, duplicates), (100, 200));
        assert_eq!(store.list_events(1000).unwrap().len(), 100);
        assert!(
            store.batches.load(Ordering::SeqCst) < 300,
            "no batching happened"
        );
        // The dispatcher would be woken: a permit is waiting.
        tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_duplicate_alone_does_not_wake_the_dispatcher() {
        let (_dir, store) = probe();
        store.insert_event(&event("seen")).unwrap();
        let queue = IngestQueue::start(store.clone(), 8).unwrap();
        assert_eq!(
            queue.submit(event("seen")).await.unwrap(),
            InsertOutcome::Duplicate
        );
        let woken = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            queue.wake_handle().notified(),
        )
        .await;
        assert!(woken.is_err());
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_submitter() {
        let (_dir, store) = probe();
        store.fail.store(true, Ordering::SeqCst);
        let queue = IngestQueue::start(store.clone(), 8).unwrap();
        let (a, b) = tokio::join!(queue.submit(event("a")), queue.submit(event("b")));
        for outcome in [a, b] {
            assert!(outcome.unwrap_err().is_unavailable());
        }
        store.fail.store(false, Ordering::SeqCst);
        assert_eq!(
            queue.submit(event("a")).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
}
