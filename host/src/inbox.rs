//! The inbox: the only way an event enters the store. Push sources (webhooks) and pollers hand
//! their events to one [`Inbox`]; a single writer task drains whatever is queued and commits it
//! in ONE transaction (group commit), so each fsync covers a burst of webhooks.
//!
//! A submitter's future resolves only after the transaction holding its events has committed,
//! so answering 2xx after [`Inbox::submit`] keeps the "2xx means durable" contract. After a
//! commit that stored something new, the dispatcher is woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::store::{InboxStore, InsertOutcome, NewEvent, Result, StoreError};

/// Most events committed in one transaction. Large enough that one fsync serves a burst, small
/// enough that the first submitter of a batch does not wait long for the rest.
pub const MAX_BATCH: usize = 512;

/// Submissions one commit must find waiting to count as pressure: a few concurrent webhooks are
/// ordinary traffic, this many mean they arrive faster than the commits before them finished.
pub const PRESSURE_SUBMISSIONS: usize = 16;

/// One submission and where its outcome goes.
enum Job {
    /// One event (a webhook's): no list around it, for the request on the hot path.
    One(NewEvent, oneshot::Sender<Result<InsertOutcome>>),
    /// A poller's ordered batch, committed in the same transaction.
    Batch(Vec<NewEvent>, oneshot::Sender<Result<Vec<InsertOutcome>>>),
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Job::One(..) => 1,
            Job::Batch(events, _) => events.len(),
        }
    }
}

/// Where a job's outcomes go once its transaction is over.
enum Reply {
    One(oneshot::Sender<Result<InsertOutcome>>),
    Batch(usize, oneshot::Sender<Result<Vec<InsertOutcome>>>),
}

impl Reply {
    /// Answers with this job's share of `outcomes` (in submission order). A submitter that gave
    /// up (client disconnected) no longer listens; its event is stored anyway and the source's
    /// retry will be a duplicate.
    fn send(self, outcomes: &mut std::vec::IntoIter<InsertOutcome>) {
        match self {
            Reply::One(reply) => drop(reply.send(outcomes.next().ok_or(StoreError::IngestClosed))),
            Reply::Batch(n, reply) => drop(reply.send(Ok(outcomes.take(n).collect()))),
        }
    }

    fn fail(self, err: StoreError) {
        match self {
            Reply::One(reply) => drop(reply.send(Err(err))),
            Reply::Batch(_, reply) => drop(reply.send(Err(err))),
        }
    }
}

/// The handle every source submits through. Cheap to clone; the writer stops once every handle
/// is dropped and everything queued has been committed.
#[derive(Clone)]
pub struct Inbox {
    jobs: mpsc::Sender<Job>,
    pressure: IngestPressure,
}

/// A burst lasts while commits finding [`PRESSURE_SUBMISSIONS`] waiting come no further apart
/// than this.
pub const PRESSURE_WINDOW: Duration = Duration::from_millis(50);

/// Whether submissions are queueing up behind the writer (a burst), and since when: set by each
/// commit that found at least [`PRESSURE_SUBMISSIONS`] waiting (they arrived while the previous
/// commit ran). The dispatcher reads it to leave the CPU and the store's writer to the webhooks
/// being acknowledged while a burst lasts. Cheap to clone; all clones share one signal.
#[derive(Clone, Debug)]
pub struct IngestPressure {
    /// When the clock started.
    origin: Instant,
    /// Microseconds after `origin` of the last commit that found submissions queued up; 0 for never.
    last_queued: Arc<AtomicU64>,
    /// Microseconds after `origin` of the first such commit of the current burst.
    burst_began: Arc<AtomicU64>,
}

impl Default for IngestPressure {
    fn default() -> Self {
        IngestPressure { origin: Instant::now(), last_queued: Arc::new(AtomicU64::new(0)), burst_began: Arc::new(AtomicU64::new(0)) }
    }
}

