//! Group commit on the writer connection. The hot path's writes (ingest batches, event claims,
//! dispatch commits, outbox claims and message state changes) come from different tasks at the
//! same time; each is queued, and one committer on the blocking pool takes the writer and
//! everything queued by then and runs it in ONE transaction, each write in its own savepoint, so
//! one fsync covers them all (then the next batch, until the queue is empty). A write that
//! fails is rolled back alone and reports its error; the others still commit. A caller's future
//! resolves only after the transaction holding its write has committed (or failed), so "a
//! returned write is durable" holds exactly as with a transaction of its own.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Inner, SqlResultExt as _, SqliteStore};
use crate::store::{Result, StoreError};

/// Delivers a write's result once the transaction's fate is known (`Some` when it did not commit).
type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A queued write: runs in the open transaction (`Ok`), or is told the transaction could not be
/// opened (`Err`).
type Job = Box<dyn FnOnce(std::result::Result<&Connection, &StoreError>) -> Deliver + Send>;

/// Writes waiting for the next group commit, and whether a committer is running to take them.
#[derive(Default)]
pub(super) struct Queue(Mutex<Waiting>);

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    /// A committer runs (or is about to): it takes these jobs once it has the writer.
    committing: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; `true` when no committer runs, so the caller starts one.
    fn push(&self, job: Job) -> bool {
        let mut waiting = self.lock();
        waiting.jobs.push(job);
        !std::mem::replace(&mut waiting.committing, true)
    }

    /// Everything queued; when nothing is, the committer stops (decided under the same lock as
    /// [`Queue::push`], so a job is never left without one).
    fn take(&self) -> Vec<Job> {
        let mut waiting = self.lock();
        let jobs = std::mem::take(&mut waiting.jobs);
        if jobs.is_empty() {
            waiting.committing = false;
        }
        jobs
    }

    /// The committer ended without emptying the queue (a job panicked, or the runtime shut down
    /// before it ran); `true` when jobs wait and the caller starts another committer for them.
    fn restart(&self, can_start: bool) -> bool {
        let mut waiting = self.lock();
        waiting.committing = can_start && !waiting.jobs.is_empty();
        waiting.committing
    }
}

/// The one task committing queued writes; if it ends any other way than by finding the queue
/// empty, the jobs left get another.
struct Committer(Option<Arc<Inner>>);

impl Committer {
    /// Starts a committer on the blocking pool.
    fn start(inner: Arc<Inner>) {
        let committer = Committer(Some(inner));
        drop(tokio::task::spawn_blocking(move || committer.run()));
    }

    /// Commits batch after batch until nothing is queued.
    fn run(mut self) {
        if let Some(inner) = &self.0 {
            while inner.commit_queued() {}
        }
        // Stopped because the queue was empty: nothing to hand over.
        self.0 = None;
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let Some(inner) = self.0.take() else { return };
        // After a job's panic the jobs left get a new committer; a committer dropped before it
        // ran (its runtime shutting down) leaves them to the next write.
        let runtime = tokio::runtime::Handle::try_current().ok().filter(|_| std::thread::panicking());
        if inner.queue.restart(runtime.is_some()) && let Some(runtime) = runtime {
            let committer = Committer(Some(inner));
            drop(runtime.spawn_blocking(move || committer.run()));
        }
    }
}

impl SqliteStore {
    /// Runs `f` on the writer inside the next group transaction (on the blocking pool); resolves
    /// once that transaction has committed. `f` must not open a transaction of its own.
    pub(super) async fn write_grouped<T: Send + 'static>(&self, op: &'static str, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Ok(conn) => in_savepoint(conn, op, f),
                Err(e) => Err(e.clone()),
            };
            Box::new(move |failed: Option<&StoreError>| {
                let _ = reply.send(match (outcome, failed) {
                    (Ok(_), Some(e)) => Err(e.clone()),
                    (outcome, _) => outcome,
                });
            })
        });
        // One committer at a time (on the blocking pool) takes the writer and everything queued;
        // the other callers only wait for their answer, so a burst of writes costs one thread.
        if self.inner.queue.push(job) {
            Committer::start(self.inner.clone());
        }
        result.await.map_err(|_| StoreError::backend(op, std::io::Error::other("the group commit holding this write was abandoned")))?
    }
}

impl Inner {
    /// Takes the writer, then everything queued by then, and commits it in one transaction;
    /// `false` when nothing was queued (the committer stops).
    fn commit_queued(&self) -> bool {
        let conn = self.writer();
        let jobs = self.queue.take();
        if jobs.is_empty() {
            return false;
        }
        if let Err(e) = run(&conn, "BEGIN IMMEDIATE").op("begin group commit") {
            for job in jobs {
                job(Err(&e))(Some(&e));
            }
            return true;
        }
        let mut done = Vec::with_capacity(jobs.len());
        let mut broken = None;
        for job in jobs {
            if let Some(e) = &broken {
                done.push(job(Err(e)));
                continue;
            }
            done.push(job(Ok(&*conn)));
            // Some errors (I/O, a full disk) make SQLite roll the whole transaction back.
            if conn.is_autocommit() {
                broken = Some(StoreError::unavailable("group commit", std::io::Error::other("the transaction was rolled back by the database")));
            }
        }
        let failed = match broken {
            Some(e) => Some(e),
            None => run(&conn, "COMMIT").op("commit").err(),
        };
        if failed.is_some() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(conn);
        for deliver in done {
            deliver(failed.as_ref());
        }
        true
    }
}

/// Runs `f` in a savepoint: kept when it succeeds, rolled back alone when it fails. The
/// savepoint statements are prepared once per connection (cached), not parsed for every write.
fn in_savepoint<T>(conn: &Connection, op: &'static str, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    run(conn, "SAVEPOINT grouped").op(op)?;
    let outcome = f(conn);
    if conn.is_autocommit() {
        // The database rolled everything back; the caller sees it.
        return outcome;
    }
    if outcome.is_err() {
        run(conn, "ROLLBACK TO grouped").op(op)?;
    }
    run(conn, "RELEASE grouped").op(op)?;
    outcome
}

/// Runs one statement without parameters, prepared once per connection (these run for every
/// write: parsing them each time cost more than the writes themselves).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}
