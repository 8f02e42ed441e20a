//! The Twilio sender against a local Twilio stand-in (a real HTTP server on 127.0.0.1): error
//! paths, Lookups, recipients, quiet hours, dry-run, ambiguous-send recovery, the rate limit and
//! replay. Assertions are on the requests Twilio received and the stored audit trail, never on
//! how long anything took.

mod twilio_support;

use std::time::Duration;

use chrono::{NaiveTime, Timelike as _, Utc};
use ml_connector::config::{QuietHours, TwilioMode};
use ml_connector::model::Channel;
use ml_connector::sinks::driver::SinkDriver;
use ml_connector::sinks::twilio::state::TwilioStore as _;
use ml_connector::store::{CustomerNumbers, DispatchResult, InboxStore as _, MessageUpdate, OutboxStatus, OutboxStore as _};
use serde_json::json;
use twilio_support::*;

const TEAM: &str = "+14155552671";
const CUSTOMER: &str = "+14155550123";

fn no_customer() -> CustomerNumbers {
    CustomerNumbers::default()
}

fn live_sender(store: &std::sync::Arc<ml_connector::store::sqlite::SqliteStore>, base: &str) -> SinkDriver {
    sender(store, Some(service(base, Duration::from_secs(10))), settings(TwilioMode::Live))
}

#[tokio::test]
async fn an_sms_to_a_team_contact_is_looked_up_normalised_and_sent_with_basic_auth() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "Invoice 7 is overdue")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;

    assert_eq!(twilio.shorts(), vec!["GET Lookup", "POST Messages.json"]);
    let post = &twilio.posts()[0];
    assert_eq!(post.path, format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json"));
    assert_eq!(post.param("To"), Some(TEAM));
    assert_eq!(post.param("From"), Some(FROM));
    assert_eq!(post.param("Body"), Some("Invoice 7 is overdue"));
    // The query names the message and attempt, so the first callback links the SID to it.
    let callback = format!("https://connector.example.com/webhooks/twilio/status?outbox={}&series=1&attempt=1", ids[0]);
    assert_eq!(post.param("StatusCallback"), Some(callback.as_str()));
    // Basic base64("AC…:token-123").
    assert!(post.auth.as_deref().is_some_and(|a| a.starts_with("Basic ")));
    assert_eq!(twilio.requests()[0].param("Fields"), Some("line_type_intelligence"));

    let m = &done[0];
    assert_eq!((m.row.status, m.to_number.as_deref()), (OutboxStatus::Sent, Some(TEAM)));
    assert!(m.sid.as_deref().is_some_and(|s| s.starts_with("SM")));
    let kinds: Vec<_> = store.list_attempts(m.row.id).await.unwrap().into_iter().map(|a| (a.kind, a.http_status)).collect();
    assert_eq!(kinds, vec![("lookup".into(), Some(200)), ("message".into(), Some(201))]);
}

#[tokio::test]
async fn a_voice_call_speaks_the_text_as_escaped_twiml() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Call, "team:accounting", "Pay <Dial>now</Dial> & thanks")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;
    assert_eq!(done[0].row.status, OutboxStatus::Sent);
    let post = &twilio.posts()[0];
    assert!(post.path.ends_with("/Calls.json"));
    assert_eq!(post.param("Twiml"), Some("<Response><Say>Pay &lt;Dial&gt;now&lt;/Dial&gt; &amp; thanks</Say></Response>"));
    assert_eq!(post.param("From"), Some(FROM));
}

#[tokio::test]
async fn a_rate_limited_send_is_retried_until_twilio_accepts_it() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let mut first = Reply::error(429, 20429, "Too Many Requests");
    first.retry_after = Some("0");
    twilio.script([first, Reply::error(429, 20429, "Too Many Requests"), Reply::created("SM00000000000000000000000000000abc")]);
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;

    assert_eq!(twilio.posts().len(), 3);
    let m = &done[0];
    assert_eq!((m.row.status, m.attempts), (OutboxStatus::Sent, 3));
    assert_eq!(m.sid.as_deref(), Some("SM00000000000000000000000000000abc"));
    let sends: Vec<_> = store.list_attempts(m.row.id).await.unwrap().into_iter().filter(|a| a.kind == "message").map(|a| (a.http_status, a.error_code)).collect();
    assert_eq!(sends, vec![(Some(429), Some(20429)), (Some(429), Some(20429)), (Some(201), None)]);
}

