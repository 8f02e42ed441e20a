//! Scale-out throughput: `cargo bench -p ml-connector --bench replicas`.
//!
//! In one run, on one machine: one `serve` on SQLite, then one and three `serve` replicas of the
//! real binary on one PostgreSQL database. A load generator in this process posts signed Wave
//! `invoice.overdue` webhooks (each a new event id) from 32 concurrent connections, spread
//! round-robin over the replicas as a load balancer would; every replica runs the whole
//! pipeline (default plugins dispatching, the live Twilio sender) against a local Twilio
//! stand-in (a real HTTP server on 127.0.0.1) with the rate limit set out of the way. Each event
//! gives one team call, sent to the stand-in, and one customer SMS, which fails at once (no
//! customer number without Wave enrichment). Prints, per setup: events acknowledged per second
//! (every 2xx is committed), and calls sent per second from the first webhook until the last
//! call reached the stand-in (the outbox drained), with the duplicates seen there. Numbers are
//! printed, never asserted.
//!
//! PostgreSQL comes from `ML_CONNECTOR_TEST_POSTGRES_URL` (a URL whose user may create
//! databases); unset, the bench starts a throwaway server with `scripts/postgres` and stops it
//! at the end. `ML_CONNECTOR_TEST_REPLICAS_EVENTS` sets the events per setup (2000).

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};

#[path = "../../tests/support/site.rs"]
#[allow(dead_code)] // the bench uses a subset of the test harness
mod site;
#[path = "../../tests/support/secret_logs.rs"]
#[allow(dead_code)]
mod secret_logs;
#[path = "../../tests/twilio_support/mod.rs"]
mod twilio_support;

use site::Site;
use twilio_support::{ACCOUNT, FROM, Twilio};

const SECRET: &str = "bench-replicas-secret";
const TEAM: &str = "+14155552671";
const CONNECTIONS: usize = 32;
/// Far above what the stand-in can take: the limiter is out of the way (it cannot be 0).
const RATE: u32 = 1_000_000;

fn main() {
    let events: usize = std::env::var("ML_CONNECTOR_TEST_REPLICAS_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let postgres = Postgres::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{}", machine());
    println!(
        "{events} signed invoice.overdue webhooks per setup over {CONNECTIONS} connections, round-robin over the replicas; \
         each gives one call to the Twilio stand-in (limiter off) and one SMS failed at once; load generator, stand-in, \
         replicas and PostgreSQL share this machine"
    );
    let mut rows = Vec::new();
    for (backend, replicas) in [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 3)] {
        let db = (backend == "PostgreSQL").then(|| postgres.database(&rt));
        let row = rt.block_on(run(backend, replicas, db.as_ref().map(|d| d.url.as_str()), events));
        if let Some(db) = db {
            postgres.drop_database(&rt, db);
        }
        eprintln!("{row:?}");
        rows.push(row);
    }
    println!();
    println!("| backend | replicas | events acked/s | ingest s | 503 retried | calls sent/s | drained at s | duplicates at Twilio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {} | {:.0} | {:.2} | {} |",
            r.backend,
            r.replicas,
            r.events as f64 / r.acked.as_secs_f64(),
            r.acked.as_secs_f64(),
            r.busy,
            r.calls as f64 / r.drained.as_secs_f64(),
            r.drained.as_secs_f64(),
            r.duplicates
        );
    }
}

/// One setup's measurements.
#[derive(Debug)]
struct Row {
    backend: &'static str,
    replicas: usize,
    events: usize,
    /// From the first webhook until every one was acknowledged.
    acked: Duration,
    /// 503 answers (ingest queue full), each tried again.
    busy: usize,
    /// Distinct calls the stand-in received.
    calls: usize,
    /// From the first webhook until the last call reached the stand-in.
    drained: Duration,
    /// Calls the stand-in received more than once (by outbox id).
    duplicates: usize,
}

