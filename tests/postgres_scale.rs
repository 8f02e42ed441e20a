//! Scale-out on PostgreSQL: several senders and `serve` replicas on one database. Two sink
//! drivers keep `twilio.messages_per_second` together; three replicas of the real binary take
//! a burst of signed Wave webhooks, one SIGKILLed mid-burst, and every acknowledged event is
//! dispatched and its message sent once; a replica killed while holding leases has its messages
//! finished by another once the leases run out; a call Twilio refused is replayed with
//! `messages replay` against the PostgreSQL store and sent. Each test has a database of its own on the
//! server `scripts/postgres` starts (skipped without it outside CI, failed under `CI=true`).

mod support;
mod twilio_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ml_connector::config::TwilioMode;
use ml_connector::model::Channel;
use ml_connector::sinks::driver::SinkDriver;
use ml_connector::sinks::twilio::sink::TwilioSink;
use ml_connector::sources::wave::signature;
use ml_connector::store::postgres::PgStore;
use ml_connector::store::{DispatchResult, InboxStore as _, Lease, NewMessage, OutboxStatus, OutboxStore as _};
use serde_json::{Value, json};
use support::postgres::fresh_database;
use support::site::{Server, Site};
use twilio_support::*;

const SECRET: &str = "whsec-e2e-scale";
const TEAM: &str = "+14155552671";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sink_drivers_on_one_postgres_store_keep_the_deployment_wide_rate_together() {
    let Some(db) = fresh_database("two_sink_drivers_on_one_postgres_store_keep_the_deployment_wide_rate_together").await else { return };
    let url = db.url.clone();
    let (twilio, base) = Twilio::start().await;
    let stores = [Arc::new(PgStore::connect(&url).await.unwrap()), Arc::new(PgStore::connect(&url).await.unwrap())];
    let messages = (0..20)
        .map(|i| NewMessage {
            plugin: "test-plugin".into(),
            key: format!("k{i}"),
            channel: Channel::Sms,
            to: "team:accounting".into(),
            body: "burst".into(),
            not_before: None,
        })
        .collect();
    stores[0].insert_events(vec![event("e1", "invoice.overdue")]).await.unwrap();
    let lost = stores[0].complete_dispatches(&test_lease(), vec![("e1".into(), DispatchResult { messages, ..DispatchResult::default() })]).await.unwrap();
    assert!(lost.is_empty());
    let drivers: Vec<Arc<SinkDriver>> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let mut settings = settings(TwilioMode::Live);
            settings.driver.messages_per_second = rate(10);
            let sink = Arc::new(TwilioSink::new(store.clone(), Some(service(&base, Duration::from_secs(10))), settings.sink));
            Arc::new(SinkDriver::new(sink, store.clone(), Lease::new(format!("sender-{i}"), Duration::from_secs(2)), settings.driver, Default::default()))
        })
        .collect();
    let runs: Vec<_> = drivers
        .iter()
        .map(|d| {
            let d = d.clone();
            tokio::spawn(async move {
                let mut done = 0;
                for _ in 0..400 {
                    done += d.drain(None).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                done
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while twilio.posts().len() < 20 {
        assert!(std::time::Instant::now() < deadline, "only {} of 20 sent", twilio.posts().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut processed = Vec::new();
    for run in runs {
        processed.push(run.await.unwrap());
    }
    let posts = twilio.posts();
    assert_eq!(posts.len(), 20, "every message sent once");
    // Each claims at most the 10 it can send in half its 2 s lease, so both take a share.
    assert!(processed.iter().all(|n| *n > 0), "both drivers sent: {processed:?}");
    // 20 sends at 10/s for the whole deployment are spread over at least 1.9 s; two drivers each
    // keeping 10/s of their own would finish in about 0.95 s. A lower bound only: a busy machine
    // makes it longer, never shorter.
    let span = posts.last().unwrap().at - posts.first().unwrap().at;
    println!("20 sends by two drivers at 10/s shared: {:.2} s from first to last ({processed:?} each)", span.as_secs_f64());
    assert!(span >= Duration::from_millis(1500), "sends came faster than the shared rate: {span:?}");
}

/// A Wave `invoice.overdue` webhook with its own id.
fn overdue(event_id: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave/invoice.overdue.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    v.to_string()
}

/// A site whose replicas share the PostgreSQL database `url`, with Twilio at `api_base` (and
/// its Lookups at `lookups_base`); `store` and `twilio` are more lines of those sections.
fn replica_site(url: &str, api_base: &str, lookups_base: &str, store: &str, twilio: &str) -> Site {
    Site::new(
        "public_url = \"https://connector.example.com\"",
        &format!(
            "url = \"{url}\"\n{store}\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{api_base}\"\n\
             lookups_base = \"{lookups_base}\"\nmode = \"live\"\nretry_base_ms = 5\n{twilio}\n[team]\naccounting = \"{TEAM}\"\n"
        ),
    )
}

/// Posts a signed webhook to `base`: whether it was acknowledged (2xx).
async fn post(client: &reqwest::Client, base: &str, event_id: &str) -> bool {
    let body = overdue(event_id);
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    match client.post(format!("{base}/webhooks/wave")).header("x-wave-signature", header).body(body).send().await {
        Ok(resp) => resp.status().is_success(),
        Err(_) => false,
    }
}

/// The call messages `audit` shows, by event id.
fn calls(site: &Site) -> Vec<Value> {
    site.audit(&["--limit", "100000"]).into_iter().filter(|m| m["channel"] == "call").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn three_replicas_share_a_burst_with_one_killed_and_every_acknowledged_event_is_sent_once() {
    let Some(db) = fresh_database("three_replicas_share_a_burst_with_one_killed_and_every_acknowledged_event_is_sent_once").await else { return };
    let url = db.url.clone();
    let (twilio, base) = Twilio::start().await;
    // A replica killed after its request reached Twilio leaves a call the others must find in
    // Twilio's list: the stand-in lists what it really created.
    twilio.behave_like_twilio("token-e2e", std::time::Duration::from_secs(1), None);
    const RATE: u32 = 20;
    let site = replica_site(&url, &base, &base, "lease_secs = 5", &format!("messages_per_second = {RATE}"));
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("twilio.auth_token", "token-e2e");
    let mut servers: Vec<Option<Server>> = (0..3).map(|_| Some(site.start())).collect();
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.as_ref().unwrap().base.clone()).collect());

    // Eight clients, each sending 15 events round-robin over the replicas and, like a load
    // balancer, trying the next replica when one does not answer 2xx.
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (bases, sent) = (bases.clone(), sent.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let mut acked = Vec::new();
                for j in 0..15 {
                    let id = format!("evt-{c}-{j}");
                    for attempt in 0..6 {
                        if post(&client, &bases[(c + j + attempt) % 3], &id).await {
                            acked.push(id.clone());
                            break;
                        }
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                acked
            })
        })
        .collect();
    while sent.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    servers[1].take().unwrap().kill();
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert_eq!(acked.len(), 120, "the live replicas acknowledged every event");

    let wanted: HashSet<String> = acked.iter().cloned().collect();
    site.wait_for("every acknowledged event's call to be sent", || {
        let done: HashSet<String> =
            calls(&site).into_iter().filter(|m| m["status"] == "sent").map(|m| m["event_id"].as_str().unwrap().to_owned()).collect();
        wanted.is_subset(&done)
    });
    let calls = calls(&site);
    let sent_calls: Vec<&Value> = calls.iter().filter(|m| m["status"] == "sent").collect();
    let per_event: HashSet<&str> = calls.iter().map(|m| m["event_id"].as_str().unwrap()).collect();
    assert_eq!(per_event.len(), calls.len(), "one call message per event");
    let sids: HashSet<&str> = sent_calls.iter().map(|m| m["sid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), sent_calls.len());
    let posts = twilio.posts();
    assert_eq!(posts.len(), sent_calls.len(), "no message was sent twice at Twilio");
    let events = site.json(&["events", "list", "--json", "--limit", "100000"]);
    let undispatched: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["status"] == "pending").collect();
    assert!(undispatched.is_empty(), "{undispatched:?}");

    // The rate holds for the deployment: N sends at RATE/s span at least (N-1)/RATE s, less the
    // first send's own delay (a lower bound; three replicas each keeping RATE/s would take a
    // third of it).
    let span = posts.last().unwrap().at - posts.first().unwrap().at;
    let floor = Duration::from_secs_f64((posts.len() - 1) as f64 / f64::from(RATE));
    println!("{} sends through 3 replicas (one killed) at {RATE}/s shared: {:.2} s (floor {:.2} s)", posts.len(), span.as_secs_f64(), floor.as_secs_f64());
    assert!(span >= floor.mul_f64(0.75), "sends came faster than the deployment's rate: {span:?} for {}", posts.len());
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_while_holding_leases_has_its_messages_finished_by_another() {
    let Some(db) = fresh_database("a_replica_killed_while_holding_leases_has_its_messages_finished_by_another").await else { return };
    let url = db.url.clone();
    let (twilio, base) = Twilio::start().await;
    twilio.behave_like_twilio("token-e2e", std::time::Duration::from_secs(1), None);
    // Replica A's Twilio accepts connections and never answers: its sends stay in flight.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_base = format!("http://{}", hole.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hole.incoming() {
            held.push(conn);
        }
    });
    let a_site = replica_site(&url, &hole_base, &base, "lease_secs = 2", "request_timeout_ms = 600000");
    a_site.set_secret("wave.webhook_secret", SECRET);
    a_site.set_secret("twilio.auth_token", "token-e2e");
    let a = a_site.start();
    let client = reqwest::Client::new();
    for i in 0..3 {
        assert!(post(&client, &a.base, &format!("evt-lease-{i}")).await);
    }
    // A's sender takes a call as far as the request, which never returns: the row is `sending`
    // under A's lease (the drain waits on it, so the other calls stay pending).
    a_site.wait_for("replica A to hold a call in flight", || !a_site.audit(&["--status", "sending"]).is_empty());
    let in_flight: Vec<i64> = a_site.audit(&["--status", "sending"]).iter().map(|m| m["id"].as_i64().unwrap()).collect();
    a.kill();

    // B waits a second (not a minute) for a status callback naming A's call before listing.
    let b_site = replica_site(&url, &base, &base, "lease_secs = 2", "call_callback_wait_ms = 1000");
    let b = b_site.start();
    b_site.wait_for("replica B to finish every call", || calls(&b_site).iter().filter(|m| m["status"] == "sent").count() == 3);
    assert_eq!(twilio.posts().len(), 3, "each call sent once, by B");
    let store = PgStore::connect(&url).await.unwrap();
    for id in in_flight {
        // B took the row over once A's lease ran out, asked Twilio whether A's request had gone
        // out (not in the stand-in's list), then sent it.
        let history: Vec<String> = store.list_history(id).await.unwrap().into_iter().filter_map(|h| h.detail).collect();
        assert!(history.iter().any(|d| d.contains("after an unanswered attempt")), "B reconciled A's unanswered send first: {history:?}");
        let attempts = store.list_attempts(id).await.unwrap();
        assert!(attempts.iter().any(|a| a.kind == "list"), "{attempts:?}");
        assert_eq!(store.get_message(id).await.unwrap().unwrap().row.status, OutboxStatus::Sent);
    }
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_twilio_refused_is_replayed_from_the_cli_against_postgres_and_sent() {
    let Some(db) = fresh_database("a_call_twilio_refused_is_replayed_from_the_cli_against_postgres_and_sent").await else { return };
    let (twilio, base) = Twilio::start().await;
    // The first call is refused for good, as Twilio refuses a number the account may not call
    // until its geographic permissions are changed; after that the stand-in accepts calls.
    twilio.script([Reply::error(400, 21215, "Account not authorized to call +14155552671. Perhaps you need to enable some international permissions")]);
    let site = replica_site(&db.url, &base, &base, "", "");
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("twilio.auth_token", "token-e2e");
    let server = site.start();
    assert!(post(&reqwest::Client::new(), &server.base, "evt-replay").await);
    site.wait_for("the refused call to fail", || calls(&site).first().is_some_and(|m| m["status"] == "failed"));
    let failed = calls(&site).remove(0);
    assert_eq!(failed["error_code"], 21215, "{failed:#}");

    // The operator fixes the permissions and replays it through the CLI, on the same database.
    let id = failed["id"].as_i64().unwrap().to_string();
    let out = site.stdout(&["messages", "replay", &id]);
    assert!(out.contains(&format!("message {id} re-queued (attempt series 2)")), "{out}");
    site.wait_for("the replayed call to be sent", || calls(&site).first().is_some_and(|m| m["status"] == "sent"));

    let call = calls(&site).remove(0);
    assert_eq!(call["series"], 2);
    let sid = call["sid"].as_str().expect("the sent call's SID");
    let statuses: Vec<&str> = call["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!((statuses.first(), statuses.last()), (Some(&"failed"), Some(&"sent")), "{statuses:?}");
    assert!(statuses.contains(&"pending"), "the replay re-queued it: {statuses:?}");
    // Both requests in the audit: the refusal in series 1, the accepted call in series 2.
    let sends: Vec<(i64, i64, Option<&str>)> = call["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "call")
        .map(|r| (r["series"].as_i64().unwrap(), r["http_status"].as_i64().unwrap(), r["sid"].as_str()))
        .collect();
    assert_eq!(sends, vec![(1, 400, None), (2, 201, Some(sid))]);
    let posts = twilio.posts();
    assert_eq!(posts.len(), 2, "one refused request, one accepted");
    assert!(posts[1].param("StatusCallback").unwrap().ends_with("&series=2&attempt=1"), "{:?}", posts[1].param("StatusCallback"));
    let text = site.stdout(&["audit", "--event", "evt-replay"]);
    assert!(text.contains("Account not authorized to call") && text.contains(sid), "{text}");
    drop(server);
}