#[tokio::test]
async fn server_errors_fail_the_message_after_three_retries() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let boom = Reply { status: 500, body: json!({"message": "internal"}), retry_after: None, delay: Duration::ZERO };
    twilio.script([boom.clone(), boom.clone(), boom.clone(), boom, Reply::created("SMnever")]);
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;

    assert_eq!(twilio.posts().len(), 4, "one attempt and three retries, no more");
    let m = &done[0];
    assert_eq!((m.row.status, m.attempts, m.sid.as_deref()), (OutboxStatus::Failed, 4, None));
    assert!(m.error_message.as_deref().unwrap().starts_with("gave up after 4 attempts"), "{m:?}");
}

#[tokio::test]
async fn an_invalid_to_number_fails_at_once_with_twilios_code_and_message() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    twilio.script([Reply::error(400, 21211, "The 'To' number +14155552671 is not a valid phone number.")]);
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;

    assert_eq!(twilio.posts().len(), 1);
    let m = &done[0];
    assert_eq!((m.row.status, m.error_code), (OutboxStatus::Failed, Some(21211)));
    assert!(m.error_message.as_deref().unwrap().contains("is not a valid phone number"), "{m:?}");
}

#[tokio::test]
async fn an_opted_out_recipient_is_remembered_and_not_messaged_again() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    twilio.script([Reply::error(400, 21610, "Attempt to send to unsubscribed recipient")]);
    let driver = live_sender(&store, &base);
    let first = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, TEAM, "first")]).await;
    let done = settle(&driver, &store, &first).await;
    assert_eq!((done[0].row.status, done[0].error_code), (OutboxStatus::Failed, Some(21610)));
    assert!(store.opted_out(&[TEAM]).await.unwrap().contains(TEAM));

    let later = dispatch(&store, "e2", no_customer(), &[(Channel::Sms, TEAM, "second")]).await;
    let done = settle(&driver, &store, &later).await;
    assert_eq!(done[0].row.status, OutboxStatus::Undeliverable);
    assert!(done[0].error_message.as_deref().unwrap().contains("opted out"));
    assert_eq!(twilio.posts().len(), 1, "the later message never reached Twilio");
}

#[tokio::test]
async fn a_timed_out_send_is_checked_against_twilios_list_then_retried() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let mut slow = Reply::created("SMlate0000000000000000000000000000");
    slow.delay = Duration::from_secs(3);
    twilio.script([slow, Reply::created("SM00000000000000000000000000000002")]);
    let driver = sender(&store, Some(service(&base, Duration::from_millis(300))), settings(TwilioMode::Live));
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let done = settle(&driver, &store, &ids).await;

    // The stand-in's list is empty: Twilio never created the first one, so it is sent again.
    assert_eq!(twilio.shorts(), vec!["GET Lookup", "POST Messages.json", "GET Messages.json", "POST Messages.json"]);
    let list = &twilio.requests()[2];
    assert_eq!(list.param("To"), Some(TEAM));
    let m = &done[0];
    assert_eq!((m.row.status, m.sid.as_deref(), m.attempts), (OutboxStatus::Sent, Some("SM00000000000000000000000000000002"), 2));
    let first_send = store.list_attempts(m.row.id).await.unwrap().into_iter().find(|a| a.kind == "message").unwrap();
    assert_eq!(first_send.http_status, None);
    assert!(first_send.error_message.unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_send_left_ambiguous_by_a_crash_adopts_twilios_sid_instead_of_resending() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "Invoice 7 is overdue"), (Channel::Sms, "team:accounting", "Another")]).await;
    // The host died after POSTing both: each row is `sending`, and no SID was recorded.
    let began = Utc::now() - chrono::TimeDelta::seconds(5);
    for id in &ids {
        let m = store.get_message(*id).await.unwrap().unwrap();
        let crashed = MessageUpdate {
            id: *id,
            status: OutboxStatus::Sending,
            attempts: 1,
            next_attempt_at: None,
            sending_since: Some(began),
            to_number: Some(TEAM.into()),
            sid: None,
            error_code: None,
            error_message: None,
            history: None,
        };
        assert!(store.update_message(&test_lease(), &crashed, &[]).await.unwrap(), "{m:?}");
    }
    // Twilio has the first (same number, same body, after the attempt began), not the second.
    let created = (began + chrono::TimeDelta::seconds(1)).to_rfc2822();
    *twilio.list.lock().unwrap() = json!({"messages": [
        {"sid": "SM000000000000000000000000000000aa", "to": TEAM, "body": "Invoice 7 is overdue", "date_created": created},
    ]});
    let done = settle(&live_sender(&store, &base), &store, &ids).await;

    assert_eq!((done[0].row.status, done[0].sid.as_deref()), (OutboxStatus::Sent, Some("SM000000000000000000000000000000aa")));
    assert_eq!(done[1].row.status, OutboxStatus::Sent);
    let posts = twilio.posts();
    assert_eq!(posts.len(), 1, "only the message Twilio did not have is sent again");
    assert_eq!(posts[0].param("Body"), Some("Another"));
    let history = store.list_history(ids[0]).await.unwrap();
    assert!(history.last().unwrap().detail.as_deref().unwrap().contains("adopted"), "{history:?}");
}

