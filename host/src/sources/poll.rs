//! The poll driver: what every polling source shares. A source implements [`Poller`] (one
//! cycle: read the remote since a cursor, return new events and the next cursor); the driver
//! owns the rest: the schedule (interval with jitter, optional active hours), backoff with
//! jitter after a failed cycle (honouring the remote's `Retry-After`), one replica polling a
//! source at a time (the cursor is a lease), submitting the events through the [`Inbox`],
//! saving the cursor only after they are committed, and per-source health for `/healthz` and
//! `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder as _, ExponentialBuilder};
use std::str::FromStr as _;

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng as _;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::QuietHours;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::store::{CursorStore, InsertOutcome, Lease, NewEvent, StoreError};
use crate::timezone::{Timezone, to_timestamp};

/// What one cycle found: new events in the order they are to be dispatched, and where the next
/// cycle starts.
#[derive(Debug, Default)]
pub struct PollBatch {
    /// The events, in dispatch order; ids are deterministic, so a re-read is a duplicate.
    pub events: Vec<NewEvent>,
    /// The cursor to save once the events are committed; `None` keeps the current one.
    pub cursor: Option<String>,
}

/// Why a cycle failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// Temporary (timeout, 429, 5xx, store busy): retried with backoff.
    #[error("{reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The remote's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// An operator must act (refused credentials, permissions, configuration): reported once,
    /// and the source is tried again at its normal interval, not in a loop.
    #[error("{reason}")]
    Broken {
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl PollError {
    /// A retryable error without a `Retry-After`.
    pub fn retryable(reason: impl Into<String>) -> Self {
        PollError::Retryable { reason: reason.into(), retry_after: None }
    }

    /// A broken error.
    pub fn broken(reason: impl Into<String>) -> Self {
        PollError::Broken { reason: reason.into() }
    }

    /// Whether retrying may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PollError::Retryable { .. })
    }
}

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> Self {
        PollError::Retryable { reason: e.to_string(), retry_after: None }
    }
}

/// When a source is polled.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Every so often, or on a cron schedule.
    pub every: Every,
    /// A random delay up to this is added to each wait, so replicas and tenants spread out.
    pub jitter: Duration,
    /// Only inside this daily window (local time), when set.
    pub active_hours: Option<QuietHours>,
    /// The zone `active_hours` and a cron schedule are read in (UTC when unset).
    pub timezone: Option<Timezone>,
}

/// The base of a [`Schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Every {
    /// A fixed interval between the starts of two cycles.
    Interval(Duration),
    /// A cron expression (seconds field optional), checked when the configuration is read.
    Cron(String),
}

impl Schedule {
    /// Every `every`, with up to a tenth of it as jitter, at any hour.
    pub fn every(every: Duration) -> Self {
        Schedule { every: Every::Interval(every), jitter: every / 10, active_hours: None, timezone: None }
    }

    /// The wait from `now` to the next cycle, jitter included.
    pub fn next_wait(&self, now: DateTime<Utc>) -> Duration {
        let base = match &self.every {
            Every::Interval(every) => *every,
            Every::Cron(expr) => {
                let local = now.with_timezone(&self.offset_at(now));
                croner::Cron::from_str(expr)
                    .ok()
                    .and_then(|cron| cron.find_next_occurrence(&local, false).ok())
                    .and_then(|next| (next.with_timezone(&Utc) - now).to_std().ok())
                    .unwrap_or(Duration::from_secs(60))
            }
        };
        if self.jitter.is_zero() {
            return base;
        }
        base + self.jitter.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

    /// Whether `now` is inside the active hours.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        let Some(window) = self.active_hours else { return true };
        let t = now.with_timezone(&self.offset_at(now)).time();
        if window.start < window.end { t >= window.start && t < window.end } else { t >= window.start || t < window.end }
    }

    /// The schedule's UTC offset in force at `now`. A cron run is found in it, so one that
    /// falls across a daylight-saving change is off by that hour once.
    fn offset_at(&self, now: DateTime<Utc>) -> FixedOffset {
        let seconds = self.timezone.as_ref().map_or(0, |tz| tz.zone().to_offset(to_timestamp(now)).seconds());
        FixedOffset::east_opt(seconds).unwrap_or(FixedOffset::east_opt(0).expect("UTC"))
    }
}

