//! The fault soak (issue 18): the real binary against local stand-ins only. Signed
//! `invoice.overdue` webhooks (each a customer SMS and a call to the team's one number) go in
//! while `serve` is SIGKILLed and restarted several times, and the Twilio stand-in answers about
//! 30 % of its requests with a fault (429 with `Retry-After`, 500, a timeout, a dropped
//! connection, a slow answer), lists what it really created and calls back every create as
//! Twilio does (a call at each progress event it asked for: initiated, ringing, answered,
//! completed). It prints a table, then requires: 0 lost, 0 duplicate SMS or calls at the
//! stand-in, every message sent or failed with a reason within its retry budget, and every sent
//! SMS and call holding a SID the stand-in created for that very message.
//!
//! Kills are spaced at least a call's life apart and a restart takes less than one (printed),
//! as in production, where a notification call lasts 10 s or more: every call then has a
//! status callback reach a running host. A host down for a call's whole life is the window
//! left (README, issue 18); the table counts such calls.
//!
//! `cargo test --test soak` runs the bounded form (CI); `scripts/soak [EVENTS] [KILLS]` a larger
//! one (through `ML_CONNECTOR_TEST_SOAK_EVENTS`, `ML_CONNECTOR_TEST_SOAK_KILLS`, `ML_CONNECTOR_TEST_SOAK_SEED`).

mod support;
#[path = "support/twilio_standin.rs"]
mod twilio_standin;
#[path = "support/wave_standin.rs"]
mod wave_standin;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::{Server, Site};
use twilio_standin::{Fault, FaultPlan, Twilio};
use wave_standin::{CLIENT_SECRET, GOOD_CODE, customer_node, invoice_node};

const WEBHOOK_SECRET: &str = "whsec-soak-5b9e";
const AUTH_TOKEN: &str = "soak-twilio-token-7d21";
const BUSINESS: &str = "63c77f29-875c-4cdc-947d-07430f628043";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const FROM: &str = "+15005550006";
const TEAM: &str = "+14155552671";
/// Retries after a failed attempt: at most this plus one attempts per message.
const MAX_RETRIES: u32 = 5;
/// The sender's per-request timeout; the stand-in's timeouts answer after 1.5 times this.
const TWILIO_TIMEOUT: Duration = Duration::from_millis(800);
/// How long the stand-in's calls last from their create (initiated at once, ringing after a
/// fifth, answered after two fifths, completed at the end): longer than a restart takes, as
/// real calls are (the run prints the longest restart), and the least time between two kills.
const CALL_DURATION: Duration = Duration::from_millis(2500);
/// How long an unanswered call waits for a status callback naming it before the sender lists
/// calls (and a listed call not yet ended is waited for, not adopted).
const CALL_CALLBACK_WAIT: Duration = Duration::from_millis(3000);

/// The run's size: `ML_CONNECTOR_TEST_SOAK_EVENTS` (24), `ML_CONNECTOR_TEST_SOAK_KILLS` (3) and
/// `ML_CONNECTOR_TEST_SOAK_SEED` (18).
struct Plan {
    events: usize,
    kills: usize,
    seed: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let var = |name: &str, default: u64| std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))).unwrap_or(default);
        Plan { events: var("ML_CONNECTOR_TEST_SOAK_EVENTS", 24) as usize, kills: var("ML_CONNECTOR_TEST_SOAK_KILLS", 3) as usize, seed: var("ML_CONNECTOR_TEST_SOAK_SEED", 18) }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A site on a fixed port (the status callbacks' URL survives restarts), Wave's stand-in for
/// enrichment, Twilio's for sending, and only `invoice-overdue`.
fn soak_site(port: u16, wave: &wave_standin::StandIn, twilio: &str) -> Site {
    let site = Site::new("", "");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         [store]\npath = \"{db}\"\nlease_secs = 2\n\
         [wave]\nbusiness_id = \"{BUSINESS}\"\nclient_id = \"client-soak\"\ntoken_url = \"{token}\"\ngraphql_url = \"{graphql}\"\nauthorize_url = \"{authorize}\"\n\
         [twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{twilio}\"\nlookups_base = \"{twilio}\"\nmode = \"live\"\n\
         messages_per_second = 100\nrequest_timeout_ms = {timeout}\nmax_retries = {MAX_RETRIES}\nretry_base_ms = 50\n\
         call_callback_wait_ms = {wait}\n[team]\naccounting = \"{TEAM}\"\n[builtin_plugins]\nenabled = false\n[[plugins]]\nname = \"invoice-overdue\"\n",
        db = site.dir.path().join("connector.db").display(),
        token = wave.token_url(),
        graphql = wave.graphql_url(),
        authorize = wave.authorize_url(),
        timeout = TWILIO_TIMEOUT.as_millis(),
        wait = CALL_CALLBACK_WAIT.as_millis(),
    );
    std::fs::write(site.config(), config).unwrap();
    site.set_secret("wave.webhook_secret", WEBHOOK_SECRET);
    site.set_secret("wave.client_secret", CLIENT_SECRET);
    site.set_secret("twilio.auth_token", AUTH_TOKEN);
    site
}

