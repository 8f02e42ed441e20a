//! Twilio sender throughput and latency: `cargo bench -p ml-connector --bench sender` (or
//! `scripts/bench` for every row at once).
//!
//! Against a local Twilio stand-in (a real axum server on 127.0.0.1 recording every request):
//! 1. the ceiling: a bare reqwest client posting SMS forms to the stand-in from as many tasks as
//!    the sender keeps in flight;
//! 2. the sink driver draining an outbox backlog, limiter off;
//! 3. the time from an outbox row's commit to its request reaching the stand-in, rows arriving
//!    at about 1,000 a second while the sender runs (woken by each commit, as the dispatcher
//!    wakes it);
//! 4. end to end: the real `ml-connector serve` in live mode, signed Wave webhooks
//!    (`estimate.accepted`: one team SMS each) posted as fast as 64 connections go, until the
//!    stand-in has every SMS.
//!
//! Each message is two durable store writes (`sending` before the request, then `sent` with its
//! attempt), group-committed with whatever else is being written. Numbers are printed, never
//! asserted.

#[path = "../../tests/twilio_support/mod.rs"]
mod twilio_support;
#[path = "../../tests/support/site.rs"]
#[allow(dead_code)]
mod site;
#[path = "../../tests/support/secret_logs.rs"]
#[allow(dead_code)]
mod secret_logs;
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ml_connector::config::{Config, TwilioMode};
use ml_connector::model::Channel;
use ml_connector::sinks::driver::DriverSettings;
use ml_connector::store::CustomerNumbers;
use twilio_support::*;

const BACKLOG: usize = 6_000;
const TRICKLE: usize = 3_000;
const TRICKLE_EVERY: Duration = Duration::from_millis(1);
const END_TO_END: usize = 6_000;
const TEAM: &str = "+14155552671";

/// The production driver settings (`[twilio]` defaults) with the limiter off.
fn production(mode: TwilioMode) -> SenderSettings {
    let mut s = settings(mode);
    s.driver = DriverSettings { messages_per_second: None, ..DriverSettings::from_config(&Config::default()) };
    s
}