async fn run(backend: &'static str, replicas: usize, url: Option<&str>, events: usize) -> Row {
    let (twilio, base) = Twilio::start().await;
    let site = Site::new(
        "public_url = \"https://connector.example.com\"",
        &format!(
            "{}lease_secs = 10\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{base}\"\nlookups_base = \"{base}\"\n\
             mode = \"live\"\nmessages_per_second = {RATE}\n[team]\naccounting = \"{TEAM}\"\n",
            url.map(|u| format!("url = \"{u}\"\n")).unwrap_or_default()
        ),
    );
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("twilio.auth_token", "token-bench");
    let servers: Vec<Replica> = (0..replicas).map(|_| Replica::start(&site)).collect();
    let urls: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| format!("{}/webhooks/wave", s.base)).collect());

    // Bodies and signatures are prepared up front: the clock runs on the servers' work.
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave/invoice.overdue.json")).unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let requests: Arc<Vec<(String, String)>> = Arc::new(
        (0..events)
            .map(|i| {
                let mut v = fixture.clone();
                v["event_id"] = json!(format!("bench-{backend}-{replicas}-{i}"));
                v["data"]["invoice_id"] = json!(i.to_string());
                let body = v.to_string();
                let sig = signature::sign(SECRET, now, body.as_bytes());
                (body, sig)
            })
            .collect(),
    );

    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).timeout(Duration::from_secs(60)).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, urls, requests, next, busy) = (client.clone(), urls.clone(), requests.clone(), next.clone(), busy.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, sig)) = requests.get(i) else { break };
                    // A full ingest queue answers 503: try again shortly, as a load balancer would.
                    loop {
                        let resp = client.post(&urls[i % urls.len()]).header("x-wave-signature", sig).body(body.clone()).send().await.unwrap();
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        if status == 503 {
                            busy.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        assert_eq!(status, 200, "{text}");
                        break;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let acked = started.elapsed();

    // Drained: a call for every event at the stand-in (a liveness bound, not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut drained = started.elapsed();
    loop {
        // Counted in place: copying every request each time would take the cores being measured.
        let (count, last) = {
            let requests = twilio.requests.lock().unwrap();
            let mut posts = requests.iter().filter(|r| r.method == "POST");
            let count = posts.clone().count();
            (count, posts.next_back().map(|p| p.at))
        };
        if count >= events {
            drained = last.map_or(drained, |at| at.duration_since(started));
            break;
        }
        assert!(Instant::now() < deadline, "only {count} of {events} calls reached the stand-in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything sent twice shows up meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = twilio.posts();
    let outbox_ids: HashSet<String> = posts
        .iter()
        .map(|p| {
            let callback = p.param("StatusCallback").unwrap_or_default();
            callback.split(['?', '&']).find_map(|kv| kv.strip_prefix("outbox=")).unwrap_or_default().to_owned()
        })
        .collect();
    drop(servers);
    let busy = busy.load(Ordering::Relaxed);
    Row { backend, replicas, events, acked, busy, calls: outbox_ids.len(), drained, duplicates: posts.len() - outbox_ids.len() }
}

/// A running `serve`, logging warnings only (killed on drop).
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    /// Starts `serve` on `site` and waits until it listens.
    fn start(site: &Site) -> Replica {
        let mut child = site
            .cmd(&["serve"])
            .env("ML_CONNECTOR_LOG", "warn,ml_connector::app=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                } else if !line.contains(" INFO ") {
                    eprintln!("[serve] {line}");
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(120)).expect("serve did not start listening");
        Replica { child, base: format!("http://{addr}") }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PostgreSQL server: the one `ML_CONNECTOR_TEST_POSTGRES_URL` names, or a throwaway one
/// from `scripts/postgres` (stopped and deleted on drop).
struct Postgres {
    admin: String,
    /// The throwaway server's state file, when this bench started it.
    state: Option<std::path::PathBuf>,
}

/// A database of the bench's own.
struct Database {
    url: String,
    name: String,
}

impl Postgres {
    fn start() -> Postgres {
        if let Some(url) = std::env::var("ML_CONNECTOR_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
            return Postgres { admin: url, state: None };
        }
        eprintln!("ML_CONNECTOR_TEST_POSTGRES_URL is unset: starting a throwaway PostgreSQL with scripts/postgres");
        let state = std::env::temp_dir().join(format!("ml-connector-bench-pg-{}", std::process::id()));
        let out = Postgres::script("start", &state).output().expect("run scripts/postgres");
        assert!(
            out.status.success(),
            "scripts/postgres start failed (it needs Debian's postgresql package or apt-get to install it; or set \
             ML_CONNECTOR_TEST_POSTGRES_URL to a server whose user may create databases): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let admin = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export ML_CONNECTOR_TEST_POSTGRES_URL="))
            .expect("scripts/postgres printed the server's URL")
            .to_owned();
        Postgres { admin, state: Some(state) }
    }

    fn script(command: &str, state: &std::path::Path) -> Command {
        let mut cmd = Command::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres"));
        cmd.arg(command).env("ML_CONNECTOR_TEST_POSTGRES_STATE", state);
        cmd
    }

    /// A new, empty database.
    fn database(&self, rt: &tokio::runtime::Runtime) -> Database {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(execute(&self.admin, &format!("CREATE DATABASE {name}"))).expect("create the bench database");
        let prefix = self.admin.split_once('?').map_or(self.admin.as_str(), |(p, _)| p);
        let root = prefix.rsplit_once('/').map_or(prefix, |(root, _)| root);
        Database { url: format!("{root}/{name}"), name }
    }

    fn drop_database(&self, rt: &tokio::runtime::Runtime, db: Database) {
        if let Err(e) = rt.block_on(execute(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name))) {
            eprintln!("could not drop the bench database {}: {e}", db.name);
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            let _ = Postgres::script("stop", state).status();
        }
    }
}

/// Runs `sql` on its own connection to `url`.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let done = client.batch_execute(sql).await;
    drop(client);
    driver.await.ok();
    done
}

/// `cores, CPU model` of this machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())))
        .unwrap_or_else(|| "unknown CPU".into());
    format!("machine: {cores} cores, {model}")
}