/// A polling source: one cycle at a time, driven by [`PollDriver`].
#[async_trait]
pub trait Poller: Send + Sync + 'static {
    /// A stable name, e.g. `qad:acme` or `wave:reconcile`: the cursor's key and the health and
    /// metrics label.
    fn name(&self) -> &str;

    /// When to poll.
    fn schedule(&self) -> Schedule;

    /// One cycle from `cursor` (`None` the first time).
    async fn poll(&self, cursor: Option<String>) -> Result<PollBatch, PollError>;
}

/// A poller's state, as `/healthz` shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PollHealth {
    /// `ok`, `retrying`, `broken`, or `waiting` (not polled yet).
    pub status: &'static str,
    /// When the last cycle succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure's reason, until a cycle succeeds.
    pub last_error: Option<String>,
    /// When the next cycle is due.
    pub next_run: Option<DateTime<Utc>>,
    /// Events the last successful cycle stored (new ones, not duplicates).
    pub last_events: usize,
    /// The saved cursor after the last successful cycle.
    pub cursor: Option<String>,
}

/// The result of one driven cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleOutcome {
    /// The cycle ran: how many events it found and how many were new.
    Polled {
        /// Events the poller returned.
        found: usize,
        /// Of those, new to the store.
        stored: usize,
    },
    /// Another replica holds this source's lease.
    Skipped,
}

/// Drives one [`Poller`].
pub struct PollDriver {
    poller: Arc<dyn Poller>,
    inbox: Inbox,
    cursors: Arc<dyn CursorStore>,
    lease: Lease,
    metrics: Arc<Metrics>,
    health: Arc<Mutex<PollHealth>>,
}

/// The most a failing source waits between tries (unless its own interval is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

impl PollDriver {
    /// A driver submitting through `inbox`, keeping cursors (and its lease on them) in `cursors`.
    pub fn new(poller: Arc<dyn Poller>, inbox: Inbox, cursors: Arc<dyn CursorStore>, lease: Lease, metrics: Arc<Metrics>) -> Self {
        let health = Arc::new(Mutex::new(PollHealth { status: "waiting", ..PollHealth::default() }));
        PollDriver { poller, inbox, cursors, lease, metrics, health }
    }

    /// The poller's name.
    pub fn name(&self) -> &str {
        self.poller.name()
    }

    /// A handle on this poller's health, for `/healthz`.
    pub fn health(&self) -> Arc<Mutex<PollHealth>> {
        self.health.clone()
    }

    /// One cycle, now: take the source's lease (or skip), read the cursor, poll, submit the
    /// events, then save the cursor.
    pub async fn run_once(&self) -> Result<CycleOutcome, PollError> {
        let name = self.poller.name();
        if !self.cursors.lease_cursor(name, &self.lease).await? {
            return Ok(CycleOutcome::Skipped);
        }
        let cursor = self.cursors.get_cursor(name).await?.map(|c| c.value);
        let outcome = self.cycle(cursor).await;
        if let Err(e) = self.cursors.release_cursor(name, &self.lease).await {
            tracing::debug!(poller = name, error = %e, "Could not release the poll lease; it expires by itself.");
        }
        outcome
    }

    async fn cycle(&self, cursor: Option<String>) -> Result<CycleOutcome, PollError> {
        let name = self.poller.name();
        let batch = self.poller.poll(cursor).await?;
        let found = batch.events.len();
        let outcomes = self.inbox.submit_all(batch.events).await?;
        let stored = outcomes.iter().filter(|o| **o == InsertOutcome::Inserted).count();
        if let Some(cursor) = &batch.cursor {
            self.cursors.put_cursor(name, cursor).await?;
        }
        let mut health = self.health.lock().expect("poll health lock");
        health.last_events = stored;
        if batch.cursor.is_some() {
            health.cursor = batch.cursor;
        }
        Ok(CycleOutcome::Polled { found, stored })
    }