#[tokio::test]
async fn a_number_lookups_calls_invalid_is_undeliverable_and_not_sent() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    twilio.lookup(TEAM, json!({"phone_number": TEAM, "valid": false, "validation_errors": ["TOO_LONG"], "line_type_intelligence": null}));
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;
    assert_eq!(done[0].row.status, OutboxStatus::Undeliverable);
    assert!(done[0].error_message.as_deref().unwrap().contains("TOO_LONG"));
    assert!(twilio.posts().is_empty());
}

#[tokio::test]
async fn a_landline_gets_no_sms_but_can_be_called_and_lookups_are_cached() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    twilio.lookup(TEAM, json!({"phone_number": TEAM, "valid": true, "line_type_intelligence": {"type": "landline"}}));
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "text"), (Channel::Call, "team:accounting", "voice")]).await;
    let done = settle(&live_sender(&store, &base), &store, &ids).await;
    assert_eq!(done[0].row.status, OutboxStatus::Undeliverable);
    assert!(done[0].error_message.as_deref().unwrap().contains("landline"));
    assert_eq!(done[1].row.status, OutboxStatus::Sent);
    assert_eq!(twilio.shorts(), vec!["GET Lookup", "POST Calls.json"], "one lookup for both, no SMS");
}

#[tokio::test]
async fn recipients_resolve_to_the_customer_mobile_or_fail_with_a_clear_reason() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let with_mobile = CustomerNumbers { mobile: Some("(415) 555-0123".into()), phone: Some("+14155559999".into()) };
    let a = dispatch(&store, "e1", with_mobile, &[(Channel::Sms, "customer", "to the mobile")]).await;
    let b = dispatch(&store, "e2", no_customer(), &[(Channel::Sms, "customer", "nobody"), (Channel::Sms, "team:nobody", "who?"), (Channel::Sms, "not a number", "x")]).await;
    let driver = live_sender(&store, &base);
    let done = settle(&driver, &store, &[a, b].concat()).await;

    assert_eq!((done[0].row.status, done[0].to_number.as_deref()), (OutboxStatus::Sent, Some(CUSTOMER)));
    assert_eq!((done[1].row.status, done[1].error_message.as_deref()), (OutboxStatus::Failed, Some("no customer phone number in context")));
    assert_eq!(done[2].row.status, OutboxStatus::Failed);
    assert!(done[2].error_message.as_deref().unwrap().contains("unknown team contact \"nobody\""), "{:?}", done[2]);
    assert_eq!(done[3].row.status, OutboxStatus::Undeliverable);
    assert_eq!(twilio.posts().len(), 1);
}

