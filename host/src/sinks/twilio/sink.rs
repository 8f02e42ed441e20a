//! The sender: claims due outbox rows and takes each to a final state. Per message: reconcile a
//! send left ambiguous by a crash or timeout, defer customer messages in quiet hours, resolve
//! the recipient, normalise to E.164, refuse opted-out numbers, check Lookups (cached), wait for
//! the rate limiter, send, and record the attempt.
//!
//! Layer order (STYLE 7): retry outside the rate limit, the rate limit outside the timeout and
//! the service, so every attempt spends a token, which is what Twilio counts. Retries are
//! durable: a retryable failure stores `next_attempt_at` and the row is claimed again when due.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;

use super::SinkError;
use super::phone::to_e164;
use super::quiet_hours::quiet_until;
use super::request_builder::{self, Identity, TwilioRequest};
use super::retry::{Backoff, MAX_DELAY, OPTED_OUT};
use super::service::TwilioService;
use crate::config::{Config, QuietHours, TwilioMode};
use crate::timezone::Timezone;
use crate::model::{Channel, Recipient};
use crate::store::{
    Attempt, LookupRecord, MessageUpdate, OutboxMessage, OutboxStatus, Store, StoreError,
};

/// Rows claimed per store round trip.
const BATCH: usize = 64;
/// With nothing due, look again this often (new rows come from the dispatcher).
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// After a store failure, wait this long before claiming again.
const STORE_RETRY: Duration = Duration::from_secs(2);
/// Lookups answers are reused this long: line types change rarely, and each lookup costs.
const LOOKUP_TTL: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// A listed message counts as ours if created no earlier than this before our attempt
/// (clock skew between the host and Twilio).
const RECONCILE_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
/// Line types that cannot receive SMS.
const NO_SMS_LINE_TYPES: &[&str] = &["landline", "fixedVoip", "tollFree", "premium", "sharedCost", "uan", "voicemail", "pager"];

/// Everything the sender reads from the configuration.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Dry-run records what would be sent; live sends.
    pub mode: TwilioMode,
    /// Account, sender and status callback.
    pub identity: Identity,
    /// Region for national-format numbers.
    pub default_region: String,
    /// `[team]` contacts.
    pub team: BTreeMap<String, String>,
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
    /// Idle polling interval.
    pub poll_interval: Duration,
}

impl SenderSettings {
    /// The settings of `[twilio]`, `[team]` and `[server] public_url`.
    pub fn from_config(config: &Config) -> Self {
        let t = &config.twilio;
        Self {
            mode: t.mode,
            identity: Identity {
                // Dry-run may run without an account; the recorded path says so.
                account_sid: t.account_sid.clone().unwrap_or_else(|| "(not configured)".into()),
                from: t.from.clone(),
                messaging_service_sid: t.messaging_service_sid.clone(),
                status_callback: format!(
                    "{}/webhooks/twilio/status",
                    config.server.resolved_public_url().trim_end_matches('/')
                ),
            },
            default_region: t.default_region.clone(),
            team: config.team.clone(),
            quiet_hours: t.quiet_hours,
            timezone: t.timezone.clone().unwrap_or_else(Timezone::utc),
            messages_per_second: NonZeroU32::new(t.messages_per_second),
            max_retries: t.max_retries,
            backoff: Backoff { base: Duration::from_millis(t.retry_base_ms), cap: MAX_DELAY },
            poll_interval: POLL_INTERVAL,
        }
    }
}

/// Drains the outbox into Twilio.
pub struct Sender {
    store: Arc<dyn Store>,
    service: Option<TwilioService>,
    settings: SenderSettings,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// What a step decided when it did not hand over to the next one.
enum Stop {
    /// The message reached a state; nothing more now.
    Done,
    /// The store failed; the message stays as it was and is claimed again.
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

type Step<T> = Result<T, Stop>;

/// The sender's rate: `per_second` sends, spaced evenly (burst 1), so no
/// one-second window ever holds more than `per_second` sends.
pub fn quota(per_second: NonZeroU32) -> Quota {
    let period = Duration::from_secs(1) / per_second.get();
    Quota::with_period(period).expect("period > 0").allow_burst(NonZeroU32::MIN)
}

impl Sender {
    /// A sender over `store`. `service` is required in live mode and unused in dry-run.
    pub fn new(store: Arc<dyn Store>, service: Option<TwilioService>, settings: SenderSettings) -> Self {
        let limiter = settings.messages_per_second.map(|n| RateLimiter::direct(quota(n)));
        Self { store, service, settings, limiter }
    }

