//! What the ingest and sender benches share: the signed-webhook load generator, the ceilings they
//! are compared with in the same run (real axum servers on 127.0.0.1, one with real rusqlite),
//! and a look at a process's memory. Numbers are printed, never asserted.
#![allow(dead_code)] // each bench uses a subset

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ml_connector::secrets::SecretString;
use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// The Wave webhook secret every bench signs with.
pub const SECRET: &str = "bench-secret";
/// Concurrent connections of the load generator.
pub const CONNECTIONS: usize = 64;
/// Events one ingest group commit takes at most (as the product's inbox).
const MAX_BATCH: usize = 512;

/// Wave webhook bodies: `n` fixtures of `kinds` in turn (`tests/fixtures/events/wave/`), each
/// with a fresh `event_id` starting with `prefix`.
pub fn wave_bodies(n: usize, prefix: &str, kinds: &[&str]) -> Vec<String> {
    let fixtures: Vec<Value> = kinds
        .iter()
        .map(|kind| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/events/wave/{kind}.json"));
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
        })
        .collect();
    (0..n)
        .map(|i| {
            let mut v = fixtures[i % fixtures.len()].clone();
            v["event_id"] = json!(format!("{prefix}-{i}"));
            v.to_string()
        })
        .collect()
}

/// `(body, x-wave-signature)` pairs, signed now: the load generator's time is spent on the wire.
pub fn signed(bodies: Vec<String>) -> Arc<Vec<(String, String)>> {
    let t = chrono::Utc::now().timestamp();
    Arc::new(
        bodies
            .into_iter()
            .map(|body| {
                let sig = signature::sign(SECRET, t, body.as_bytes());
                (body, sig)
            })
            .collect(),
    )
}

/// What a load run measured.
pub struct Load {
    /// Requests answered 200.
    pub requests: usize,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Each request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl Load {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p` quantile of the latencies.
    pub fn pct(&self, p: f64) -> Duration {
        self.latencies[((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1)]
    }

    /// `12,345/s (p50 1.20 ms, p99 9.80 ms)`.
    pub fn summary(&self) -> String {
        format!("{}/s (p50 {:.2} ms, p99 {:.2} ms)", thousands(self.rate()), ms(self.pct(0.50)), ms(self.pct(0.99)))
    }
}

/// `x` rounded, with thousands separators.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Posts every signed body to `url` over [`CONNECTIONS`] connections; every answer must be 200.
pub async fn post_all(url: &str, requests: Arc<Vec<(String, String)>>) -> Load {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, requests, next) = (client.clone(), url.to_owned(), requests.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, sig)) = requests.get(i) else { break latencies };
                let t0 = Instant::now();
                let resp = client.post(&url).header("x-wave-signature", sig).body(body.clone()).send().await.unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                assert_eq!(status, 200, "{text}");
                latencies.push(t0.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Load { requests: latencies.len(), elapsed, latencies }
}

/// Names the threads of the ceiling servers start with ([`ceiling_cpu`] finds them by it).
const CEILING_THREADS: &str = "ceiling";

/// A ceiling server on its own two-thread runtime (as `serve` has on this machine), stopped on drop.
pub struct Ceiling {
    /// `http://127.0.0.1:PORT/webhooks/wave`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(std::thread::JoinHandle::join);
    }
}

fn serve_ceiling(router: Router) -> Ceiling {
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name(CEILING_THREADS.into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name(CEILING_THREADS).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).with_graceful_shutdown(async move { stopped.await.ok(); }).await.unwrap();
        });
    }).unwrap();
    let addr = addr_rx.recv().unwrap();
    Ceiling { url: format!("http://{addr}/webhooks/wave"), stop: Some(stop), thread: Some(thread) }
}

/// The bare ceiling: an axum handler that reads the body and answers 200.
pub fn bare_axum() -> Ceiling {
    serve_ceiling(Router::new().route("/webhooks/wave", post(|_body: Bytes| async { "{}" })))
}

/// One webhook waiting for its group commit.
struct Pending {
    id: String,
    body: Bytes,
    data: String,
    done: oneshot::Sender<()>,
}

/// The storage ceiling: axum, the Wave signature checked on the raw bytes, the JSON parsed, and
/// the event group-committed to SQLite (WAL, `synchronous = FULL`, one writer thread taking
/// whatever is queued, up to 512 events a transaction) before the 200.
pub fn sqlite_group_commit(db: &Path) -> Ceiling {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, received_at INTEGER NOT NULL, body BLOB NOT NULL, data TEXT NOT NULL)")
        .unwrap();
    let (queue, mut jobs) = mpsc::channel::<Pending>(4096);
    std::thread::Builder::new().name(format!("{CEILING_THREADS}-writer")).spawn(move || {
        let mut conn = conn;
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO events (id, received_at, body, data) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
                    .unwrap();
                let now = chrono::Utc::now().timestamp_millis();
                for p in &batch {
                    insert.execute(rusqlite::params![p.id, now, &p.body[..], p.data]).unwrap();
                }
            }
            tx.commit().unwrap();
            for p in batch {
                let _ = p.done.send(());
            }
        }
    }).unwrap();
    let secrets: Arc<Vec<SecretString>> = Arc::new(vec![SecretString::from(SECRET)]);
    let router = Router::new()
        .route(
            "/webhooks/wave",
            post(|State((secrets, queue)): State<(Arc<Vec<SecretString>>, mpsc::Sender<Pending>)>, headers: HeaderMap, body: Bytes| async move {
                let header = headers.get("x-wave-signature").and_then(|h| h.to_str().ok()).unwrap_or_default();
                if signature::verify(header, &body, &secrets, chrono::Utc::now().timestamp(), 300).is_err() {
                    return (StatusCode::UNAUTHORIZED, "bad signature".to_owned());
                }
                let Ok(event) = serde_json::from_slice::<Value>(&body) else { return (StatusCode::BAD_REQUEST, "bad json".to_owned()) };
                let id = event["event_id"].as_str().unwrap_or_default().to_owned();
                let data = event["data"].to_string();
                let (done, committed) = oneshot::channel();
                if queue.send(Pending { id: id.clone(), body, data, done }).await.is_err() || committed.await.is_err() {
                    return (StatusCode::SERVICE_UNAVAILABLE, "writer gone".to_owned());
                }
                (StatusCode::OK, json!({"status": "accepted", "event_id": id}).to_string())
            }),
        )
        .with_state((secrets, queue));
    serve_ceiling(router)
}

/// A process's resident memory (VmRSS), in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) a process has used so far: `/proc/PID/stat`'s `utime` and `stime`.
/// Unlike a rate, it barely moves when other work shares the cores.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time (user + system) the ceiling servers' threads in this process have used so far (the
/// threads of a ceiling already dropped are gone): the load generator's own threads are not
/// counted.
pub fn ceiling_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.starts_with(CEILING_THREADS)))
        .filter_map(|task| stat_cpu(&std::fs::read_to_string(task.path().join("stat")).ok()?))
        .sum()
}

/// `utime + stime` of a `/proc/…/stat` line.
fn stat_cpu(stat: &str) -> Option<Duration> {
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // In USER_HZ ticks, which Linux fixes at 100 a second for user space.
    Some(Duration::from_millis(ticks * 10))
}

/// Counts rows of `sql` (a `SELECT COUNT(*) …`) in the store at `db`, read-only.
pub fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}
