//! The sink driver: takes due outbox rows to a final state through one [`Sink`]. Per message:
//! reconcile a send left ambiguous by a crash or timeout, defer customer messages in quiet
//! hours, resolve the recipient, record a dry run or verify the address, wait for the rate
//! limiter, mark the row `sending` (durably, before the request), send, and record the outcome;
//! a retryable failure is rescheduled with backoff (or the remote's `Retry-After`) until the
//! retry budget is spent.
//!
//! Layer order (STYLE 7): retries outside the rate limit, so every attempt spends a token, which
//! is what the remote counts. Claims are leases, so several processes can drain one outbox.

use std::num::NonZeroU32;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::{BoxFuture, FutureExt as _};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, Semaphore, watch};

use super::quiet_hours::quiet_until;
use super::retry::{Backoff, MAX_DELAY};
use super::{Reconciled, Resolution, Sink, SinkError};
use crate::config::{Config, QuietHours};
use crate::model::{Channel, Recipient};
use crate::timezone::Timezone;
use crate::store::{Attempt, Lease, MessageUpdate, OutboxMessage, OutboxRow, OutboxStatus, OutboxStore, StoreError};

/// Rows claimed per store round trip when no rate limit applies.
const BATCH: usize = 128;
/// Requests to the remote in flight at once (over the sink's pooled keep-alive connections).
const CONCURRENCY: usize = 32;
/// Messages in progress per request in flight: the others read, or wait for their state writes,
/// which the store group-commits, so many in progress share each fsync.
const IN_PROGRESS_PER_REQUEST: usize = 4;
/// Reconciliations of one message in a row when the SID found is taken by another meanwhile.
const ADOPT_TRIES: usize = 3;
/// An ambiguous call waiting for other calls to its number to be answered looks again after this.
const RECONCILE_DEFER: Duration = Duration::from_millis(500);
/// An ambiguous call whose list shows an unheld call still going (its status callbacks, each
/// naming its message, are still to come) lists again after this.
const UNSETTLED_DEFER: Duration = Duration::from_secs(2);
/// After a store failure, wait this long before claiming again.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// A claimed message with where its recipient resolved to.
type Claimed = (OutboxMessage, Resolution);

/// A claim under way: the rows it leased, and whether nothing was in flight when it began.
type Claim<'a> = BoxFuture<'a, (Result<Vec<Claimed>, StoreError>, bool)>;

/// What the driver reads from the configuration.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// Quiet hours for customer messages.
    pub quiet_hours: Option<QuietHours>,
    /// The configured time zone quiet hours are read in, for messages whose business's own
    /// time zone is unknown.
    pub timezone: Timezone,
    /// Sends per second; `None` turns the limiter off (benchmarks only).
    pub messages_per_second: Option<NonZeroU32>,
    /// Retries after a retryable failure.
    pub max_retries: u32,
    /// Backoff between retries.
    pub backoff: Backoff,
    /// With nothing due and no wake-up, look again this often (rows requeued by another
    /// process, a lease run out).
    pub poll_interval: Duration,
    /// Requests to the remote in flight at once; a few times more messages are in progress
    /// (reading, or waiting for their durable state writes), with a rate limit no more than
    /// one claim.
    pub concurrency: usize,
    /// How long a call left `sending` by an unanswered request waits for the status callback
    /// naming its message before the list is searched: the list cannot tell calls to one
    /// number apart.
    pub call_callback_wait: Duration,
}

impl DriverSettings {
    /// The settings of `[twilio]`.
    pub fn from_config(config: &Config) -> Self {
        let t = &config.twilio;
        DriverSettings {
            quiet_hours: t.quiet_hours,
            timezone: t.timezone.clone().unwrap_or_else(Timezone::utc),
            messages_per_second: NonZeroU32::new(t.messages_per_second),
            max_retries: t.max_retries,
            backoff: Backoff { base: Duration::from_millis(t.retry_base_ms), cap: MAX_DELAY },
            poll_interval: Duration::from_millis(100),
            concurrency: CONCURRENCY,
            call_callback_wait: Duration::from_millis(t.call_callback_wait_ms),
        }
    }
}