    /// Runs until `shutdown` turns true, finishing the message in progress first.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(mode = ?self.settings.mode, "Twilio sender started.");
        while !*shutdown.borrow() {
            let wait = match self.drain(Some(&shutdown)).await {
                Err(e) => {
                    tracing::warn!(error = %e, "Sending paused; messages wait in the outbox.");
                    STORE_RETRY
                }
                Ok(_) => match self.store.next_due_at() {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(self.settings.poll_interval),
                    _ => self.settings.poll_interval,
                },
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("Twilio sender stopped.");
    }

    /// Processes every message due now (including those that become due again during the
    /// drain, e.g. a retry with no wait). Returns how many were processed.
    pub async fn drain(&self, shutdown: Option<&watch::Receiver<bool>>) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let batch = self.store.claim_due_messages(Utc::now(), BATCH)?;
            if batch.is_empty() {
                return Ok(done);
            }
            for message in batch {
                if shutdown.is_some_and(|s| *s.borrow()) {
                    return Ok(done);
                }
                match self.process(&message).await {
                    Ok(()) | Err(Stop::Done) => {}
                    Err(Stop::Store(e)) => return Err(e),
                }
                done += 1;
            }
        }
    }

    /// Takes one message as far as it can go now.
    async fn process(&self, m: &OutboxMessage) -> Step<()> {
        let live = self.settings.mode == TwilioMode::Live;
        if m.row.status == OutboxStatus::Sending && live {
            self.reconcile(m).await?;
        }
        if m.row.to == Recipient::Customer {
            self.defer_in_quiet_hours(m)?;
        }
        let number = self.resolve(m)?;
        if self.store.is_opted_out(&number)? {
            return self.finish(m, OutboxStatus::Undeliverable, Some(number.clone()), Some(OPTED_OUT), format!("{number} opted out of messages (replied STOP)"));
        }
        let request = match request_builder::send(m.row.channel, &number, &m.row.body, &self.settings.identity) {
            Ok(r) => r,
            Err(e) => return self.finish(m, OutboxStatus::Failed, Some(number), None, e.to_string()),
        };
        if !live {
            let attempt = self.attempt(m, Utc::now(), "dry-run", &request, None, 0);
            let update = MessageUpdate {
                attempts: m.attempts + 1,
                to_number: Some(number),
                history: Some("dry run: recorded, not sent".into()),
                ..base_update(m, OutboxStatus::DryRun)
            };
            self.store.update_message(&update, Some(&attempt))?;
            return Ok(());
        }
        self.check_lookup(m, &number).await?;
        self.send(m, &number, &request).await
    }

    /// A row found `sending`: Twilio may have accepted it. Adopt a matching message's SID
    /// instead of sending twice; otherwise fall through to a normal send.
    async fn reconcile(&self, m: &OutboxMessage) -> Step<()> {
        let (Some(number), Some(since)) = (&m.to_number, m.sending_since) else {
            return Ok(());
        };
        let request = request_builder::list_recent(m.row.channel, number, since, &self.settings.identity);
        let started = Utc::now();
        let (answer, latency) = self.timed_send(&request).await?;
        match answer {
            Ok(json) => {
                let found = find_match(&json, m.row.channel, number, &m.row.body, since);
                let attempt = self.attempt(m, started, "list", &request, Some(200), latency);
                match found {
                    Some(sid) => {
                        let attempt = Attempt { sid: Some(sid.clone()), ..attempt };
                        let update = MessageUpdate {
                            sid: Some(sid.clone()),
                            history: Some(format!("sent: adopted {sid}, found in Twilio's list after an unanswered attempt")),
                            ..base_update(m, OutboxStatus::Sent)
                        };
                        self.store.update_message(&update, Some(&attempt))?;
                        tracing::info!(outbox_id = m.row.id, sid = %sid, "Adopted an ambiguous send instead of resending.");
                        Err(Stop::Done)
                    }
                    None => {
                        let update = MessageUpdate {
                            sending_since: m.sending_since,
                            history: Some("not found in Twilio's list after an unanswered attempt: sending again".into()),
                            ..base_update(m, OutboxStatus::Sending)
                        };
                        self.store.update_message(&update, Some(&attempt))?;
                        Ok(())
                    }
                }
            }
            Err(e) => {
                let attempt = self.failed_attempt(m, started, &request, &e, latency);
                self.after_failure(m, m.attempts + 1, e, attempt, true)
            }
        }
    }