    /// Polls on the schedule until `shutdown` turns true; a cycle in progress is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let name = self.poller.name().to_owned();
        let mut backoff = Self::backoff();
        let mut broken_reported: Option<String> = None;
        tracing::info!(poller = %name, "Polling started.");
        while !*shutdown.borrow() {
            let schedule = self.poller.schedule();
            let wait = if schedule.is_active(Utc::now()) {
                match self.run_once().await {
                    Ok(outcome) => {
                        backoff = Self::backoff();
                        broken_reported = None;
                        self.succeeded(&name, outcome);
                        schedule.next_wait(Utc::now())
                    }
                    Err(PollError::Retryable { reason, retry_after }) => {
                        let wait = retry_after.unwrap_or_else(|| backoff.next().unwrap_or(MAX_BACKOFF)).max(Duration::from_millis(100));
                        tracing::warn!(poller = %name, error = %reason, retry_in_ms = wait.as_millis() as u64, "Poll failed; retrying.");
                        self.failed(&name, "retrying", reason);
                        wait
                    }
                    Err(PollError::Broken { reason }) => {
                        if broken_reported.as_deref() != Some(reason.as_str()) {
                            tracing::error!(poller = %name, reason = %reason, "Polling is broken until an operator fixes it; retrying at the normal interval.");
                            broken_reported = Some(reason.clone());
                        }
                        self.failed(&name, "broken", reason);
                        schedule.next_wait(Utc::now())
                    }
                }
            } else {
                schedule.next_wait(Utc::now())
            };
            self.health.lock().expect("poll health lock").next_run = chrono::TimeDelta::from_std(wait).ok().map(|d| Utc::now() + d);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(poller = %name, "Polling stopped.");
    }

    fn backoff() -> impl Iterator<Item = Duration> {
        ExponentialBuilder::new()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(MAX_BACKOFF)
            .with_jitter()
            .with_max_times(usize::MAX)
            .build()
    }

    fn succeeded(&self, name: &str, outcome: CycleOutcome) {
        let label = |outcome: &'static str| crate::metrics::PollLabel { poller: name.to_owned(), outcome };
        match outcome {
            CycleOutcome::Skipped => {
                self.metrics.polls.get_or_create(&label("skipped")).inc();
            }
            CycleOutcome::Polled { found, stored } => {
                self.metrics.polls.get_or_create(&label("ok")).inc();
                tracing::debug!(poller = name, found, stored, "Poll cycle done.");
                let mut health = self.health.lock().expect("poll health lock");
                health.status = "ok";
                health.last_success = Some(Utc::now());
                health.last_error = None;
            }
        }
    }