#[tokio::test]
async fn customer_messages_wait_out_quiet_hours_and_team_messages_do_not() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let hour = Utc::now().hour();
    let mut settings = settings(TwilioMode::Live);
    // A two-hour window around now, in UTC.
    settings.driver.quiet_hours = Some(QuietHours {
        start: NaiveTime::from_hms_opt((hour + 23) % 24, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt((hour + 1) % 24, 0, 0).unwrap(),
    });
    let driver = sender(&store, Some(service(&base, Duration::from_secs(10))), settings);
    let with_mobile = CustomerNumbers { mobile: Some(CUSTOMER.into()), phone: None };
    let ids = dispatch(&store, "e1", with_mobile, &[(Channel::Sms, "customer", "later"), (Channel::Sms, "team:accounting", "now")]).await;
    driver.drain(None).await.unwrap();

    let customer = store.get_message(ids[0]).await.unwrap().unwrap();
    assert_eq!(customer.row.status, OutboxStatus::Pending);
    let until = customer.next_attempt_at.unwrap();
    assert!(until > Utc::now() && until.minute() == 0, "{until}");
    assert_eq!(store.get_message(ids[1]).await.unwrap().unwrap().row.status, OutboxStatus::Sent);
    assert_eq!(twilio.posts().len(), 1);
}

#[tokio::test]
async fn dry_run_records_exactly_what_would_be_sent_without_calling_twilio() {
    let (twilio, _base) = Twilio::start().await;
    let (_dir, store) = store();
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Call, "team:accounting", "Say <this>")]).await;
    let driver = sender(&store, None, settings(TwilioMode::DryRun));
    let done = settle(&driver, &store, &ids).await;
    assert_eq!((done[0].row.status, done[0].to_number.as_deref()), (OutboxStatus::DryRun, Some(TEAM)));
    assert_eq!(done[0].attempts, 1, "the dry run counts as the message's one attempt");
    let attempts = store.list_attempts(ids[0]).await.unwrap();
    assert_eq!(attempts.len(), 1);
    let request: serde_json::Value = serde_json::from_str(&attempts[0].request).unwrap();
    assert_eq!(request["form"]["To"], TEAM);
    assert_eq!(request["form"]["Twiml"], "<Response><Say>Say &lt;this&gt;</Say></Response>");
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn cancelled_messages_are_never_sent() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "reminder")]).await;
    store.insert_events(vec![event("e2", "invoice.paid")]).await.unwrap();
    let cancel = DispatchResult { cancels: vec![("test-plugin".into(), "k".into())], ..DispatchResult::default() };
    complete(&store, "e2", cancel).await;
    live_sender(&store, &base).drain(None).await.unwrap();
    assert_eq!(store.get_message(ids[0]).await.unwrap().unwrap().row.status, OutboxStatus::Cancelled);
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn the_rate_limit_holds_under_a_burst() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    let mut settings = settings(TwilioMode::Live);
    settings.driver.messages_per_second = rate(5);
    let driver = sender(&store, Some(service(&base, Duration::from_secs(10))), settings);
    let burst: Vec<(Channel, &str, &str)> = (0..12).map(|_| (Channel::Sms, "team:accounting", "burst")).collect();
    let ids = dispatch(&store, "e1", no_customer(), &burst).await;
    settle(&driver, &store, &ids).await;

    // Every message of the burst goes out exactly once; the spacing itself is
    // checked deterministically (fake clock) by the sink's quota unit test,
    // since wall-clock assertions are flaky on a shared machine.
    assert_eq!(twilio.posts().len(), 12);
    for id in &ids {
        let message = store.get_message(*id).await.unwrap().unwrap();
        assert_eq!(message.row.status, OutboxStatus::Sent);
        let sends = store.list_attempts(*id).await.unwrap().into_iter().filter(|a| a.kind == "message").count();
        assert_eq!(sends, 1, "message {id} needed a retry");
    }
}