    /// Customer messages wait for the end of the quiet window.
    fn defer_in_quiet_hours(&self, m: &OutboxMessage) -> Step<()> {
        let Some(window) = self.settings.quiet_hours else {
            return Ok(());
        };
        // The business's own time zone, kept with the row at dispatch, else the configured one.
        let timezone = m.timezone.as_deref().and_then(|tz| Timezone::parse(tz).ok());
        let timezone = timezone.as_ref().unwrap_or(&self.settings.timezone);
        let Some(until) = quiet_until(window, timezone, Utc::now()) else {
            return Ok(());
        };
        let update = MessageUpdate {
            next_attempt_at: Some(until),
            history: Some(format!("deferred by quiet hours until {} ({timezone})", timezone.rfc3339(until))),
            ..base_update(m, OutboxStatus::Pending)
        };
        self.store.update_message(&update, None)?;
        Err(Stop::Done)
    }

    /// The E.164 number for the row's abstract recipient.
    fn resolve(&self, m: &OutboxMessage) -> Step<String> {
        let raw = match &m.row.to {
            Recipient::Customer => match m.customer.mobile.as_ref().or(m.customer.phone.as_ref()) {
                Some(n) => n.clone(),
                None => return self.finish(m, OutboxStatus::Failed, None, None, "no customer phone number in context".into()).and(Err(Stop::Done)),
            },
            Recipient::Team(name) => match self.settings.team.get(name) {
                Some(n) => n.clone(),
                None => {
                    let known = self.settings.team.keys().cloned().collect::<Vec<_>>().join(", ");
                    return self
                        .finish(m, OutboxStatus::Failed, None, None, format!("unknown team contact {name:?} (configured in [team]: {known})"))
                        .and(Err(Stop::Done));
                }
            },
            Recipient::Number(n) => n.clone(),
        };
        match to_e164(&raw, &self.settings.default_region) {
            Ok(n) => Ok(n),
            Err(e) => self.finish(m, OutboxStatus::Undeliverable, None, None, e.to_string()).and(Err(Stop::Done)),
        }
    }

    /// Lookups v2 (cached): an invalid number, or a landline for an SMS, is undeliverable.
    async fn check_lookup(&self, m: &OutboxMessage, number: &str) -> Step<()> {
        let cached = self.store.get_lookup(number)?.filter(|r| Utc::now() - r.fetched_at < LOOKUP_TTL);
        let record = match cached {
            Some(r) => r,
            None => {
                let request = request_builder::lookup(number);
                let started = Utc::now();
                let (answer, latency) = self.timed_send(&request).await?;
                match answer {
                    Ok(json) => {
                        let record = lookup_record(number, &json);
                        self.store.put_lookup(&record)?;
                        // Recorded with the message's next state below; attempts here are audit only.
                        let attempt = Attempt {
                            error_message: record.detail.clone(),
                            ..self.attempt(m, started, "lookup", &request, Some(200), latency)
                        };
                        let update = MessageUpdate { to_number: Some(number.to_owned()), history: None, ..base_update(m, m.row.status) };
                        self.store.update_message(&update, Some(&attempt))?;
                        record
                    }
                    Err(e) => {
                        let attempt = self.failed_attempt(m, started, &request, &e, latency);
                        let e = match e {
                            SinkError::Permanent { http_status, code, message } => SinkError::Permanent { http_status, code, message: format!("Lookups: {message}") },
                            other => other,
                        };
                        return self.after_failure(m, m.attempts + 1, e, attempt, false);
                    }
                }
            }
        };
        if !record.valid {
            let why = record.detail.map(|d| format!(" ({d})")).unwrap_or_default();
            return self.finish(m, OutboxStatus::Undeliverable, Some(number.to_owned()), None, format!("Lookups says {number} is not a valid number{why}"));
        }
        if m.row.channel == Channel::Sms
            && let Some(kind) = record.line_type.as_deref()
            && NO_SMS_LINE_TYPES.contains(&kind)
        {
            return self.finish(m, OutboxStatus::Undeliverable, Some(number.to_owned()), None, format!("{number} is a {kind} line, which cannot receive SMS"));
        }
        Ok(())
    }

