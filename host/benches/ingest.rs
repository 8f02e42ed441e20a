//! Durable ingest throughput: `cargo bench -p ml-connector --bench ingest`.
//!
//! Starts the real `ml-connector serve` on 127.0.0.1 with a fresh store and
//! posts signed Wave webhooks (each a new event id) from 64 concurrent
//! connections on the same machine, then prints verified, committed
//! webhooks per second and latency percentiles. Every 2xx means the event
//! was fsynced (SQLite WAL, synchronous=FULL). Numbers are printed, never asserted.

use std::sync::Arc;
use std::time::Instant;

use ml_connector::sources::wave::signature;

#[path = "../../tests/support/site.rs"]
#[allow(dead_code)] // the bench uses a subset of the test harness
mod site;
#[path = "../../tests/support/secret_logs.rs"]
#[allow(dead_code)]
mod secret_logs;
use site::Site;

const SECRET: &str = "bench-secret";
const CONNECTIONS: usize = 64;
const REQUESTS: usize = 60_000;

fn main() {
    let site = Site::new("", "");
    site.set_secret("wave.webhook_secret", SECRET);
    let server = site.start();
    let url = format!("{}/webhooks/wave", server.base);

    // Bodies and signatures are prepared up front: the clock is timed on the server's work.
    let t = chrono::Utc::now().timestamp();
    let requests: Arc<Vec<(String, String)>> = Arc::new(
        (0..REQUESTS)
            .map(|i| {
                let body = format!(
                    r#"{{"business_id":"63c77f29-875c-4cdc-947d-07430f628043","data":{{"amount_paid":"8.98","currency_code":"USD","customer_id":"21840161","invoice_id":"{i}","paid_date":"2026-04-29","remaining_balance":"0.00"}},"event_id":"bench-{i}","event_type":"bench.ingest"}}"#
                );
                let sig = signature::sign(SECRET, t, body.as_bytes());
                (body, sig)
            })
            .collect(),
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (elapsed, mut latencies) = rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (client, url, requests, next) = (client.clone(), url.clone(), requests.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((body, sig)) = requests.get(i) else { break latencies };
                    let t0 = Instant::now();
                    let resp = client.post(&url).header("x-wave-signature", sig).body(body.clone()).send().await.unwrap();
                    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
                    resp.bytes().await.unwrap();
                    latencies.push(t0.elapsed());
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        (started.elapsed(), all)
    });
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "durable ingest: {REQUESTS} signed webhooks over {CONNECTIONS} connections in {:.2} s = {:.0} webhooks/s (p50 {:.2} ms, p99 {:.2} ms)",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    drop(server);
}
