//! The Twilio sink: SMS through Messages, voice through Calls (the text spoken from escaped
//! TwiML). Resolves `customer`, `team:NAME` and literal recipients to E.164, refuses opted-out
//! numbers, checks Lookups v2 (cached) for invalid numbers and landlines, sends with HTTP Basic
//! auth over [`TwilioService`], and reconciles an ambiguous send against Twilio's message (or
//! call) list. Scheduling, rate limiting, retries and recording are the sink driver's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::message_tag::MessageTag;
use super::phone::{PhoneError, to_e164};
use super::request_builder::{self, Identity, TwilioRequest};
use super::retry::OPTED_OUT;
use super::service::TwilioService;
use super::state::{LookupRecord, TwilioStore};
use super::twiml;
use crate::config::{Config, TwilioMode};
use crate::model::{Channel, Recipient};
use crate::sinks::{Preview, Reconciled, Resolution, Sent, Sink, SinkError};
use crate::store::{Attempt, OutboxMessage, StoreError};

/// Twilio's own limit on an SMS body, in characters.
pub const MAX_SMS_CHARS: usize = 1600;
/// Twilio's limit on the `Twiml` parameter is 4000 characters; the escaped text is bounded in
/// bytes, which is stricter.
pub const MAX_VOICE_BYTES: usize = 4000;
/// Lookups answers are reused this long: line types change rarely, and each lookup costs.
const LOOKUP_TTL: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// A listed message counts as ours if created no earlier than this before our attempt
/// (clock skew between the host and Twilio).
const RECONCILE_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
/// Pages of Twilio's list (50 items each) one reconciliation reads at most.
const LIST_PAGES: usize = 20;
/// Line types that cannot receive SMS.
const NO_SMS_LINE_TYPES: &[&str] = &["landline", "fixedVoip", "tollFree", "premium", "sharedCost", "uan", "voicemail", "pager"];

/// Everything the Twilio sink reads from the configuration.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// Dry-run records what would be sent; live sends.
    pub mode: TwilioMode,
    /// Account, sender and status callback.
    pub identity: Identity,
    /// Region for national-format numbers.
    pub default_region: String,
    /// `[team]` contacts.
    pub team: BTreeMap<String, String>,
}

impl TwilioSettings {
    /// The settings of `[twilio]`, `[team]` and `[server] public_url`.
    pub fn from_config(config: &Config) -> Self {
        let t = &config.twilio;
        TwilioSettings {
            mode: t.mode,
            identity: Identity {
                // Dry-run may run without an account; the recorded path says so.
                account_sid: t.account_sid.clone().unwrap_or_else(|| "(not configured)".into()),
                from: t.from.clone(),
                messaging_service_sid: t.messaging_service_sid.clone(),
                status_callback: format!("{}/webhooks/twilio/status", config.server.resolved_public_url().trim_end_matches('/')),
            },
            default_region: t.default_region.clone(),
            team: config.team.clone(),
        }
    }
}

/// Lookups answers kept in memory (the store keeps them across restarts).
const LOOKUP_CACHE_ENTRIES: u64 = 100_000;
/// Recipients' numbers as written, with their E.164 form, kept in memory: parsing one with the
/// libphonenumber port costs more than the rest of a message's preparation.
const NUMBER_CACHE_ENTRIES: u64 = 100_000;

/// The Twilio sink.
pub struct TwilioSink {
    store: Arc<dyn TwilioStore>,
    service: Option<TwilioService>,
    settings: TwilioSettings,
    /// Lookups answers by number; concurrent messages to one number share one fetch.
    lookups: moka::future::Cache<String, LookupRecord>,
    /// [`to_e164`] of each number as written (in the configured default region).
    numbers: moka::sync::Cache<String, Result<String, PhoneError>>,
}

impl TwilioSink {
    /// A sink keeping its state in `store`. `service` is required in live mode and unused in
    /// dry-run.
    pub fn new(store: Arc<dyn TwilioStore>, service: Option<TwilioService>, settings: TwilioSettings) -> Self {
        let lookups = moka::future::Cache::builder().max_capacity(LOOKUP_CACHE_ENTRIES).time_to_live(LOOKUP_TTL.to_std().expect("positive")).build();
        let numbers = moka::sync::Cache::new(NUMBER_CACHE_ENTRIES);
        TwilioSink { store, service, settings, lookups, numbers }
    }