#[tokio::test]
async fn a_replayed_failure_gets_a_new_attempt_series_and_keeps_its_history() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    twilio.script([Reply::error(400, 21211, "invalid To")]);
    let ids = dispatch(&store, "e1", no_customer(), &[(Channel::Sms, "team:accounting", "hi")]).await;
    let driver = live_sender(&store, &base);
    assert_eq!(settle(&driver, &store, &ids).await[0].row.status, OutboxStatus::Failed);

    assert!(store.requeue_message(ids[0], Utc::now()).await.unwrap());
    assert!(!store.requeue_message(ids[0], Utc::now()).await.unwrap(), "a pending message is not re-queued");
    let done = settle(&driver, &store, &ids).await;
    assert_eq!((done[0].row.status, done[0].series, done[0].attempts), (OutboxStatus::Sent, 2, 1));
    let series: Vec<u32> = store.list_attempts(ids[0]).await.unwrap().into_iter().filter(|a| a.kind == "message").map(|a| a.series).collect();
    assert_eq!(series, vec![1, 2]);
    let statuses: Vec<String> = store.list_history(ids[0]).await.unwrap().into_iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec!["failed", "pending", "sent"]);
}

#[tokio::test]
async fn a_message_is_not_sent_before_its_not_before_time() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    store.insert_events(vec![event("e1", "invoice.sent")]).await.unwrap();
    let later = Utc::now() + chrono::TimeDelta::hours(1);
    let message = |key: &str, not_before| ml_connector::store::NewMessage {
        plugin: "p".into(), key: key.into(), channel: Channel::Sms, to: "team:accounting".into(),
        body: key.into(), not_before,
    };
    let result = DispatchResult { messages: vec![message("later", Some(later)), message("now", None)], ..DispatchResult::default() };
    complete(&store, "e1", result).await;
    live_sender(&store, &base).drain(None).await.unwrap();

    let posts = twilio.posts();
    assert_eq!(posts.iter().map(|p| p.param("Body").unwrap()).collect::<Vec<_>>(), vec!["now"]);
    assert_eq!(store.next_due_at(&Channel::ALL).await.unwrap().map(|t| t.timestamp_millis()), Some(later.timestamp_millis()));
}

#[tokio::test]
async fn quiet_hours_are_read_in_the_business_time_zone_kept_with_the_message() {
    let (twilio, base) = Twilio::start().await;
    let (_dir, store) = store();
    // A two-hour window around now in Tokyo (UTC+9, no daylight saving), which is not now in UTC,
    // the configured zone.
    let tokyo = ml_connector::timezone::Timezone::parse("Asia/Tokyo").unwrap();
    let hour: u32 = tokyo.rfc3339(Utc::now())[11..13].parse().unwrap();
    let mut settings = settings(TwilioMode::Live);
    settings.driver.quiet_hours = Some(QuietHours {
        start: NaiveTime::from_hms_opt((hour + 23) % 24, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt((hour + 1) % 24, 0, 0).unwrap(),
    });
    let driver = sender(&store, Some(service(&base, Duration::from_secs(10))), settings);
    let mut ids = Vec::new();
    for (event, timezone) in [("e-tokyo", Some("Asia/Tokyo")), ("e-configured", None)] {
        let message = ml_connector::store::NewMessage { plugin: "p".into(), key: "k".into(), channel: Channel::Sms, to: "customer".into(), body: "hi".into(), not_before: None };
        let result = DispatchResult {
            messages: vec![message],
            customer: CustomerNumbers { mobile: Some(CUSTOMER.into()), phone: None },
            timezone: timezone.map(str::to_owned),
            ..DispatchResult::default()
        };
        ids.extend(dispatch_result(&store, event, result).await);
    }
    driver.drain(None).await.unwrap();

    let in_tokyo = store.get_message(ids[0]).await.unwrap().unwrap();
    assert_eq!((in_tokyo.row.status, in_tokyo.timezone.as_deref()), (OutboxStatus::Pending, Some("Asia/Tokyo")));
    let deferred = store.list_history(ids[0]).await.unwrap().into_iter().filter_map(|h| h.detail).find(|d| d.contains("quiet hours")).unwrap();
    assert!(deferred.ends_with("+09:00 (Asia/Tokyo)"), "{deferred}");
    assert_eq!(store.get_message(ids[1]).await.unwrap().unwrap().row.status, OutboxStatus::Sent);
    assert_eq!(twilio.posts().len(), 1);
}
