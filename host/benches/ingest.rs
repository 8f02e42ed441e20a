//! Durable ingest with the pipeline running, beside its ceilings, and the idle footprint:
//! `cargo bench -p ml-connector --bench ingest` (or `scripts/bench` for every row at once).
//!
//! 1. Startup and idle memory: the real `ml-connector serve` with the default plugins, started
//!    a second time so its compiled plugins come from the cache: time from spawn to listening,
//!    then its resident memory after two idle seconds.
//! 2. Ceilings, measured in this run with the same load generator: a bare axum handler, and
//!    axum + the Wave signature + SQLite group commit (WAL, `synchronous = FULL`).
//! 3. That `serve` under signed Wave webhooks (a mix of invoice, estimate and customer events the
//!    default plugins act on) from 64 connections on the same machine, while the dispatcher runs
//!    the default plugins and the dry-run sender records the messages; every 2xx is fsynced. Then
//!    how long the pipeline took to finish behind the last 2xx (the dispatch backlog).
//! 4. For comparison, the same `serve` with no plugins (`[builtin_plugins] enabled = false`): the
//!    dispatcher only marks each event dispatched and nothing is sent, so the difference is what
//!    the plugins, their recorded runs, the outbox and the sender cost the acknowledgements.
//!
//! Each line also gives the server's CPU time per webhook (the ceilings' threads, the `serve`
//! process), which a shared machine disturbs less than the rates. Numbers are printed, never
//! asserted.

#[path = "../../tests/support/site.rs"]
#[allow(dead_code)] // the bench uses a subset of the test harness
mod site;
#[path = "../../tests/support/secret_logs.rs"]
#[allow(dead_code)]
mod secret_logs;
mod common;

use std::time::{Duration, Instant};

use common::*;
use site::Site;

/// Webhooks per measured run.
const REQUESTS: usize = 40_000;
/// Webhooks sent first to each server, not measured (connections, caches, page cache).
const WARMUP: usize = 2_000;
/// What the webhooks are: each kind is acted on by at least one default plugin.
/// (`invoice.sent` is left out: without a Wave connection its plugin has no invoice details.)
const KINDS: &[&str] = &["invoice.paid", "estimate.accepted", "invoice.overdue", "customer.created"];