/// The rate: `per_second` sends, spaced evenly (burst 1), so no one-second window ever holds
/// more than `per_second` sends.
pub fn quota(per_second: NonZeroU32) -> Quota {
    let period = Duration::from_secs(1) / per_second.get();
    Quota::with_period(period).expect("period > 0").allow_burst(NonZeroU32::MIN)
}

/// Drains the outbox through one sink.
pub struct SinkDriver {
    sink: Arc<dyn Sink>,
    store: Arc<dyn OutboxStore>,
    lease: Lease,
    settings: DriverSettings,
    limiter: Option<DefaultDirectRateLimiter>,
    /// One permit per request in flight to the remote.
    requests: Semaphore,
    wake: Arc<Notify>,
}

impl SinkDriver {
    /// A driver claiming with `lease` from `store`, woken through `wake` when the dispatcher
    /// commits new messages.
    pub fn new(sink: Arc<dyn Sink>, store: Arc<dyn OutboxStore>, lease: Lease, settings: DriverSettings, wake: Arc<Notify>) -> Self {
        let limiter = settings.messages_per_second.map(|n| RateLimiter::direct(quota(n)));
        let requests = Semaphore::new(settings.concurrency.max(1));
        SinkDriver { sink, store, lease, settings, limiter, requests, wake }
    }

    /// Runs until `shutdown` turns true, finishing the messages in progress first.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(sink = self.sink.name(), live = self.sink.is_live(), "Sink started.");
        while !*shutdown.borrow() {
            let wait = match self.drain(Some(&shutdown)).await {
                Err(e) => {
                    tracing::warn!(sink = self.sink.name(), error = %e, "Sending paused; messages wait in the outbox.");
                    STORE_RETRY
                }
                Ok(_) => match self.store.next_due_at(self.sink.channels()).await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(self.settings.poll_interval),
                    _ => self.settings.poll_interval,
                },
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(sink = self.sink.name(), "Sink stopped.");
    }

    /// How many rows to claim at once: with a rate limit, no more than can be sent in a quarter
    /// of a lease; with the rows in flight (no more than that either, see [`Self::in_flight`])
    /// claimed rows never wait past their lease.
    fn claim_size(&self) -> usize {
        match self.settings.messages_per_second {
            Some(rate) => ((f64::from(rate.get()) * self.lease.ttl().as_secs_f64() / 4.0) as usize).clamp(1, BATCH),
            None => BATCH,
        }
    }

    /// How many messages are processed at once: a few times the requests in flight (the others
    /// read the opt-out, wait for their rate slot or their durable state writes), and with a
    /// rate limit no more than one claim, so none waits past its lease.
    fn in_flight(&self) -> usize {
        (self.settings.concurrency * IN_PROGRESS_PER_REQUEST).min(self.claim_size()).max(1)
    }