    /// `raw` in E.164, read in the default region; parsed once per distinct text.
    fn e164(&self, raw: &str) -> Result<String, PhoneError> {
        self.numbers.get_with_by_ref(raw, || to_e164(raw, &self.settings.default_region))
    }

    /// The E.164 number `m`'s recipient resolves to, before the opt-out check, or why it has none.
    fn address(&self, m: &OutboxMessage) -> Resolution {
        let raw = match &m.row.to {
            Recipient::Customer => match m.customer.mobile.as_ref().or(m.customer.phone.as_ref()) {
                Some(n) => n,
                None => return Resolution::Failed { reason: "no customer phone number in context".into() },
            },
            Recipient::Team(name) => match self.settings.team.get(name) {
                Some(n) => n,
                None => {
                    let known = self.settings.team.keys().cloned().collect::<Vec<_>>().join(", ");
                    return Resolution::Failed { reason: format!("unknown team contact {name:?} (configured in [team]: {known})") };
                }
            },
            Recipient::Number(n) => n,
        };
        match self.e164(raw) {
            Ok(n) => Resolution::Address(n),
            Err(e) => Resolution::Undeliverable { to: None, code: None, reason: e.to_string() },
        }
    }

    /// Sends `request`: the parsed answer, and how long it took in ms.
    async fn timed_send(&self, request: &TwilioRequest) -> (Result<serde_json::Value, SinkError>, u64) {
        let Some(service) = &self.service else {
            let refused = SinkError::Permanent { http_status: None, code: None, message: "live mode without Twilio credentials".into() };
            return (Err(refused), 0);
        };
        let clock = Instant::now();
        let answer = service.send(request).await.and_then(|r| r.into_result());
        (answer, clock.elapsed().as_millis() as u64)
    }

    /// The audit record of `request`, as answered.
    fn attempt(m: &OutboxMessage, started: DateTime<Utc>, request: &TwilioRequest, answer: &Result<serde_json::Value, SinkError>, latency_ms: u64) -> Attempt {
        let (http_status, error_code, error_message) = match answer {
            Ok(_) => (Some(if request.post { 201 } else { 200 }), None, None),
            Err(e) => (e.http_status(), e.code(), Some(e.message().to_owned())),
        };
        Attempt {
            outbox_id: m.row.id,
            series: m.series,
            started_at: started,
            kind: request.kind.as_str().to_owned(),
            request: request.describe(),
            http_status,
            sid: None,
            error_code,
            error_message,
            latency_ms,
        }
    }

    /// Sends `request` and logs its attempt; the answer.
    async fn request(&self, m: &OutboxMessage, request: &TwilioRequest, log: &mut Vec<Attempt>) -> Result<serde_json::Value, SinkError> {
        let started = Utc::now();
        let (answer, latency) = self.timed_send(request).await;
        let mut attempt = Self::attempt(m, started, request, &answer, latency);
        if let Ok(json) = &answer {
            attempt.sid = json.get("sid").and_then(|v| v.as_str()).map(str::to_owned);
        }
        log.push(attempt);
        answer
    }

    /// The cached Lookups answer for `number` (memory, then the store), fetched when missing or
    /// stale; one fetch however many messages ask at once.
    async fn lookup(&self, m: &OutboxMessage, number: &str, log: &mut Vec<Attempt>) -> Result<LookupRecord, SinkError> {
        self.lookups.try_get_with_by_ref(number, self.fetch_lookup(m, number, log)).await.map_err(|e| (*e).clone())
    }