    /// Rate limit, mark `sending`, send, record.
    async fn send(&self, m: &OutboxMessage, number: &str, request: &TwilioRequest) -> Step<()> {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let attempts = m.attempts + 1;
        let started = Utc::now();
        let marked = MessageUpdate {
            attempts,
            sending_since: Some(started),
            to_number: Some(number.to_owned()),
            history: None,
            ..base_update(m, OutboxStatus::Sending)
        };
        if !self.store.update_message(&marked, None)? {
            // Cancelled (or replayed) since it was claimed.
            return Err(Stop::Done);
        }
        let (answer, latency) = self.timed_send(request).await?;
        let m = &OutboxMessage { attempts, sending_since: Some(started), to_number: Some(number.to_owned()), row: crate::store::OutboxRow { status: OutboxStatus::Sending, ..m.row.clone() }, ..m.clone() };
        match answer {
            Ok(json) => {
                let sid = json.get("sid").and_then(|v| v.as_str()).map(str::to_owned);
                let status = json.get("status").and_then(|v| v.as_str()).unwrap_or("accepted").to_owned();
                let attempt = Attempt { sid: sid.clone(), ..self.attempt(m, started, request.kind.as_str(), request, Some(201), latency) };
                let update = MessageUpdate {
                    sid: sid.clone(),
                    history: Some(format!("sent: Twilio answered {status}, {}", sid.as_deref().unwrap_or("no SID"))),
                    ..base_update(m, OutboxStatus::Sent)
                };
                self.store.update_message(&update, Some(&attempt))?;
                tracing::debug!(outbox_id = m.row.id, sid = ?sid, "Message sent.");
                Ok(())
            }
            Err(e) => {
                let attempt = self.failed_attempt(m, started, request, &e, latency);
                if e.code() == Some(OPTED_OUT) {
                    self.store.record_opt_out(number, e.message(), Utc::now())?;
                }
                self.after_failure(m, attempts, e, attempt, false)
            }
        }
    }

    /// Schedules a retry or fails for good.
    fn after_failure(&self, m: &OutboxMessage, attempts: u32, error: SinkError, attempt: Attempt, reconciling: bool) -> Step<()> {
        let max_attempts = self.settings.max_retries + 1;
        match &error {
            SinkError::Retryable { retry_after, ambiguous, .. } if attempts < max_attempts => {
                let wait = retry_after.unwrap_or_else(|| self.settings.backoff.delay(attempts));
                let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                // An unanswered POST stays `sending`: the next claim reconciles before resending.
                let keep_sending = *ambiguous || reconciling;
                let update = MessageUpdate {
                    attempts,
                    next_attempt_at: Some(at),
                    sending_since: if keep_sending { m.sending_since } else { None },
                    history: Some(format!("retry {attempts}/{} scheduled at {}: {}", self.settings.max_retries, at.to_rfc3339(), error.message())),
                    ..base_update(m, if keep_sending { OutboxStatus::Sending } else { OutboxStatus::Pending })
                };
                self.store.update_message(&update, Some(&attempt))?;
                Err(Stop::Done)
            }
            SinkError::Retryable { .. } => {
                let message = format!("gave up after {attempts} attempts: {}", error.message());
                let update = MessageUpdate { attempts, error_code: error.code(), error_message: Some(message.clone()), history: Some(message), ..base_update(m, OutboxStatus::Failed) };
                self.store.update_message(&update, Some(&attempt))?;
                tracing::warn!(outbox_id = m.row.id, event_id = %m.row.event_id, error = %error, "Message dropped after its last attempt.");
                Err(Stop::Done)
            }
            SinkError::Permanent { code, message, .. } => {
                let update = MessageUpdate { attempts, error_code: *code, error_message: Some(message.clone()), history: Some(message.clone()), ..base_update(m, OutboxStatus::Failed) };
                self.store.update_message(&update, Some(&attempt))?;
                tracing::warn!(outbox_id = m.row.id, event_id = %m.row.event_id, error = %error, "Twilio refused the message.");
                Err(Stop::Done)
            }
        }
    }

    /// Final state without a request.
    fn finish(&self, m: &OutboxMessage, status: OutboxStatus, number: Option<String>, code: Option<i64>, reason: String) -> Step<()> {
        tracing::info!(outbox_id = m.row.id, event_id = %m.row.event_id, %status, reason = %reason, "Message not sent.");
        let update = MessageUpdate {
            to_number: number,
            error_code: code,
            error_message: Some(reason.clone()),
            history: Some(reason),
            ..base_update(m, status)
        };
        self.store.update_message(&update, None)?;
        Err(Stop::Done)
    }