impl IngestPressure {
    /// Records that a commit found `submissions` waiting (only the inbox's writer records).
    fn record(&self, submissions: usize) {
        if submissions < PRESSURE_SUBMISSIONS {
            return;
        }
        let now = self.micros();
        let last = self.last_queued.load(Ordering::Relaxed);
        if last == 0 || Duration::from_micros(now.saturating_sub(last)) >= PRESSURE_WINDOW {
            self.burst_began.store(now, Ordering::Relaxed);
        }
        self.last_queued.store(now, Ordering::Relaxed);
    }

    /// How long the current burst has lasted; `None` when no commit found submissions queued
    /// up within the last [`PRESSURE_WINDOW`].
    pub fn burst_age(&self) -> Option<Duration> {
        let (last, now) = (self.last_queued.load(Ordering::Relaxed), self.micros());
        if last == 0 || Duration::from_micros(now.saturating_sub(last)) >= PRESSURE_WINDOW {
            return None;
        }
        Some(Duration::from_micros(now.saturating_sub(self.burst_began.load(Ordering::Relaxed))))
    }

    /// Microseconds since `origin`, at least 1 (0 means never).
    fn micros(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX).max(1)
    }
}

impl Inbox {
    /// Starts the writer task on the current tokio runtime. `capacity` bounds how many
    /// submissions may wait (at least 1): a full queue makes submitters wait, which pushes back
    /// on the HTTP layer. `wake` is notified after each commit that stored a new event.
    pub fn start(store: Arc<dyn InboxStore>, capacity: usize, wake: Arc<Notify>) -> Self {
        let (jobs, queue) = mpsc::channel(capacity.max(1));
        let pressure = IngestPressure::default();
        tokio::spawn(run_writer(store, queue, wake, pressure.clone()));
        Inbox { jobs, pressure }
    }

    /// Whether submissions are queueing up behind the writer (see [`IngestPressure`]).
    pub fn pressure(&self) -> IngestPressure {
        self.pressure.clone()
    }

    /// Queues `event` and waits until it is committed (or found to be a duplicate). A full queue
    /// refuses it at once with [`StoreError::IngestFull`] (webhooks answer 503 with
    /// `Retry-After`) rather than holding the request and its memory.
    pub async fn submit(&self, event: NewEvent) -> Result<InsertOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.jobs.try_send(Job::One(event, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::IngestFull,
            mpsc::error::TrySendError::Closed(_) => StoreError::IngestClosed,
        })?;
        outcome.await.map_err(|_| StoreError::IngestClosed)?
    }

    /// Queues `events` and waits until all are committed, in order and in one transaction; one
    /// outcome per event.
    pub async fn submit_all(&self, events: Vec<NewEvent>) -> Result<Vec<InsertOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, outcome) = oneshot::channel();
        self.jobs.send(Job::Batch(events, reply)).await.map_err(|_| StoreError::IngestClosed)?;
        outcome.await.map_err(|_| StoreError::IngestClosed)?
    }
}