/// This process's CPU time so far.
fn own_cpu() -> Duration {
    common::cpu_time(std::process::id()).unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let (twilio, base) = Twilio::start().await;
        let in_flight = production(TwilioMode::Live).driver.concurrency;

        // 1. Ceiling: the same number of requests in flight, no store, no sender.
        let ceiling = {
            let client = reqwest::Client::new();
            let url = format!("{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
            let next = Arc::new(AtomicUsize::new(0));
            let (started, cpu) = (Instant::now(), own_cpu());
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (client, url, next) = (client.clone(), url.clone(), next.clone());
                    tokio::spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < BACKLOG {
                            let form = [("To", TEAM), ("From", FROM), ("Body", "ceiling")];
                            client.post(&url).basic_auth(ACCOUNT, Some("token-123")).form(&form).send().await.unwrap().bytes().await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            (BACKLOG as f64 / started.elapsed().as_secs_f64(), (own_cpu() - cpu) / BACKLOG as u32)
        };
        let (ceiling, ceiling_cpu) = ceiling;
        twilio.requests.lock().unwrap().clear();
        println!(
            "ceiling, bare reqwest -> Twilio stand-in, {in_flight} in flight: {}/s, {:.0} µs CPU per request (client and stand-in)",
            common::thousands(ceiling),
            micros(ceiling_cpu)
        );

        // 2. Backlog throughput.
        let (_dir, store) = store();
        let messages: Vec<(Channel, &str, &str)> = (0..BACKLOG).map(|_| (Channel::Sms, "team:accounting", "bench")).collect();
        for chunk in messages.chunks(500).enumerate() {
            dispatch(&store, &format!("backlog-{}", chunk.0), CustomerNumbers::default(), chunk.1).await;
        }
        let driver = sender(&store, Some(service(&base, Duration::from_secs(10))), production(TwilioMode::Live));
        let (started, cpu) = (Instant::now(), own_cpu());
        let sent = driver.drain(None).await.unwrap();
        let elapsed = started.elapsed();
        let backlog_cpu = (own_cpu() - cpu) / u32::try_from(sent.max(1)).unwrap();
        let backlog_rate = sent as f64 / elapsed.as_secs_f64();
        println!(
            "sender backlog: {sent} messages in {:.2} s = {}/s = {:.2}x the ceiling (limiter off, {in_flight} in flight, one Lookups call, then cached); \
             {:.0} µs CPU per message (sender, store and stand-in) = {:.1}x the ceiling's per request",
            elapsed.as_secs_f64(),
            common::thousands(backlog_rate),
            backlog_rate / ceiling,
            micros(backlog_cpu),
            micros(backlog_cpu) / micros(ceiling_cpu)
        );

        // 3. Outbox row -> request latency, rows trickling in while the sender runs.
        let (_dir2, store) = twilio_support::store();
        let settings = production(TwilioMode::Live);
        let poll = settings.driver.poll_interval;
        let wake = Arc::new(tokio::sync::Notify::new());
        let driver = Arc::new(sender_woken_by(&store, Some(service(&base, Duration::from_secs(10))), settings, wake.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(driver.clone().run(stopped));
        twilio.requests.lock().unwrap().clear();
        let started = Instant::now();
        let mut tick = tokio::time::interval(TRICKLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut committing = Vec::with_capacity(TRICKLE);
        for i in 0..TRICKLE {
            tick.tick().await;
            // Each row is committed on its own task, as the dispatcher's commits arrive.
            let (store, wake) = (store.clone(), wake.clone());
            committing.push(tokio::spawn(async move {
                let body = format!("trickle-{i}");
                dispatch(&store, &format!("t{i}"), CustomerNumbers::default(), &[(Channel::Sms, "team:accounting", body.as_str())]).await;
                let at = Instant::now();
                wake.notify_one();
                (body, at)
            }));
        }
        let mut inserted = HashMap::new();
        for task in committing {
            let (body, at) = task.await.unwrap();
            inserted.insert(body, at);
        }
        let offered = TRICKLE as f64 / started.elapsed().as_secs_f64();
        while twilio.requests.lock().unwrap().iter().filter(|r| r.method == "POST").count() < TRICKLE {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        let mut latencies: Vec<Duration> = twilio
            .posts()
            .iter()
            .filter_map(|r| Some(r.at.saturating_duration_since(*inserted.get(r.param("Body")?)?)))
            .collect();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "sender latency, outbox row -> request ({} rows at {}/s, woken by each commit, poll interval {poll:?}): p50 {:.2} ms, p99 {:.2} ms (goal < 10 ms), max {:.2} ms",
            latencies.len(),
            common::thousands(offered),
            common::ms(pct(0.50)),
            common::ms(pct(0.99)),
            common::ms(latencies[latencies.len() - 1])
        );

        // 4. End to end through `serve`.
        twilio.requests.lock().unwrap().clear();
        let site = site::Site::new(
            "public_url = \"https://connector.example.com\"",
            &format!(
                "[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{base}\"\nlookups_base = \"{base}\"\nmode = \"live\"\n\
                 messages_per_second = 1000000\n[team]\naccounting = \"{TEAM}\"\n"
            ),
        );
        site.set_secret("wave.webhook_secret", common::SECRET);
        site.set_secret("twilio.auth_token", "token-123");
        let server = tokio::task::block_in_place(|| site.start());
        let requests = common::signed(common::wave_bodies(END_TO_END, "e2e", &["estimate.accepted"]));
        let serve_cpu = || common::cpu_time(server.child.id()).unwrap_or_default();
        let (started, cpu) = (Instant::now(), serve_cpu());
        let acked = common::post_all(&format!("{}/webhooks/wave", server.base), requests).await;
        let sms = |t: &Twilio| t.requests.lock().unwrap().iter().filter(|r| r.path.ends_with("/Messages.json")).count();
        let deadline = Instant::now() + Duration::from_secs(120);
        while sms(&twilio) < END_TO_END && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let cpu = serve_cpu() - cpu;
        let posts = twilio.posts();
        let sent: Vec<_> = posts.iter().filter(|r| r.path.ends_with("/Messages.json")).collect();
        let last = sent.iter().map(|r| r.at).max().unwrap_or_else(Instant::now);
        let elapsed = last.saturating_duration_since(started);
        let rate = sent.len() as f64 / elapsed.as_secs_f64();
        println!(
            "sender end to end, serve live: {END_TO_END} signed webhooks (acked at {}), {} SMS at the stand-in in {:.2} s = {}/s = {:.2}x the ceiling (goal >= 5,000/s); \
             serve used {:.0} µs CPU per message (its webhook, dispatch and send)",
            acked.summary(),
            sent.len(),
            elapsed.as_secs_f64(),
            common::thousands(rate),
            rate / ceiling,
            micros(cpu / u32::try_from(sent.len().max(1)).unwrap())
        );
        drop(server);
    });
}