    async fn fetch_lookup(&self, m: &OutboxMessage, number: &str, log: &mut Vec<Attempt>) -> Result<LookupRecord, SinkError> {
        let store_error = |e: StoreError| SinkError::Retryable { reason: e.to_string(), http_status: None, code: None, retry_after: None, ambiguous: false };
        let cached = self.store.get_lookup(number).await.map_err(store_error)?.filter(|r| Utc::now() - r.fetched_at < LOOKUP_TTL);
        if let Some(record) = cached {
            return Ok(record);
        }
        let request = request_builder::lookup(number);
        match self.request(m, &request, log).await {
            Ok(json) => {
                let record = lookup_record(number, &json);
                if let Some(attempt) = log.last_mut() {
                    attempt.sid = None;
                    attempt.error_message = record.detail.clone();
                }
                self.store.put_lookup(&record).await.map_err(store_error)?;
                Ok(record)
            }
            Err(SinkError::Permanent { http_status, code, message }) => Err(SinkError::Permanent { http_status, code, message: format!("Lookups: {message}") }),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Sink for TwilioSink {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn channels(&self) -> &'static [Channel] {
        &Channel::ALL
    }

    fn is_live(&self) -> bool {
        self.settings.mode == TwilioMode::Live
    }

    fn check_body(&self, channel: Channel, body: &str) -> Result<(), String> {
        check_body(channel, body)
    }

    async fn resolve_all(&self, batch: &[OutboxMessage]) -> Result<Vec<Resolution>, StoreError> {
        let mut resolved: Vec<Resolution> = batch.iter().map(|m| self.address(m)).collect();
        let numbers: Vec<&str> = resolved.iter().filter_map(|r| if let Resolution::Address(n) = r { Some(n.as_str()) } else { None }).collect();
        if numbers.is_empty() {
            return Ok(resolved);
        }
        let opted_out = self.store.opted_out(&numbers).await?;
        for r in &mut resolved {
            if let Resolution::Address(number) = r
                && opted_out.contains(number.as_str())
            {
                let reason = format!("{number} opted out of messages (replied STOP)");
                *r = Resolution::Undeliverable { to: Some(std::mem::take(number)), code: Some(OPTED_OUT), reason };
            }
        }
        Ok(resolved)
    }

    fn preview(&self, m: &OutboxMessage, to: &str) -> Result<Preview, SinkError> {
        let request = request_builder::send(m.row.channel, to, &m.row.body, &self.settings.identity)
            .map_err(|e| SinkError::Permanent { http_status: None, code: None, message: e.to_string() })?;
        Ok(Preview { kind: request.kind.as_str(), request: request.describe() })
    }

    async fn verify(&self, m: &OutboxMessage, to: &str, log: &mut Vec<Attempt>) -> Result<Option<String>, SinkError> {
        let record = self.lookup(m, to, log).await?;
        if !record.valid {
            let why = record.detail.map(|d| format!(" ({d})")).unwrap_or_default();
            return Ok(Some(format!("Lookups says {to} is not a valid number{why}")));
        }
        if m.row.channel == Channel::Sms
            && let Some(kind) = record.line_type.as_deref()
            && NO_SMS_LINE_TYPES.contains(&kind)
        {
            return Ok(Some(format!("{to} is a {kind} line, which cannot receive SMS")));
        }
        Ok(None)
    }

    async fn reconcile(&self, m: &OutboxMessage, to: &str, since: DateTime<Utc>, log: &mut Vec<Attempt>) -> Result<Reconciled, SinkError> {
        let store_error = |e: StoreError| SinkError::Retryable { reason: e.to_string(), http_status: None, code: None, retry_after: None, ambiguous: true };
        let mut request = request_builder::list_recent(m.row.channel, to, since, &self.settings.identity);
        let (mut found, mut unsettled) = (None, false);
        // Newest first, page after page until the list leaves the window of this attempt.
        for _ in 0..LIST_PAGES {
            let json = self.request(m, &request, log).await?;
            let page = read_page(&json, m.row.channel, to, &m.row.body, since);
            for listed in page.matches {
                // Only a SID no other message holds: calls to one number carry no body to tell apart.
                let holder = self.store.sid_holder(&listed.sid).await.map_err(store_error)?;
                if holder.is_some_and(|id| id != m.row.id) {
                    continue;
                }
                if m.row.channel == Channel::Sms {
                    found = Some(listed.sid);
                    break;
                }
                // A call still going has callbacks to come, each naming its message: wait for
                // them rather than take what may be another message's call.
                if !listed.ended {
                    unsettled = true;
                } else if found.is_none() {
                    found = Some(listed.sid);
                }
            }
            let settled = unsettled || (found.is_some() && m.row.channel == Channel::Sms);
            match page.next {
                Some(next) if !settled && !page.left_window => request = request_builder::next_page(&next),
                _ => break,
            }
        }
        if let Some(attempt) = log.last_mut() {
            attempt.sid = found.clone().filter(|_| !unsettled);
        }
        Ok(match (found, unsettled) {
            (_, true) => Reconciled::Unsettled,
            (Some(sid), false) => Reconciled::Found(sid),
            (None, false) => Reconciled::Absent,
        })
    }

    async fn send(&self, m: &OutboxMessage, to: &str, log: &mut Vec<Attempt>) -> Result<Sent, SinkError> {
        let mut request = request_builder::send(m.row.channel, to, &m.row.body, &self.settings.identity)
            .map_err(|e| SinkError::Permanent { http_status: None, code: None, message: e.to_string() })?;
        let tag = MessageTag { outbox_id: m.row.id, series: m.series, attempt: m.attempts };
        for (name, value) in &mut request.form {
            if name == "StatusCallback" {
                *value = tag.callback_url(value);
            }
        }
        match self.request(m, &request, log).await {
            Ok(json) => {
                let sid = json.get("sid").and_then(|v| v.as_str()).map(str::to_owned);
                let status = json.get("status").and_then(|v| v.as_str()).unwrap_or("accepted");
                Ok(Sent { detail: format!("Twilio answered {status}, {}", sid.as_deref().unwrap_or("no SID")), id: sid })
            }
            Err(e) => {
                if e.code() == Some(OPTED_OUT)
                    && let Err(store) = self.store.record_opt_out(to, e.message(), Utc::now()).await
                {
                    tracing::warn!(error = %store, "Could not record an opt-out; the next message to the number finds it again.");
                }
                Err(e)
            }
        }
    }
}

/// Twilio's bounds on what a plugin may send: SMS bodies in characters, voice text in bytes
/// once escaped into TwiML.
pub fn check_body(channel: Channel, body: &str) -> Result<(), String> {
    match channel {
        Channel::Sms => {
            let chars = body.chars().count();
            if chars > MAX_SMS_CHARS {
                return Err(format!("SMS body is {chars} characters; at most {MAX_SMS_CHARS} are allowed"));
            }
        }
        Channel::Call => {
            let escaped = twiml::escape(body).len();
            if escaped > MAX_VOICE_BYTES {
                return Err(format!("voice text is {escaped} bytes once escaped; at most {MAX_VOICE_BYTES} are allowed"));
            }
        }
    }
    Ok(())
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

/// A listed message or call that may be the one an unanswered attempt sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    /// Its SID.
    sid: String,
    /// Whether it reached a final status (always for an SMS, whose body identifies it): a call
    /// still queued, ringing or in progress has status callbacks to come.
    ended: bool,
}

/// What one page of a Twilio list answer holds for a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListPage {
    /// The items that may be the one we sent, in the list's order (newest first).
    matches: Vec<Listed>,
    /// Whether the page reaches items created before the attempt's window: later pages are older.
    left_window: bool,
    /// Twilio's `next_page_uri`, when there is a next page.
    next: Option<String>,
}

/// Whether a call status (Twilio's `call_enum_status`) is final: no callback is to come after it.
fn call_ended(status: &str) -> bool {
    matches!(status, "completed" | "busy" | "failed" | "no-answer" | "canceled")
}

/// The messages (or calls) in a page of a Twilio list answer that may be the one we sent.
fn read_page(json: &serde_json::Value, channel: Channel, number: &str, body: &str, since: DateTime<Utc>) -> ListPage {
    let key = match channel {
        Channel::Sms => "messages",
        Channel::Call => "calls",
    };
    let next = json.get("next_page_uri").and_then(|v| v.as_str()).filter(|uri| uri.starts_with('/')).map(str::to_owned);
    let Some(items) = json.get(key).and_then(|v| v.as_array()) else { return ListPage { matches: Vec::new(), left_window: true, next: None } };
    let mut left_window = false;
    let matches = items
        .iter()
        .filter_map(|item| {
            let to_matches = item.get("to").and_then(|v| v.as_str()) == Some(number);
            let body_matches = channel == Channel::Call || item.get("body").and_then(|v| v.as_str()) == Some(body);
            let recent = item
                .get("date_created")
                .and_then(|v| v.as_str())
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .is_none_or(|d| d.with_timezone(&Utc) >= since - RECONCILE_SLACK);
            left_window |= !recent;
            let ended = channel == Channel::Sms || item.get("status").and_then(|v| v.as_str()).is_some_and(call_ended);
            (to_matches && body_matches && recent).then(|| Some(Listed { sid: item.get("sid")?.as_str()?.to_owned(), ended })).flatten()
        })
        .collect();
    ListPage { matches, left_window, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn sms_bodies_are_counted_in_characters_and_accepted_at_the_bound() {
        assert_eq!(check_body(Channel::Sms, &"é".repeat(MAX_SMS_CHARS)), Ok(()));
        assert!(check_body(Channel::Sms, &"é".repeat(MAX_SMS_CHARS + 1)).unwrap_err().contains("1601 characters"));
    }

    #[test]
    fn voice_text_is_bounded_after_escaping() {
        assert_eq!(check_body(Channel::Call, &"a".repeat(MAX_VOICE_BYTES)), Ok(()));
        // 1000 '<' are 1000 bytes raw but 4000 escaped; one more tips it over.
        assert_eq!(check_body(Channel::Call, &"<".repeat(1000)), Ok(()));
        assert!(check_body(Channel::Call, &"<".repeat(1001)).unwrap_err().contains("once escaped"));
    }

    #[test]
    fn a_listed_message_matches_only_with_the_same_number_body_and_a_recent_date() {
        let since = at("2026-03-31T12:00:00Z");
        let list = serde_json::json!({"messages": [
            {"sid": "SMold", "to": "+14155552671", "body": "hi", "date_created": "Tue, 31 Mar 2026 11:00:00 +0000"},
            {"sid": "SMother", "to": "+14155552671", "body": "other", "date_created": "Tue, 31 Mar 2026 12:00:01 +0000"},
            {"sid": "SMours", "to": "+14155552671", "body": "hi", "date_created": "Tue, 31 Mar 2026 12:00:01 +0000"},
        ]});
        let page = read_page(&list, Channel::Sms, "+14155552671", "hi", since);
        assert_eq!(page.matches, [Listed { sid: "SMours".into(), ended: true }]);
        assert!(page.left_window, "SMold is older than the window");
        assert_eq!(page.next, None);
        assert!(read_page(&list, Channel::Sms, "+14155550000", "hi", since).matches.is_empty());
    }

    #[test]
    fn a_listed_call_has_ended_only_in_a_final_status_and_the_next_page_is_kept() {
        let since = at("2026-03-31T12:00:00Z");
        let created = "Tue, 31 Mar 2026 12:00:01 +0000";
        let list = serde_json::json!({"calls": [
            {"sid": "CAqueued", "to": "+14155552671", "status": "queued", "date_created": created},
            {"sid": "CAringing", "to": "+14155552671", "status": "ringing", "date_created": created},
            {"sid": "CAtalking", "to": "+14155552671", "status": "in-progress", "date_created": created},
            {"sid": "CAdone", "to": "+14155552671", "status": "completed", "date_created": created},
            {"sid": "CAbusy", "to": "+14155552671", "status": "busy", "date_created": created},
        ], "next_page_uri": "/2010-04-01/Accounts/AC1/Calls.json?To=%2B14155552671&PageSize=50&Page=1&PageToken=PA1"});
        let page = read_page(&list, Channel::Call, "+14155552671", "ignored", since);
        let ended: Vec<(&str, bool)> = page.matches.iter().map(|l| (l.sid.as_str(), l.ended)).collect();
        assert_eq!(ended, [("CAqueued", false), ("CAringing", false), ("CAtalking", false), ("CAdone", true), ("CAbusy", true)]);
        assert!(!page.left_window);
        assert_eq!(page.next.as_deref(), Some("/2010-04-01/Accounts/AC1/Calls.json?To=%2B14155552671&PageSize=50&Page=1&PageToken=PA1"));
    }

    #[test]
    fn lookups_answers_keep_validity_line_type_and_errors() {
        let r = lookup_record("+1", &serde_json::json!({"valid": false, "validation_errors": ["TOO_LONG"], "line_type_intelligence": null}));
        assert_eq!((r.valid, r.line_type, r.detail.as_deref()), (false, None, Some("TOO_LONG")));
        let r = lookup_record("+1", &serde_json::json!({"valid": true, "line_type_intelligence": {"type": "landline"}}));
        assert_eq!((r.valid, r.line_type.as_deref()), (true, Some("landline")));
    }
}