/// Connects Wave through `wave connect` and the OAuth callback on a running `serve`.
async fn connect_wave(site: &Site, base: &str) {
    let out = site.cmd(&["wave", "connect"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    let state = url.trim().split_once('?').unwrap().1.split('&').find_map(|p| p.strip_prefix("state=")).unwrap().to_owned();
    let answer = reqwest::get(format!("{base}/oauth/wave/callback?code={GOOD_CODE}&state={state}")).await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

/// Event `i`: invoice `9000+i` of customer `5000+i` is overdue.
fn overdue(i: usize) -> String {
    json!({
        "event_id": format!("soak-{i}"),
        "event_type": "invoice.overdue",
        "business_id": BUSINESS,
        "data": {"invoice_id": format!("{}", 9000 + i), "customer_id": format!("{}", 5000 + i), "currency_code": "USD",
                 "due_date": "2026-03-30", "invoice_balance": format!("{}.00", 100 + i), "issue_date": "2026-03-01"},
    })
    .to_string()
}

/// What the webhook poster saw.
#[derive(Default)]
struct Posted {
    acknowledged: Mutex<Vec<String>>,
    /// Answers other than 200 (503 while the store is busy or the queue full).
    refused: AtomicU64,
    /// Requests that got no answer (the server killed or restarting).
    unanswered: AtomicU64,
}

/// Posts every event as Wave does: signed, retried until a 200 (Wave retries failures), four
/// at a time.
async fn post_all(base: String, events: usize, posted: Arc<Posted>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, next, posted) = (client.clone(), base.clone(), next.clone(), posted.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    if i >= events {
                        return;
                    }
                    let body = overdue(i);
                    loop {
                        let header = signature::sign(WEBHOOK_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
                        match client.post(format!("{base}/webhooks/wave")).header("x-wave-signature", header).body(body.clone()).send().await {
                            Ok(r) if r.status() == 200 => break,
                            Ok(r) => {
                                let status = r.status().as_u16();
                                assert!(status >= 500, "event {i} refused with {status}: {}", r.text().await.unwrap_or_default());
                                posted.refused.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(_) => {
                                posted.unanswered.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    posted.acknowledged.lock().unwrap().push(format!("soak-{i}"));
                    // Paced like a busy Wave account, so the first kill lands mid-ingest.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
}

fn json_list(site: &Site, args: &[&str]) -> Vec<Value> {
    site.json(args).as_array().unwrap().clone()
}

/// Whether every acknowledged event is dispatched and every message is final.
fn settled(site: &Site, acknowledged: usize) -> bool {
    let events = json_list(site, &["events", "list", "--json", "--limit", "1000000"]);
    if events.len() < acknowledged || events.iter().any(|e| e["status"] == "pending") {
        return false;
    }
    let messages = json_list(site, &["outbox", "list", "--json", "--limit", "1000000"]);
    messages.iter().all(|m| ["sent", "failed", "undeliverable"].contains(&m["status"].as_str().unwrap_or("")))
}

/// Kills `server` with SIGKILL and starts a new one on the same site; also how long the host
/// was down (from the kill until the new one listens).
fn kill_and_restart(site: &Site, server: Server) -> (Server, Duration) {
    let down = Instant::now();
    server.kill();
    std::thread::sleep(Duration::from_millis(200));
    let server = site.start();
    (server, down.elapsed())
}

/// Waits until `f` holds: a liveness bound, not a timing assertion. `f` may block (it runs
/// the CLI).
async fn until(what: &str, bound: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !tokio::task::block_in_place(&mut f) {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_soak_with_kills_loses_nothing_and_sends_nothing_twice() {
    let plan = Plan::from_env();
    let started = Instant::now();
    let wave = wave_standin::start("unused", "unused").await;
    let port = free_port();
    wave.with(|w| {
        w.redirect_uri = Some(format!("http://127.0.0.1:{port}/oauth/wave/callback"));
        for i in 0..plan.events {
            let (customer, invoice) = ((5000 + i).to_string(), (9000 + i).to_string());
            let mobile = format!("(415) 555-{:04}", 3000 + i % 7000);
            w.customers.insert(customer.clone(), customer_node(BUSINESS, &customer, &format!("Customer {i}"), Some(&mobile), None));
            w.invoices.insert(invoice.clone(), invoice_node(BUSINESS, &invoice, &format!("INV-{i}"), "OVERDUE", &format!("{}.00", 100 + i)));
        }
    });
    let (twilio, twilio_base) = Twilio::start().await;
    let faults = FaultPlan { seed: plan.seed, percent: 30, timeout: TWILIO_TIMEOUT * 3 / 2, slow: TWILIO_TIMEOUT / 4 };
    twilio.behave_like_twilio(AUTH_TOKEN, CALL_DURATION, Some(faults));
    let site = soak_site(port, &wave, &twilio_base);

    let server = tokio::task::block_in_place(|| site.start());
    connect_wave(&site, &server.base).await;
    let base = server.base.clone();
    let (mut server, _) = tokio::task::block_in_place(|| kill_and_restart(&site, server));

    let posted = Arc::new(Posted::default());
    let poster = tokio::spawn(post_all(base, plan.events, posted.clone()));
    let bound = Duration::from_secs(60 + plan.events as u64);
    let acked = || posted.acknowledged.lock().unwrap().len();
    // The first kill lands mid-ingest, the others while messages are being sent: after each
    // further share of the creates two messages per event take, and a call's life after the
    // last restart at the earliest (no call was placed before the first).
    let (mut kills, mut longest_down, mut up_since) = (0, Duration::ZERO, None::<Instant>);
    for k in 0..plan.kills {
        if k == 0 {
            until("half the events acknowledged", bound, || acked() >= plan.events.div_ceil(2)).await;
        } else {
            let threshold = k * 2 * plan.events / plan.kills;
            until("the stand-in's creates", bound, || twilio.posts().len() >= threshold || (acked() == plan.events && settled(&site, acked()))).await;
            if twilio.posts().len() < threshold {
                break; // everything settled before this kill
            }
        }
        if let Some(up) = up_since {
            tokio::time::sleep_until((up + CALL_DURATION).into()).await;
        }
        let down;
        (server, down) = tokio::task::block_in_place(|| kill_and_restart(&site, server));
        (longest_down, up_since) = (longest_down.max(down), Some(Instant::now()));
        kills += 1;
    }
    poster.await.unwrap();
    let acknowledged: Vec<String> = posted.acknowledged.lock().unwrap().clone();
    until("every event dispatched and every message final", bound, || settled(&site, acknowledged.len())).await;
    // Status callbacks still on their way are recorded before the server stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);

    let report = Report::build(&site, &twilio, &acknowledged);
    let callbacks = *twilio.callbacks.lock().unwrap();
    let calls: Vec<String> = twilio.created().into_iter().filter(|c| c.resource == "Calls").map(|c| c.sid).collect();
    let delivered = twilio.delivered_by_sid.lock().unwrap().clone();
    let unheard = calls.iter().filter(|sid| !delivered.contains_key(*sid)).count();
    let faulted: BTreeMap<String, u64> = twilio.faults.lock().unwrap().iter().map(|(f, n)| (format!("{f:?}"), *n)).collect();
    println!(
        "\nFault soak: {} events, {kills} SIGKILLs, {} of {} Twilio requests faulted {faulted:?} (seed {}), \
         webhooks retried {} times (refused) and {} times (unanswered), status callbacks {} delivered and {} lost, \
         {} of {} calls with every callback lost, longest restart {:.2} s (a call lasts {:.1} s), {:.1} s\n",
        plan.events,
        faulted.values().sum::<u64>(),
        twilio.requests().len(),
        plan.seed,
        posted.refused.load(Ordering::SeqCst),
        posted.unanswered.load(Ordering::SeqCst),
        callbacks.0,
        callbacks.1,
        unheard,
        calls.len(),
        longest_down.as_secs_f64(),
        CALL_DURATION.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    println!("{}", report.table());
    let mut why: Vec<String> = twilio.callback_failures.lock().unwrap().clone();
    why.sort();
    why.dedup();
    println!("{} status callbacks not delivered: {:?}", why.len(), why.iter().map(|w| w.split_once(" (").map_or(w.as_str(), |(head, _)| head)).collect::<HashSet<_>>());
    assert_eq!(acknowledged.len(), plan.events, "every event is acknowledged in the end");
    assert!(kills >= plan.kills.min(1), "the soak killed the server");
    report.check();
}

/// What the store and the stand-in hold after the soak.
#[derive(Debug, Default)]
struct Report {
    acknowledged: usize,
    dispatched: usize,
    messages: usize,
    sent: usize,
    failed_with_reason: usize,
    /// Failed or undeliverable with no reason recorded.
    unexplained: Vec<String>,
    /// Creates at the stand-in beyond the first for one SMS.
    duplicates: usize,
    /// Creates at the stand-in beyond the first for one call.
    call_duplicates: usize,
    /// Acknowledged events not dispatched, and messages missing or not final.
    lost: Vec<String>,
    /// Sent SMS whose SID the stand-in did not create for them.
    misattributed: Vec<String>,
    /// Sent calls whose SID the stand-in did not create for them (or that hold none).
    mixed_up_calls: Vec<String>,
    /// Failed messages the stand-in did create (the last attempt's answer lost).
    failed_but_created: usize,
    /// The most attempts any message took (the stand-in's tags).
    most_attempts: u32,
    /// Creates whose callback URL names no message.
    untagged: usize,
}

impl Report {
    fn build(site: &Site, twilio: &Twilio, acknowledged: &[String]) -> Report {
        let mut report = Report { acknowledged: acknowledged.len(), ..Report::default() };
        let events = json_list(site, &["events", "list", "--json", "--limit", "1000000"]);
        let status: HashMap<&str, &str> = events.iter().map(|e| (e["id"].as_str().unwrap(), e["status"].as_str().unwrap())).collect();
        for id in acknowledged {
            match status.get(id.as_str()) {
                Some(&"dispatched") => report.dispatched += 1,
                other => report.lost.push(format!("event {id}: {other:?}")),
            }
        }
        let messages = json_list(site, &["audit", "--json", "--limit", "1000000"]);
        report.messages = messages.len();
        let mut creates: HashMap<i64, Vec<String>> = HashMap::new();
        let mut calls: HashSet<i64> = HashSet::new();
        for created in twilio.created() {
            match created.tag("outbox").and_then(|id| id.parse::<i64>().ok()) {
                Some(id) => {
                    creates.entry(id).or_default().push(created.sid.clone());
                    if created.resource == "Calls" {
                        calls.insert(id);
                    }
                }
                None => report.untagged += 1,
            }
            let attempt = created.tag("attempt").and_then(|a| a.parse().ok()).unwrap_or(0);
            report.most_attempts = report.most_attempts.max(attempt);
        }
        for request in twilio.posts() {
            let attempt = request.param("StatusCallback").and_then(|url| url.split("attempt=").nth(1)).and_then(|a| a.parse().ok()).unwrap_or(0);
            report.most_attempts = report.most_attempts.max(attempt);
        }
        let extra = |call: bool| creates.iter().filter(|(id, _)| calls.contains(id) == call).map(|(_, sids)| sids.len().saturating_sub(1)).sum();
        report.duplicates = extra(false);
        report.call_duplicates = extra(true);
        let mut per_event: HashMap<&str, HashSet<&str>> = HashMap::new();
        for m in &messages {
            let id = m["id"].as_i64().unwrap();
            let event = m["event_id"].as_str().unwrap();
            per_event.entry(event).or_default().insert(m["channel"].as_str().unwrap());
            let mine = creates.get(&id).map(Vec::as_slice).unwrap_or_default();
            match m["status"].as_str().unwrap() {
                "sent" => {
                    report.sent += 1;
                    let sid = m["sid"].as_str().unwrap_or_default();
                    if !mine.iter().any(|s| s == sid) {
                        let line = format!("message {id} ({event}, {}) holds {sid:?}; created for it: {mine:?}", m["channel"]);
                        match m["channel"].as_str() {
                            Some("call") => report.mixed_up_calls.push(line),
                            _ => report.misattributed.push(line),
                        }
                    }
                }
                "failed" | "undeliverable" => {
                    if m["error_message"].as_str().is_some_and(|r| !r.trim().is_empty()) {
                        report.failed_with_reason += 1;
                    } else {
                        report.unexplained.push(format!("message {id} ({event})"));
                    }
                    if !mine.is_empty() {
                        report.failed_but_created += 1;
                    }
                }
                other => report.lost.push(format!("message {id} ({event}) is {other}")),
            }
        }
        for id in acknowledged {
            let channels = per_event.get(id.as_str()).cloned().unwrap_or_default();
            for channel in ["sms", "call"] {
                if !channels.contains(channel) {
                    report.lost.push(format!("event {id}: no {channel} in the outbox"));
                }
            }
        }
        report
    }

    fn table(&self) -> String {
        let header = ["events acknowledged", "dispatched", "messages", "sent", "failed with a reason", "duplicate SMS", "duplicate calls", "mixed-up calls", "lost"];
        let values = [self.acknowledged, self.dispatched, self.messages, self.sent, self.failed_with_reason, self.duplicates, self.call_duplicates, self.mixed_up_calls.len(), self.lost.len()];
        let mut out = format!("| {} |\n|", header.join(" | "));
        for h in header {
            out.push_str(&format!("{}:|", "-".repeat(h.len() + 1)));
        }
        out.push_str("\n|");
        for (h, v) in header.iter().zip(values) {
            out.push_str(&format!(" {v:>w$} |", w = h.len()));
        }
        out.push_str(&format!(
            "\n\nmost attempts for one message: {} (budget {}); failed after a create whose answer was lost: {}; SMS sent with another message's SID: {}; creates naming no message: {}",
            self.most_attempts,
            MAX_RETRIES + 1,
            self.failed_but_created,
            self.misattributed.len(),
            self.untagged,
        ));
        out
    }

    /// Requires what holds on every run.
    fn check(&self) {
        assert!(self.lost.is_empty(), "lost: {:#?}", self.lost);
        assert!(self.misattributed.is_empty(), "SMS sent with a SID not created for it: {:#?}", self.misattributed);
        assert_eq!(self.duplicates, 0, "an SMS was created more than once at the stand-in");
        assert!(self.mixed_up_calls.is_empty(), "calls sent with a SID not created for them: {:#?}", self.mixed_up_calls);
        assert_eq!(self.call_duplicates, 0, "a call was placed more than once at the stand-in");
        assert!(self.unexplained.is_empty(), "failed without a reason: {:#?}", self.unexplained);
        assert_eq!(self.sent + self.failed_with_reason, self.messages, "every message sent or failed with a reason");
        assert!(self.most_attempts <= MAX_RETRIES + 1, "a message took {} attempts; the budget is {}", self.most_attempts, MAX_RETRIES + 1);
        assert_eq!(self.untagged, 0, "every create names its message");
        assert!(self.sent > 0, "nothing was sent");
    }
}

#[test]
fn the_fault_plan_is_deterministic_and_faults_about_the_share_asked() {
    let plan = FaultPlan { seed: 18, percent: 30, timeout: Duration::ZERO, slow: Duration::ZERO };
    let faults: Vec<Option<Fault>> = (0..10_000).map(|n| plan.fault(n)).collect();
    assert_eq!(faults, (0..10_000).map(|n| plan.fault(n)).collect::<Vec<_>>());
    let faulted = faults.iter().flatten().count();
    assert!((2_700..3_300).contains(&faulted), "{faulted} of 10000");
    for kind in Fault::ALL {
        assert!(faults.iter().flatten().filter(|f| **f == kind).count() > 400, "{kind:?} is drawn");
    }
}