/// The writer: wait for one job, take whatever else is queued (up to [`MAX_BATCH`] events, but
/// never splitting a job), commit, answer, repeat.
async fn run_writer(store: Arc<dyn InboxStore>, mut queue: mpsc::Receiver<Job>, wake: Arc<Notify>, pressure: IngestPressure) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs[0].len();
        while count < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        pressure.record(jobs.len());
        let mut events = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::One(event, reply) => {
                    events.push(event);
                    replies.push(Reply::One(reply));
                }
                Job::Batch(batch, reply) => {
                    replies.push(Reply::Batch(batch.len(), reply));
                    events.extend(batch);
                }
            }
        }
        match store.insert_events(events).await {
            Ok(outcomes) => {
                if outcomes.contains(&InsertOutcome::Inserted) {
                    wake.notify_one();
                }
                let mut outcomes = outcomes.into_iter();
                for reply in replies {
                    reply.send(&mut outcomes);
                }
            }
            Err(err) => {
                tracing::warn!(events = count, error = %err, "Store rejected an ingest batch.");
                for reply in replies {
                    reply.fail(err.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::Utc;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{DispatchResult, EventFilter, FailureRecord, Lease, StoredEvent};

    /// Delegates to SQLite, counting batches and failing them on demand.
    struct Probe {
        inner: SqliteStore,
        batches: AtomicUsize,
        fail: AtomicBool,
    }

    #[async_trait]
    impl InboxStore for Probe {
        async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<InsertOutcome>> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable("insert events", std::io::Error::other("disk on fire")));
            }
            self.inner.insert_events(events).await
        }
        async fn claim_events(&self, lease: &Lease, limit: usize) -> Result<Vec<StoredEvent>> {
            self.inner.claim_events(lease, limit).await
        }
        async fn release_events(&self, lease: &Lease, ids: Vec<String>) -> Result<()> {
            self.inner.release_events(lease, ids).await
        }
        async fn complete_dispatches(&self, lease: &Lease, batch: Vec<(String, DispatchResult)>) -> Result<Vec<String>> {
            self.inner.complete_dispatches(lease, batch).await
        }
        async fn replay_event(&self, event_id: &str) -> Result<bool> {
            self.inner.replay_event(event_id).await
        }
        async fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>> {
            self.inner.list_events(filter).await
        }
        async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
            self.inner.get_event(event_id).await
        }
        async fn list_failures(&self, event_id: &str) -> Result<Vec<FailureRecord>> {
            self.inner.list_failures(event_id).await
        }
        async fn recent_failures(&self, limit: usize) -> Result<Vec<(String, FailureRecord)>> {
            self.inner.recent_failures(limit).await
        }
    }

    fn probe() -> (tempfile::TempDir, Arc<Probe>) {
        let dir = tempfile::tempdir().unwrap();
        let inner = SqliteStore::open(&dir.path().join("ingest.db")).unwrap();
        (dir, Arc::new(Probe { inner, batches: AtomicUsize::new(0), fail: AtomicBool::new(false) }))
    }

    fn event(id: &str) -> NewEvent {
        NewEvent {
            id: id.to_owned(),
            source: "wave".into(),
            kind: "invoice.paid".into(),
            business_id: Some("biz".into()),
            record: None,
            received_at: Utc::now(),
            body: format!(r#"{{"event_id":"{id}"}}"#).into_bytes(),
            data: "{}".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submitters_are_group_committed_and_deduplicated() {
        let (_dir, store) = probe();
        let wake = Arc::new(Notify::new());
        let inbox = Inbox::start(store.clone(), 1024, wake.clone());
        // 100 distinct ids, each submitted 3 times, all at once.
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let inbox = inbox.clone();
                tokio::spawn(async move { inbox.submit(event(&format!("evt-{}", i % 100))).await })
            })
            .collect();
        let (mut inserted, mut duplicates) = (0, 0);
        for task in tasks {
            match task.await.unwrap().unwrap() {
                InsertOutcome::Inserted => inserted += 1,
                InsertOutcome::Duplicate => duplicates += 1,
            }
        }
        assert_eq!((inserted, duplicates), (100, 200));
        assert_eq!(store.list_events(&EventFilter::newest(1000)).await.unwrap().len(), 100);
        assert!(store.batches.load(Ordering::SeqCst) < 300, "no batching happened");
        // The dispatcher would be woken: a permit is waiting.
        tokio::time::timeout(Duration::from_secs(1), wake.notified()).await.unwrap();
    }

    // Current-thread runtime: the submitters all queue their events before the writer runs again.
    #[tokio::test]
    async fn submissions_queueing_up_behind_a_commit_are_pressure_and_a_few_are_not() {
        let (_dir, store) = probe();
        let inbox = Inbox::start(store.clone(), 64, Arc::new(Notify::new()));
        let pressure = inbox.pressure();
        let burst = |prefix: &'static str, n: usize| {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let inbox = inbox.clone();
                    tokio::spawn(async move { inbox.submit(event(&format!("{prefix}-{i}"))).await })
                })
                .collect();
            async move {
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
            }
        };
        inbox.submit(event("alone")).await.unwrap();
        let recorded = || pressure.last_queued.load(Ordering::Relaxed) > 0;
        burst("few", 4).await;
        assert!(!recorded(), "a few concurrent submissions are no pressure");
        burst("burst", PRESSURE_SUBMISSIONS).await;
        assert!(recorded(), "a burst queued up behind the writer");
    }

    #[tokio::test]
    async fn a_burst_lasts_while_commits_find_submissions_waiting_and_ends_a_window_after() {
        let pressure = IngestPressure::default();
        pressure.record(PRESSURE_SUBMISSIONS - 1);
        assert_eq!(pressure.burst_age(), None);
        pressure.record(PRESSURE_SUBMISSIONS);
        let began = pressure.burst_began.load(Ordering::Relaxed);
        assert!(pressure.burst_age().is_some());
        pressure.record(PRESSURE_SUBMISSIONS);
        assert_eq!(pressure.burst_began.load(Ordering::Relaxed), began, "the same burst goes on");
        tokio::time::sleep(PRESSURE_WINDOW).await;
        assert_eq!(pressure.burst_age(), None, "over once no commit found submissions waiting for a window");
        pressure.record(PRESSURE_SUBMISSIONS);
        assert!(pressure.burst_began.load(Ordering::Relaxed) > began, "a new burst");
    }

    #[tokio::test]
    async fn a_batch_keeps_its_order_and_gets_one_outcome_per_event() {
        let (_dir, store) = probe();
        let inbox = Inbox::start(store.clone(), 8, Arc::new(Notify::new()));
        inbox.submit(event("b")).await.unwrap();
        let outcomes = inbox.submit_all(vec![event("a"), event("b"), event("c")]).await.unwrap();
        assert_eq!(outcomes, [InsertOutcome::Inserted, InsertOutcome::Duplicate, InsertOutcome::Inserted]);
        let ids: Vec<_> = store.list_events(&EventFilter::newest(10)).await.unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        assert!(inbox.submit_all(vec![]).await.unwrap().is_empty());
    }

    // Current-thread runtime: the writer runs only when the test yields, so the queue stays full.
    #[tokio::test]
    async fn a_full_queue_refuses_a_submission_at_once_and_keeps_what_it_queued() {
        let (_dir, store) = probe();
        let inbox = Inbox::start(store.clone(), 1, Arc::new(Notify::new()));
        let mut queued = Box::pin(inbox.submit(event("a")));
        assert!(futures::poll!(queued.as_mut()).is_pending());
        assert!(matches!(inbox.submit(event("b")).await, Err(StoreError::IngestFull)));
        assert_eq!(queued.await.unwrap(), InsertOutcome::Inserted);
        assert_eq!(inbox.submit(event("b")).await.unwrap(), InsertOutcome::Inserted);
    }

    #[tokio::test]
    async fn a_duplicate_alone_does_not_wake_the_dispatcher() {
        let (_dir, store) = probe();
        store.insert_events(vec![event("seen")]).await.unwrap();
        let wake = Arc::new(Notify::new());
        let inbox = Inbox::start(store.clone(), 8, wake.clone());
        assert_eq!(inbox.submit(event("seen")).await.unwrap(), InsertOutcome::Duplicate);
        assert!(tokio::time::timeout(Duration::from_millis(50), wake.notified()).await.is_err());
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_submitter() {
        let (_dir, store) = probe();
        store.fail.store(true, Ordering::SeqCst);
        let inbox = Inbox::start(store.clone(), 8, Arc::new(Notify::new()));
        let (a, b) = tokio::join!(inbox.submit(event("a")), inbox.submit(event("b")));
        for outcome in [a, b] {
            assert!(outcome.unwrap_err().is_unavailable());
        }
        store.fail.store(false, Ordering::SeqCst);
        assert_eq!(inbox.submit(event("a")).await.unwrap(), InsertOutcome::Inserted);
    }
}
