//! Group commit on the writer connection. The hot path's writes (ingest batches, event claims,
//! dispatch commits, outbox claims and message state changes) come from different tasks at the
//! same time; each is queued, and whichever call gets the writer next runs everything queued in
//! ONE transaction, each write in its own savepoint, so one fsync covers them all. A write that
//! fails is rolled back alone and reports its error; the others still commit. A caller's future
//! resolves only after the transaction holding its write has committed (or failed), so "a
//! returned write is durable" holds exactly as with a transaction of its own.

use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Inner, SqlResultExt as _, SqliteStore};
use crate::store::{Result, StoreError};

/// Delivers a write's result once the transaction's fate is known (`Some` when it did not commit).
type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A queued write: runs in the open transaction (`Ok`), or is told the transaction could not be
/// opened (`Err`).
type Job = Box<dyn FnOnce(std::result::Result<&Connection, &StoreError>) -> Deliver + Send>;

/// Writes waiting for the next group commit.
#[derive(Default)]
pub(super) struct Queue(Mutex<Vec<Job>>);

impl Queue {
    fn push(&self, job: Job) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(job);
    }

    fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
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
        self.inner.queue.push(job);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.commit_queued()).await.map_err(|e| StoreError::backend(op, e))?;
        // Committed by this call or by one that took the writer before it.
        result.await.map_err(|_| StoreError::backend(op, std::io::Error::other("the group commit holding this write was abandoned")))?
    }
}

impl Inner {
    /// Takes the writer, then everything queued by then, and commits it in one transaction.
    fn commit_queued(&self) {
        let conn = self.writer();
        let jobs = self.queue.take();
        if jobs.is_empty() {
            return;
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE").op("begin group commit") {
            for job in jobs {
                job(Err(&e))(Some(&e));
            }
            return;
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
            None => conn.execute_batch("COMMIT").op("commit").err(),
        };
        if failed.is_some() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(conn);
        for deliver in done {
            deliver(failed.as_ref());
        }
    }
}

/// Runs `f` in a savepoint: kept when it succeeds, rolled back alone when it fails. The
/// savepoint statements are prepared once per connection (cached), not parsed for every write.
fn in_savepoint<T>(conn: &Connection, op: &'static str, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut stmt| stmt.execute([])).op(op);
    run("SAVEPOINT grouped")?;
    let outcome = f(conn);
    if conn.is_autocommit() {
        // The database rolled everything back; the caller sees it.
        return outcome;
    }
    if outcome.is_err() {
        run("ROLLBACK TO grouped")?;
    }
    run("RELEASE grouped")?;
    outcome
}