    /// Sends `request` to Twilio: the parsed answer, and the request's latency in ms.
    async fn timed_send(&self, request: &TwilioRequest) -> Step<(Result<serde_json::Value, SinkError>, u64)> {
        let service = self.service()?;
        let clock = Instant::now();
        let answer = service.send(request).await.and_then(|r| r.into_result());
        Ok((answer, clock.elapsed().as_millis() as u64))
    }

    fn service(&self) -> Step<&TwilioService> {
        self.service.as_ref().ok_or_else(|| {
            Stop::Store(StoreError::Corrupt { table: "config", reason: "live mode without Twilio credentials".into() })
        })
    }

    fn attempt(&self, m: &OutboxMessage, started: DateTime<Utc>, kind: &str, request: &TwilioRequest, status: Option<u16>, latency_ms: u64) -> Attempt {
        Attempt {
            outbox_id: m.row.id,
            series: m.series,
            started_at: started,
            kind: kind.to_owned(),
            request: request.describe(),
            http_status: status,
            sid: None,
            error_code: None,
            error_message: None,
            latency_ms,
        }
    }

    fn failed_attempt(&self, m: &OutboxMessage, started: DateTime<Utc>, request: &TwilioRequest, e: &SinkError, latency_ms: u64) -> Attempt {
        let kind = request.kind.as_str();
        Attempt {
            http_status: e.http_status(),
            error_code: e.code(),
            error_message: Some(e.message().to_owned()),
            ..self.attempt(m, started, kind, request, None, latency_ms)
        }
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

/// The cache record of a Lookups v2 answer.
fn lookup_record(number: &str, json: &serde_json::Value) -> LookupRecord {
    let valid = json.get("valid").and_then(|v| v.as_bool()).unwrap_or(true);
    let line_type = json
        .pointer("/line_type_intelligence/type")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let errors = json
        .get("validation_errors")
        .and_then(|v| v.as_array())
        .map(|list| list.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join(", "))
        .filter(|s| !s.is_empty());
    LookupRecord { number: number.to_owned(), valid, line_type, detail: errors, fetched_at: Utc::now() }
}

/// The SID of a message (or call) in a Twilio list answer that is the one we may have sent.
fn find_match(json: &serde_json::Value, channel: Channel, number: &str, body: &str, since: DateTime<Utc>) -> Option<String> {
    let key = match channel {
        Channel::Sms => "messages",
        Channel::Call => "calls",
    };
    json.get(key)?.as_array()?.iter().find_map(|item| {
        let to_matches = item.get("to").and_then(|v| v.as_str()) == Some(number);
        let body_matches = channel == Channel::Call || item.get("body").and_then(|v| v.as_str()) == Some(body);
        let recent = item
            .get("date_created")
            .and_then(|v| v.as_str())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .is_none_or(|d| d.with_timezone(&Utc) >= since - RECONCILE_SLACK);
        (to_matches && body_matches && recent).then(|| item.get("sid")?.as_str().map(str::to_owned)).flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quota_never_lets_a_second_hold_more_than_the_rate() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(super::quota(NonZeroU32::new(5).unwrap()), clock.clone());
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

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_listed_message_matches_only_with_the_same_number_body_and_a_recent_date() {
        let since = at("2026-03-31T12:00:00Z");
        let list = serde_json::json!({"messages": [
            {"sid": "SMold", "to": "+14155552671", "body": "hi", "date_created": "Tue, 31 Mar 2026 11:00:00 +0000"},
            {"sid": "SMother", "to": "+14155552671", "body": "other", "date_created": "Tue, 31 Mar 2026 12:00:01 +0000"},
            {"sid": "SMours", "to": "+14155552671", "body": "hi", "date_created": "Tue, 31 Mar 2026 12:00:01 +0000"},
        ]});
        assert_eq!(find_match(&list, Channel::Sms, "+14155552671", "hi", since), Some("SMours".into()));
        assert_eq!(find_match(&list, Channel::Sms, "+14155550000", "hi", since), None);
    }

    #[test]
    fn lookups_answers_keep_validity_line_type_and_errors() {
        let r = lookup_record("+1", &serde_json::json!({"valid": false, "validation_errors": ["TOO_LONG"], "line_type_intelligence": null}));
        assert_eq!((r.valid, r.line_type, r.detail.as_deref()), (false, None, Some("TOO_LONG")));
        let r = lookup_record("+1", &serde_json::json!({"valid": true, "line_type_intelligence": {"type": "landline"}}));
        assert_eq!((r.valid, r.line_type.as_deref()), (true, Some("landline")));
    }
}