fn main() {
    // Dry run (the default mode): each message is resolved, previewed and recorded, not sent.
    const TWILIO: &str = "[twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nfrom = \"+15005550006\"\n[team]\naccounting = \"+14155552671\"\n";
    let site = Site::new("", TWILIO);
    site.set_secret("wave.webhook_secret", SECRET);
    // 1. Footprint. The first start compiles the default plugins into the cache.
    drop(site.start());
    let started = Instant::now();
    let server = site.start();
    let startup = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_mib(server.child.id()).unwrap_or(f64::NAN);
    println!("startup, compiled plugins cached: {:.0} ms from spawn to listening (goal <= 200 ms)", ms(startup));
    println!("idle RSS, default plugins loaded: {rss:.1} MiB (goal <= 60 MiB)");

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let db_dir = tempfile::tempdir().unwrap();
    let (bare, ceiling, served) = rt.block_on(async {
        let warm = |prefix: &str| signed(wave_bodies(WARMUP, prefix, KINDS));
        let measured = |prefix: &str| signed(wave_bodies(REQUESTS, prefix, KINDS));

        // 2. Ceilings.
        let bare = {
            let server = bare_axum();
            post_all(&server.url, warm("warm-bare")).await;
            with_cpu(ceiling_cpu, post_all(&server.url, measured("bare"))).await
        };
        let ceiling = {
            let server = sqlite_group_commit(&db_dir.path().join("ceiling.db"));
            post_all(&server.url, warm("warm-ceiling")).await;
            with_cpu(ceiling_cpu, post_all(&server.url, measured("ceiling"))).await
        };

        // 3. The product, pipeline running.
        let url = format!("{}/webhooks/wave", server.base);
        post_all(&url, warm("warm-serve")).await;
        let served = with_cpu(serve_cpu(&server), post_all(&url, measured("serve"))).await;
        (bare, ceiling, served)
    });
    let acked = Instant::now();
    let db = site.dir.path().join("connector.db");
    let open = |sql: &str| count(&db, sql);
    let events_left = "SELECT COUNT(*) FROM events WHERE status = 'pending'";
    let messages_left = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')";
    let (backlog_events, backlog_messages) = (open(events_left), open(messages_left));
    site.wait_for("the pipeline to finish", || open(events_left) == 0 && open(messages_left) == 0);
    let drained = acked.elapsed();
    let (events, messages) = (open("SELECT COUNT(*) FROM events"), open("SELECT COUNT(*) FROM outbox"));
    let by_status = {
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status").unwrap();
        let rows = stmt.query_map([], |row| Ok(format!("{} {}", row.get::<_, String>(0)?, row.get::<_, i64>(1)?))).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join(", ")
    };
    drop(server);

    // 4. No plugins: ingest with only the dispatcher's bookkeeping behind it.
    let quiet = Site::new("", &format!("{TWILIO}[builtin_plugins]\nenabled = false\n"));
    quiet.set_secret("wave.webhook_secret", SECRET);
    let server = quiet.start();
    let unplugged = rt.block_on(async {
        let url = format!("{}/webhooks/wave", server.base);
        post_all(&url, signed(wave_bodies(WARMUP, "warm-quiet", KINDS))).await;
        with_cpu(serve_cpu(&server), post_all(&url, signed(wave_bodies(REQUESTS, "quiet", KINDS)))).await
    });
    drop(server);

    let (bare, bare_cpu) = bare;
    let (ceiling, ceiling_cpu) = ceiling;
    let (served, served_cpu) = served;
    let (unplugged, unplugged_cpu) = unplugged;
    let per = |load: &Load, cpu: Duration| cpu.as_secs_f64() * 1e6 / load.requests as f64;
    println!(
        "ceiling, bare axum handler: {} {REQUESTS} webhooks over {CONNECTIONS} connections; server CPU {:.1} µs per webhook",
        bare.summary(),
        per(&bare, bare_cpu)
    );
    println!(
        "ceiling, axum + signature + SQLite group commit: {} = {:.2}x bare axum; server CPU {:.1} µs per webhook",
        ceiling.summary(),
        ceiling.rate() / bare.rate(),
        per(&ceiling, ceiling_cpu)
    );
    println!(
        "durable ingest, serve with default plugins dispatching and the dry-run sender draining: {} = {:.2}x the SQLite ceiling (goal >= 0.8x and >= 20,000/s), {:.2}x bare axum; serve CPU {:.1} µs per webhook = {:.2}x the SQLite ceiling's",
        served.summary(),
        served.rate() / ceiling.rate(),
        served.rate() / bare.rate(),
        per(&served, served_cpu),
        per(&served, served_cpu) / per(&ceiling, ceiling_cpu)
    );
    println!(
        "  behind the last 2xx: {backlog_events} events and {backlog_messages} messages still to do, finished {:.2} s later; {events} events stored, {messages} outbox rows ({by_status})",
        drained.as_secs_f64()
    );
    println!(
        "for comparison, serve with no plugins (the dispatcher only marks events dispatched, nothing to send): {} = {:.2}x the SQLite ceiling, serve CPU {:.1} µs per webhook; with the pipeline running serve acked {:.2}x that",
        unplugged.summary(),
        unplugged.rate() / ceiling.rate(),
        per(&unplugged, unplugged_cpu),
        served.rate() / unplugged.rate()
    );
}

/// A `serve` process's CPU time so far (user + system).
fn serve_cpu(server: &site::Server) -> impl Fn() -> Duration {
    let pid = server.child.id();
    move || cpu_time(pid).unwrap_or_default()
}

/// Runs `load`, with the CPU time `cpu` counted meanwhile (a server's, not the load generator's).
async fn with_cpu(cpu: impl Fn() -> Duration, load: impl std::future::Future<Output = Load>) -> (Load, Duration) {
    let before = cpu();
    let load = load.await;
    (load, cpu().saturating_sub(before))
}