    /// Processes every message due now (including those that become due again during the
    /// drain, e.g. a retry with no wait). Returns how many were processed. Claims are pipelined:
    /// the next batch is claimed as soon as the last one has started, while the messages in
    /// flight go on, and a wake-up (new rows committed) claims again at once, so up to
    /// `concurrency` messages are always in flight while rows are due.
    pub async fn drain(&self, shutdown: Option<&watch::Receiver<bool>>) -> Result<usize, StoreError> {
        let limit = self.in_flight();
        let stopping = || shutdown.is_some_and(|s| *s.borrow());
        let mut in_flight = FuturesUnordered::new();
        let mut claimed: VecDeque<Claimed> = VecDeque::new();
        let mut claiming: Option<Claim<'_>> = None;
        let (mut done, mut failure) = (0, None);
        // The last claim found nothing due: no more claims until a wake-up or until the messages
        // in flight are done (one of them may be due again at once, e.g. a retry with no wait);
        // finished when it found nothing with none in flight.
        let (mut nothing_due, mut finished) = (false, false);
        loop {
            while in_flight.len() < limit
                && let Some((m, resolution)) = claimed.pop_front()
            {
                in_flight.push(self.process(m, resolution));
                done += 1;
            }
            if claiming.is_none() && claimed.is_empty() && in_flight.len() < limit && !nothing_due && failure.is_none() && !stopping() {
                let idle = in_flight.is_empty();
                claiming = Some(self.claim().map(move |result| (result, idle)).boxed());
            }
            if claiming.is_none() && in_flight.is_empty() {
                if finished || failure.is_some() || stopping() {
                    break;
                }
                nothing_due = false;
                continue;
            }
            tokio::select! {
                Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Err(e) = result {
                        failure.get_or_insert(e);
                    }
                }
                (result, idle) = async { claiming.as_mut().expect("enabled only while claiming").await }, if claiming.is_some() => {
                    claiming = None;
                    match result {
                        Ok(batch) => {
                            (nothing_due, finished) = (batch.is_empty(), batch.is_empty() && idle);
                            claimed.extend(batch);
                        }
                        Err(e) => {
                            failure.get_or_insert(e);
                        }
                    }
                }
                _ = self.wake.notified(), if nothing_due && claiming.is_none() => nothing_due = false,
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Leases the next batch of due messages and resolves their recipients, one opt-out read for
    /// the batch.
    async fn claim(&self) -> Result<Vec<Claimed>, StoreError> {
        let batch = self.store.claim_due_messages(&self.lease, Utc::now(), self.sink.channels(), self.claim_size()).await?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let resolved = self.sink.resolve_all(&batch).await?;
        Ok(batch.into_iter().zip(resolved).collect())
    }

    /// Waits for the rate limit: the store's shared one when it keeps one (every replica's
    /// sends together), else this process's own.
    async fn pace(&self) -> Result<(), StoreError> {
        let Some(rate) = self.settings.messages_per_second else { return Ok(()) };
        match self.store.reserve_send_slot(self.sink.name(), Duration::from_secs(1) / rate.get()).await? {
            Some(wait) => tokio::time::sleep(wait).await,
            None => {
                if let Some(limiter) = &self.limiter {
                    limiter.until_ready().await;
                }
            }
        }
        Ok(())
    }

    /// Takes one message as far as it can go now; its recipient resolved to `resolution` when
    /// it was claimed.
    async fn process(&self, mut m: OutboxMessage, resolution: Resolution) -> Result<(), StoreError> {
        let mut log = Vec::new();
        let live = self.sink.is_live();
        if m.row.status == OutboxStatus::Sending
            && let Some(id) = m.sid.clone()
        {
            // The remote's status callback named this message: its SID is known without a list.
            let history = format!("sent: {id}, linked by {}'s status callback after an unanswered attempt", self.sink.name());
            let update = MessageUpdate { sid: Some(id.clone()), history: Some(history), ..base_update(&m, OutboxStatus::Sent) };
            self.store.update_message(&self.lease, &update, &log).await?;
            tracing::info!(outbox_id = m.row.id, sid = %id, "Adopted a send its status callback linked.");
            return Ok(());
        }
        if m.row.status == OutboxStatus::Sending
            && live
            && m.row.channel == Channel::Call
            && let Some(since) = m.sending_since
        {
            // A call's answer was lost: wait for the status callback naming it before listing,
            // since the list cannot tell calls to one number apart (another message could adopt
            // it, and this one would call again).
            let until = since + TimeDelta::from_std(self.settings.call_callback_wait).unwrap_or_default();
            if Utc::now() < until {
                return self.stay_sending_until(&m, log, until).await;
            }
        }
        if m.row.status == OutboxStatus::Sending
            && live
            && let (Some(to), Some(since)) = (m.to_number.clone(), m.sending_since)
        {
            // Calls to one number cannot be told apart in the list: search it only while no
            // other call to the number may still be unanswered (it could own what is listed).
            if self.others_in_flight(&m, &to).await? {
                return self.defer_reconcile(&m, log).await;
            }
            // A SID another message adopted meanwhile is refused by the store: list again.
            let mut reconciled = self.sink.reconcile(&m, &to, since, &mut log).await;
            for _ in 0..ADOPT_TRIES {
                let Ok(Reconciled::Found(id)) = &reconciled else { break };
                // Checked after the list: a call begun since could be what it shows unheld.
                if self.others_in_flight(&m, &to).await? {
                    return self.defer_reconcile(&m, log).await;
                }
                let update = MessageUpdate {
                    sid: Some(id.clone()),
                    history: Some(format!("sent: adopted {id}, found in {}'s list after an unanswered attempt", self.sink.name())),
                    ..base_update(&m, OutboxStatus::Sent)
                };
                match self.store.update_message(&self.lease, &update, &log).await {
                    Err(StoreError::SidTaken { .. }) => reconciled = self.sink.reconcile(&m, &to, since, &mut log).await,
                    other => {
                        if other? {
                            tracing::info!(outbox_id = m.row.id, sid = %id, "Adopted an ambiguous send instead of resending.");
                        } else {
                            // Its own status callback linked another SID meanwhile (or it was
                            // cancelled): the next claim records what the row holds.
                            tracing::debug!(outbox_id = m.row.id, sid = %id, "Did not adopt a listed send: the message changed meanwhile.");
                        }
                        return Ok(());
                    }
                }
            }
            match reconciled {
                Ok(Reconciled::Found(id)) => {
                    // Every listed SID was taken under us, again and again: leave it for the next claim.
                    tracing::warn!(outbox_id = m.row.id, sid = %id, "Could not adopt an ambiguous send; trying again later.");
                    return Ok(());
                }
                Ok(Reconciled::Unsettled) => {
                    // A listed call not yet ended may be this one: its callbacks will say.
                    tracing::debug!(outbox_id = m.row.id, "A listed call to the number has not ended; waiting for its status callbacks.");
                    let at = Utc::now() + TimeDelta::from_std(UNSETTLED_DEFER).unwrap_or_default();
                    return self.stay_sending_until(&m, log, at).await;
                }
                Ok(Reconciled::Absent) => {
                    let update = MessageUpdate {
                        sending_since: m.sending_since,
                        history: Some(format!("not found in {}'s list after an unanswered attempt: sending again", self.sink.name())),
                        ..base_update(&m, OutboxStatus::Sending)
                    };
                    if !self.store.update_message(&self.lease, &update, &log).await? {
                        return Ok(());
                    }
                    log.clear();
                }
                Err(e) => return self.after_failure(&m, m.attempts + 1, e, log, true).await,
            }
        }
        if m.row.to == Recipient::Customer && self.defer_in_quiet_hours(&m).await? {
            return Ok(());
        }
        let to = match resolution {
            Resolution::Address(to) => to,
            Resolution::Undeliverable { to, code, reason } => return self.finish(&m, OutboxStatus::Undeliverable, to, code, reason, log).await,
            Resolution::Failed { reason } => return self.finish(&m, OutboxStatus::Failed, None, None, reason, log).await,
        };
        let preview = match self.sink.preview(&m, &to) {
            Ok(preview) => preview,
            Err(e) => return self.finish(&m, OutboxStatus::Failed, Some(to), e.code(), e.message().to_owned(), log).await,
        };
        if !live {
            log.push(Attempt {
                outbox_id: m.row.id,
                series: m.series,
                started_at: Utc::now(),
                kind: "dry-run".into(),
                request: preview.request,
                http_status: None,
                sid: None,
                error_code: None,
                error_message: None,
                latency_ms: 0,
            });
            let update = MessageUpdate {
                attempts: m.attempts + 1,
                to_number: Some(to),
                history: Some("dry run: recorded, not sent".into()),
                ..base_update(&m, OutboxStatus::DryRun)
            };
            self.store.update_message(&self.lease, &update, &log).await?;
            return Ok(());
        }
        match self.sink.verify(&m, &to, &mut log).await {
            Ok(None) => {}
            Ok(Some(reason)) => return self.finish(&m, OutboxStatus::Undeliverable, Some(to), None, reason, log).await,
            Err(e) => return self.after_failure(&m, m.attempts + 1, e, log, false).await,
        }
        // With a rate limit the request permit is taken before the slot: a paced request never
        // waits for a permit after its slot (it would go out late, bunched with those behind it).
        let paced_permit = match self.settings.messages_per_second {
            Some(_) => Some(self.requests.acquire().await.expect("the request permits are never closed")),
            None => None,
        };
        self.pace().await?;
        let attempts = m.attempts + 1;
        let started = Utc::now();
        let marked = MessageUpdate { attempts, sending_since: Some(started), to_number: Some(to.clone()), history: None, ..base_update(&m, OutboxStatus::Sending) };
        if !self.store.update_message(&self.lease, &marked, &log).await? {
            // Cancelled (or replayed) since it was claimed.
            return Ok(());
        }
        log.clear();
        m = OutboxMessage {
            attempts,
            sending_since: Some(started),
            to_number: Some(to.clone()),
            row: OutboxRow { status: OutboxStatus::Sending, ..m.row },
            ..m
        };
        let sent = {
            let _permit = match paced_permit {
                Some(permit) => permit,
                None => self.requests.acquire().await.expect("the request permits are never closed"),
            };
            self.sink.send(&m, &to, &mut log).await
        };
        match sent {
            Ok(sent) => {
                let update = MessageUpdate { sid: sent.id.clone(), history: Some(format!("sent: {}", sent.detail)), ..base_update(&m, OutboxStatus::Sent) };
                match self.store.update_message(&self.lease, &update, &log).await {
                    Err(StoreError::SidTaken { sid, holder }) => {
                        // Another message adopted this SID while our request was unanswered:
                        // it stays there (never sent again), and this message says so.
                        tracing::warn!(outbox_id = m.row.id, %sid, holder, "A sent message's SID is held by another message.");
                        let history = format!("sent: {}; message {holder} already holds {sid}", sent.detail);
                        let update = MessageUpdate { sid: None, history: Some(history), ..update };
                        self.store.update_message(&self.lease, &update, &log).await?;
                    }
                    other => {
                        other?;
                    }
                }
                tracing::debug!(outbox_id = m.row.id, id = ?sent.id, "Message sent.");
                Ok(())
            }
            Err(e) => self.after_failure(&m, attempts, e, log, false).await,
        }
    }

    /// Whether another call to `to` begun within the callback wait has no SID yet (its answer
    /// or status callback may still come): while one has, an unheld call in the list may be
    /// that message's, so `m` does not search the list. SMS are matched by body and never wait.
    async fn others_in_flight(&self, m: &OutboxMessage, to: &str) -> Result<bool, StoreError> {
        if m.row.channel != Channel::Call {
            return Ok(false);
        }
        let since = Utc::now() - TimeDelta::from_std(self.settings.call_callback_wait).unwrap_or_default();
        self.store.others_in_flight(m.row.id, m.row.channel, to, since).await
    }

    /// Leaves an ambiguous call `sending` and looks again shortly, without spending an attempt.
    async fn defer_reconcile(&self, m: &OutboxMessage, log: Vec<Attempt>) -> Result<(), StoreError> {
        tracing::debug!(outbox_id = m.row.id, "Another call to the number is unanswered; searching the list later.");
        self.stay_sending_until(m, log, Utc::now() + TimeDelta::from_std(RECONCILE_DEFER).unwrap_or_default()).await
    }

    /// Leaves an ambiguous message `sending` (its send time kept) until `at`, when it is claimed
    /// and reconciled again; no attempt is spent.
    async fn stay_sending_until(&self, m: &OutboxMessage, log: Vec<Attempt>, at: DateTime<Utc>) -> Result<(), StoreError> {
        let update = MessageUpdate { next_attempt_at: Some(at), sending_since: m.sending_since, history: None, ..base_update(m, OutboxStatus::Sending) };
        self.store.update_message(&self.lease, &update, &log).await.map(drop)
    }

    /// Defers a message inside the quiet window to its end; `true` when it did.
    async fn defer_in_quiet_hours(&self, m: &OutboxMessage) -> Result<bool, StoreError> {
        let Some(window) = self.settings.quiet_hours else { return Ok(false) };
        // The business's own time zone, kept with the row at dispatch, else the configured one.
        let timezone = m.timezone.as_deref().and_then(|tz| Timezone::parse(tz).ok());
        let timezone = timezone.as_ref().unwrap_or(&self.settings.timezone);
        let Some(until) = quiet_until(window, timezone, Utc::now()) else { return Ok(false) };
        let update = MessageUpdate {
            next_attempt_at: Some(until),
            history: Some(format!("deferred by quiet hours until {} ({timezone})", timezone.rfc3339(until))),
            ..base_update(m, OutboxStatus::Pending)
        };
        self.store.update_message(&self.lease, &update, &[]).await?;
        Ok(true)
    }

    /// Schedules a retry or fails for good.
    async fn after_failure(&self, m: &OutboxMessage, attempts: u32, error: SinkError, log: Vec<Attempt>, reconciling: bool) -> Result<(), StoreError> {
        let max_attempts = self.settings.max_retries + 1;
        let update = match &error {
            SinkError::Retryable { retry_after, ambiguous, .. } if attempts < max_attempts => {
                let wait = retry_after.unwrap_or_else(|| self.settings.backoff.delay(attempts));
                let at: DateTime<Utc> = Utc::now() + TimeDelta::from_std(wait).unwrap_or_default();
                // An unanswered request stays `sending`: the next claim reconciles before resending.
                let keep_sending = *ambiguous || reconciling;
                MessageUpdate {
                    attempts,
                    next_attempt_at: Some(at),
                    sending_since: if keep_sending { m.sending_since } else { None },
                    history: Some(format!("retry {attempts}/{} scheduled at {}: {}", self.settings.max_retries, at.to_rfc3339(), error.message())),
                    ..base_update(m, if keep_sending { OutboxStatus::Sending } else { OutboxStatus::Pending })
                }
            }
            SinkError::Retryable { .. } => {
                let message = format!("gave up after {attempts} attempts: {}", error.message());
                tracing::warn!(outbox_id = m.row.id, event_id = %m.row.event_id, error = %error, "Message dropped after its last attempt.");
                MessageUpdate { attempts, error_code: error.code(), error_message: Some(message.clone()), history: Some(message), ..base_update(m, OutboxStatus::Failed) }
            }
            SinkError::Permanent { code, message, .. } => {
                tracing::warn!(outbox_id = m.row.id, event_id = %m.row.event_id, error = %error, "The remote refused the message.");
                MessageUpdate { attempts, error_code: *code, error_message: Some(message.clone()), history: Some(message.clone()), ..base_update(m, OutboxStatus::Failed) }
            }
        };
        self.store.update_message(&self.lease, &update, &log).await?;
        Ok(())
    }

    /// A final state reached without sending.
    async fn finish(&self, m: &OutboxMessage, status: OutboxStatus, to: Option<String>, code: Option<i64>, reason: String, log: Vec<Attempt>) -> Result<(), StoreError> {
        tracing::debug!(outbox_id = m.row.id, event_id = %m.row.event_id, %status, reason = %reason, "Message not sent.");
        let update = MessageUpdate { to_number: to, error_code: code, error_message: Some(reason.clone()), history: Some(reason), ..base_update(m, status) };
        self.store.update_message(&self.lease, &update, &log).await?;
        Ok(())
    }
}

/// An update that keeps the row's schedule fields as they are except what the caller sets.
fn base_update(m: &OutboxMessage, status: OutboxStatus) -> MessageUpdate {
    MessageUpdate {
        id: m.row.id,
        status,
        attempts: m.attempts,
        next_attempt_at: None,
        sending_since: None,
        to_number: m.to_number.clone(),
        sid: None,
        error_code: None,
        error_message: None,
        history: Some(status.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn the_quota_never_lets_a_second_hold_more_than_the_rate() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota(NonZeroU32::new(5).unwrap()), clock.clone());
        // Ask every 10 ms of (fake, deterministic) time for 3 s, as a burst would.
        let mut granted = Vec::new();
        for step in 0..300u64 {
            if limiter.check().is_ok() {
                granted.push(step * 10);
            }
            clock.advance(Duration::from_millis(10));
        }
        assert_eq!(granted.len(), 15, "{granted:?}");
        assert!(granted.windows(2).all(|w| w[1] - w[0] >= 200), "{granted:?}");
        assert!(granted.windows(6).all(|w| w[5] - w[0] >= 1000), "{granted:?}");
    }
}
