//! Twilio sender throughput and latency: `cargo bench -p ml-connector --bench sender`.
//!
//! Drains outbox rows into a local Twilio stand-in (a real HTTP server on 127.0.0.1) with the
//! rate limiter off, and prints (1) messages per second for a backlog, and (2) percentiles of
//! the time from an outbox row's commit to its request reaching the stand-in while rows trickle
//! in and the sink driver runs (woken by each commit, as the dispatcher wakes it). Each message is
//! two fsynced store writes (`sending`, then `sent` with its attempt). Numbers are printed, never
//! asserted.

#[path = "../../tests/twilio_support/mod.rs"]
mod twilio_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ml_connector::config::{Config, TwilioMode};
use ml_connector::model::Channel;
use ml_connector::sinks::driver::DriverSettings;
use ml_connector::store::CustomerNumbers;
use twilio_support::*;

const BACKLOG: usize = 3_000;
const TRICKLE: usize = 1_000;
const TRICKLE_EVERY: Duration = Duration::from_millis(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let (twilio, base) = Twilio::start().await;

        // 1. Backlog throughput.
        let (_dir, store) = store();
        let messages: Vec<(Channel, &str, &str)> = (0..BACKLOG).map(|_| (Channel::Sms, "team:accounting", "bench")).collect();
        dispatch(&store, "backlog", CustomerNumbers::default(), &messages).await;
        let driver = sender(&store, Some(service(&base, Duration::from_secs(10))), settings(TwilioMode::Live));
        let started = Instant::now();
        let sent = driver.drain(None).await.unwrap();
        let elapsed = started.elapsed();
        println!("sender backlog: {sent} messages in {:.2} s = {:.0} messages/s (limiter off, one Lookups call, then cached)", elapsed.as_secs_f64(), sent as f64 / elapsed.as_secs_f64());
        assert_eq!(twilio.posts().len(), BACKLOG);

        // 2. Outbox row -> request latency, rows trickling in while the sender runs.
        let (_dir2, store) = twilio_support::store();
        let mut settings = settings(TwilioMode::Live);
        settings.driver.poll_interval = DriverSettings::from_config(&Config::default()).poll_interval;
        let poll = settings.driver.poll_interval;
        let wake = Arc::new(tokio::sync::Notify::new());
        let driver = Arc::new(sender_woken_by(&store, Some(service(&base, Duration::from_secs(10))), settings, wake.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(driver.clone().run(stopped));
        twilio.requests.lock().unwrap().clear();
        let mut inserted = HashMap::new();
        for i in 0..TRICKLE {
            let body = format!("trickle-{i}");
            dispatch(&store, &format!("t{i}"), CustomerNumbers::default(), &[(Channel::Sms, "team:accounting", body.as_str())]).await;
            wake.notify_one();
            inserted.insert(body, Instant::now());
            tokio::time::sleep(TRICKLE_EVERY).await;
        }
        while twilio.posts().len() < TRICKLE {
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
            "sender latency, outbox row -> request ({} rows, one every {:?}, woken by each commit, poll interval {:?}): p50 {:?}, p99 {:?}, max {:?}",
            latencies.len(),
            TRICKLE_EVERY,
            poll,
            pct(0.50),
            pct(0.99),
            latencies[latencies.len() - 1]
        );
    });
}