    fn failed(&self, name: &str, status: &'static str, reason: String) {
        let outcome = if status == "broken" { "broken" } else { "error" };
        self.metrics.polls.get_or_create(&crate::metrics::PollLabel { poller: name.to_owned(), outcome }).inc();
        let mut health = self.health.lock().expect("poll health lock");
        health.status = status;
        health.last_error = Some(reason);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use tokio::sync::Notify;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{EventFilter, InboxStore as _};

    /// A source that hands out scripted cycles and remembers the cursors it was given.
    struct Scripted {
        cycles: StdMutex<Vec<Result<PollBatch, PollError>>>,
        seen: StdMutex<Vec<Option<String>>>,
    }

    #[async_trait]
    impl Poller for Scripted {
        fn name(&self) -> &str {
            "test:scripted"
        }
        fn schedule(&self) -> Schedule {
            Schedule::every(Duration::from_secs(60))
        }
        async fn poll(&self, cursor: Option<String>) -> Result<PollBatch, PollError> {
            self.seen.lock().unwrap().push(cursor);
            self.cycles.lock().unwrap().remove(0)
        }
    }

    fn event(id: &str) -> NewEvent {
        NewEvent {
            id: id.into(),
            source: "test".into(),
            kind: "thing.happened".into(),
            business_id: None,
            record: None,
            received_at: Utc::now(),
            body: b"{}".to_vec(),
            data: "{}".into(),
        }
    }

    fn driver(store: &Arc<SqliteStore>, holder: &str, cycles: Vec<Result<PollBatch, PollError>>) -> (PollDriver, Arc<Scripted>) {
        let poller = Arc::new(Scripted { cycles: StdMutex::new(cycles), seen: StdMutex::new(Vec::new()) });
        let inbox = Inbox::start(store.clone(), 16, Arc::new(Notify::new()));
        let lease = Lease::new(holder, Duration::from_secs(60));
        (PollDriver::new(poller.clone(), inbox, store.clone(), lease, Arc::new(Metrics::default())), poller)
    }

    #[tokio::test]
    async fn a_cycle_stores_its_events_in_order_then_its_cursor_which_the_next_cycle_starts_from() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("poll.db")).unwrap());
        let cycles = vec![
            Ok(PollBatch { events: vec![event("b"), event("a")], cursor: Some("page-2".into()) }),
            Err(PollError::Retryable { reason: "HTTP 503".into(), retry_after: None }),
            Ok(PollBatch { events: vec![event("a"), event("c")], cursor: None }),
        ];
        let (driver, poller) = driver(&store, "replica-1", cycles);
        assert_eq!(driver.run_once().await.unwrap(), CycleOutcome::Polled { found: 2, stored: 2 });
        assert!(matches!(driver.run_once().await, Err(PollError::Retryable { .. })));
        // A re-read event is a duplicate; a cycle without a cursor keeps the saved one.
        assert_eq!(driver.run_once().await.unwrap(), CycleOutcome::Polled { found: 2, stored: 1 });
        assert_eq!(*poller.seen.lock().unwrap(), [None, Some("page-2".into()), Some("page-2".into())]);
        assert_eq!(store.get_cursor("test:scripted").await.unwrap().unwrap().value, "page-2");
        let ids: Vec<_> = store.list_events(&EventFilter::newest(10)).await.unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["c", "a", "b"], "dispatch order is the order the source gave");
        assert_eq!(driver.health().lock().unwrap().cursor.as_deref(), Some("page-2"));
    }

    #[tokio::test]
    async fn a_source_another_replica_is_polling_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("poll.db")).unwrap());
        assert!(store.lease_cursor("test:scripted", &Lease::new("replica-2", Duration::from_secs(60))).await.unwrap());
        let (driver, poller) = driver(&store, "replica-1", vec![Ok(PollBatch::default())]);
        assert_eq!(driver.run_once().await.unwrap(), CycleOutcome::Skipped);
        assert!(poller.seen.lock().unwrap().is_empty(), "the source was not asked");
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn window(start: u32, end: u32) -> Option<QuietHours> {
        let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        Some(QuietHours { start: t(start), end: t(end) })
    }

    #[test]
    fn waits_stay_within_the_jitter() {
        let schedule = Schedule::every(Duration::from_secs(100));
        for _ in 0..1000 {
            let wait = schedule.next_wait(Utc::now());
            assert!(wait >= Duration::from_secs(100) && wait <= Duration::from_secs(110), "{wait:?}");
        }
        let exact = Schedule { jitter: Duration::ZERO, ..schedule };
        assert_eq!(exact.next_wait(Utc::now()), Duration::from_secs(100));
    }

    #[test]
    fn a_cron_schedule_waits_for_its_next_run_in_its_time_zone() {
        let schedule = Schedule {
            every: Every::Cron("0 */10 7-18 * * MON-FRI".into()),
            jitter: Duration::ZERO,
            active_hours: None,
            timezone: Some(Timezone::parse("America/Chicago").unwrap()),
        };
        // Tuesday 2026-03-31 06:55 in Chicago (CDT, UTC-5): the next run is 07:00 there.
        assert_eq!(schedule.next_wait(at("2026-03-31T11:55:00Z")), Duration::from_secs(5 * 60));
        // Friday 18:55: the next run is Monday 07:00.
        assert_eq!(schedule.next_wait(at("2026-04-03T23:55:00Z")), Duration::from_secs((2 * 24 + 12) * 3600 + 5 * 60));
    }

    #[test]
    fn active_hours_are_local_and_may_wrap_midnight() {
        let chicago = Some(Timezone::parse("America/Chicago").unwrap());
        let day = Schedule { active_hours: window(7, 19), timezone: chicago, ..Schedule::every(Duration::from_secs(60)) };
        assert!(day.is_active(at("2026-03-31T12:00:00Z")), "07:00 in Chicago");
        assert!(!day.is_active(at("2026-04-01T00:00:00Z")), "19:00 in Chicago");
        let night = Schedule { active_hours: window(22, 6), timezone: None, ..Schedule::every(Duration::from_secs(60)) };
        assert!(night.is_active(at("2026-03-31T23:00:00Z")) && night.is_active(at("2026-03-31T05:00:00Z")));
        assert!(!night.is_active(at("2026-03-31T12:00:00Z")));
    }
}
