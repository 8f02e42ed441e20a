//! `ml-connector serve` end to end: the real binary on 127.0.0.1, real
//! SQLite, real plugins, signed requests over real HTTP.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::Site;

const SECRET: &str = "whsec-e2e-7f3a9c1b5d";

/// A site with the webhook secret stored.
fn wave_site(extra_config: &str) -> Site {
    let site = Site::new("", extra_config);
    site.set_secret("wave.webhook_secret", SECRET);
    site
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sample(kind: &str, event_id: &str) -> String {
    let path = support::tests_dir().join(format!("fixtures/events/wave/{kind}.json"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    v.to_string()
}

async fn post(base: &str, body: &str, header: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{base}/webhooks/wave")).body(body.to_string());
    if let Some(h) = header {
        req = req.header("x-wave-signature", h);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post_signed(base: &str, body: &str) -> (u16, Value) {
    post(base, body, Some(signature::sign(SECRET, now(), body.as_bytes()))).await
}

fn events(site: &Site) -> Vec<Value> {
    site.json(&["events", "list", "--json"]).as_array().unwrap().clone()
}

fn outbox(site: &Site) -> Vec<Value> {
    site.json(&["outbox", "list", "--json"]).as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_event_is_stored_dispatched_and_its_messages_reach_the_outbox() {
    let site = wave_site("");
    let server = site.start();
    let (status, body) = post_signed(&server.base, &sample("invoice.overdue", "evt-overdue-1")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("accepted")), "{body}");

    site.wait_for("the event to be dispatched", || {
        events(&site).iter().any(|e| e["id"] == "evt-overdue-1" && e["status"] == "dispatched")
    });
    let rows: Vec<Value> = outbox(&site).into_iter().filter(|r| r["event_id"] == "evt-overdue-1").collect();
    let mut got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r["plugin"].as_str().unwrap().into(), r["channel"].as_str().unwrap().into(), r["to"].as_str().unwrap().into()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("invoice-overdue".into(), "call".into(), "team:accounting".into()),
            ("invoice-overdue".into(), "sms".into(), "customer".into()),
        ]
    );

    let health: Value = reqwest::get(format!("{}/healthz", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["plugins"], ml_connector::builtin::all().len(), "every default plugin is loaded");
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ml_connector_events_received_total{source=\"wave\"} 1"), "{metrics}");
    assert!(metrics.contains("ml_connector_plugin_invocations_total{plugin=\"invoice-overdue\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_status_wave_expects_and_store_nothing() {
    let site = wave_site("");
    let server = site.start();
    let base = server.base.as_str();
    let body = sample("invoice.paid", "evt-bad-1");
    let t = now();

    let tampered = body.replace("8.98", "9.98");
    let cases: Vec<(&str, String, Option<String>, u16)> = vec![
        ("tampered body", tampered.clone(), Some(signature::sign(SECRET, t, body.as_bytes())), 401),
        ("wrong secret", body.clone(), Some(signature::sign("not-the-secret", t, body.as_bytes())), 401),
        ("stale timestamp", body.clone(), Some(signature::sign(SECRET, t - 301, body.as_bytes())), 401),
        ("future timestamp", body.clone(), Some(signature::sign(SECRET, t + 301, body.as_bytes())), 401),
        ("malformed header", body.clone(), Some("v1=deadbeef".into()), 401),
        ("garbage header", body.clone(), Some("t=abc,v1=zz".into()), 401),
        ("missing header", body.clone(), None, 401),
        ("invalid JSON", "{\"event_id\":".into(), Some(signature::sign(SECRET, t, b"{\"event_id\":")), 400),
        ("not an event", "{\"hello\":1}".into(), Some(signature::sign(SECRET, t, b"{\"hello\":1}")), 400),
    ];
    for (what, body, header, expected) in cases {
        let (status, reply) = post(base, &body, header).await;
        assert_eq!(status, expected, "{what}: {reply}");
        assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: no error message in {reply}");
    }

    // 256 KiB is the limit: a signed body just above it is refused before parsing.
    let padding = "x".repeat(256 * 1024);
    let big = format!(r#"{{"event_id":"evt-big","event_type":"invoice.paid","business_id":"b","data":{{"pad":"{padding}"}}}}"#);
    let (status, _) = post_signed(base, &big).await;
    assert_eq!(status, 413);

    assert!(events(&site).is_empty(), "a refused request was stored");
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    for reason in ["bad_signature", "stale", "malformed_signature", "missing_signature", "invalid_body", "too_large"] {
        assert!(metrics.contains(&format!("reason=\"{reason}\"")), "{reason} not counted:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_event_id_is_acknowledged_and_changes_nothing() {
    let site = wave_site("");
    let server = site.start();
    let body = sample("invoice.paid", "evt-dup-1");
    assert_eq!(post_signed(&server.base, &body).await.1["status"], "accepted");
    site.wait_for("dispatch", || events(&site).iter().any(|e| e["status"] == "dispatched"));
    // The sender works concurrently: snapshot only once it is done with the message.
    site.wait_for("the sender", || outbox(&site).iter().all(|m| m["status"] != "pending" && m["status"] != "sending"));
    let before = (events(&site), outbox(&site));
    for _ in 0..3 {
        let (status, reply) = post_signed(&server.base, &body).await;
        assert_eq!((status, reply["status"].as_str()), (200, Some("duplicate")));
    }
    assert_eq!((events(&site), outbox(&site)), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_event_kinds_are_accepted_and_stored() {
    let site = wave_site("");
    let server = site.start();
    let body = r#"{"event_id":"evt-new-kind","event_type":"product.created","business_id":"b","data":{"product_id":"9"}}"#;
    let (status, reply) = post_signed(&server.base, body).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("accepted")));
    site.wait_for("dispatch", || events(&site).iter().any(|e| e["id"] == "evt-new-kind" && e["status"] == "dispatched"));
    assert!(outbox(&site).is_empty(), "no default plugin subscribes to product.created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loses_nothing_that_was_acknowledged() {
    // A slow plugin (each event runs into its 50 ms deadline) keeps events
    // pending long enough for the kill to land mid-dispatch.
    let wasm = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("misbehave.wasm");
    let site = wave_site(&format!("[builtin_plugins]\nenabled = false\n[[plugins]]\npath = \"{}\"\n[[plugins]]\nname = \"invoice-paid\"\n", wasm.display()));
    let server = site.start();
    let mut acknowledged = Vec::new();
    for i in 0..30 {
        let id = format!("evt-crash-{i}");
        let body = format!(r#"{{"event_id":"{id}","event_type":"test.loop","business_id":"b","data":{{}}}}"#);
        assert_eq!(post_signed(&server.base, &body).await.0, 200);
        acknowledged.push(id);
    }
    let paid = sample("invoice.paid", "evt-crash-paid");
    assert_eq!(post_signed(&server.base, &paid).await.0, 200);
    acknowledged.push("evt-crash-paid".into());
    server.kill(); // SIGKILL: no graceful anything

    let stored = events(&site);
    for id in &acknowledged {
        assert!(stored.iter().any(|e| &e["id"] == id), "{id} was acknowledged but lost");
    }
    let server = site.start();
    site.wait_for("every event to be dispatched after the restart", || {
        let all = events(&site);
        all.len() == acknowledged.len() && all.iter().all(|e| e["status"] != "pending")
    });
    for e in events(&site) {
        if e["kind"] == "test.loop" {
            assert_eq!(e["status"], "failed", "{e}");
            let failures = e["failures"].as_array().unwrap();
            assert!(failures.iter().any(|f| f["cause"] == "deadline exceeded after 50 ms"), "{e}");
        }
    }
    assert_eq!(outbox(&site).iter().filter(|r| r["event_id"] == "evt-crash-paid").count(), 1);
    drop(server);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let site = wave_site("");
    let mut server = site.start();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn secrets_never_reach_the_database_in_plaintext() {
    let site = wave_site("");
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(site.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("connector.db") && path.is_file() {
            raw.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!raw.is_empty());
    assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the webhook secret is in the db in plaintext");
}

#[test]
fn startup_errors_name_the_problem() {
    let site = wave_site("");
    std::fs::write(site.config(), "[server]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n").unwrap();
    let out = site.cmd(&["serve"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ml-connector.toml") && err.contains("listne"), "{err}");

    let other = wave_site("");
    let out = other.cmd(&["serve"]).env_remove("ML_CONNECTOR_MASTER_KEY").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds encrypted secrets but no master key"), "{err}");
}

#[test]
fn a_custom_plugin_runs_beside_the_built_ins_and_serve_and_plugin_list_say_why() {
    let wasm = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("counter.wasm");
    let site = wave_site(&format!("[[plugins]]\npath = \"{}\"\n[[plugins]]\nname = \"invoice-paid\"\nenabled = false\n", wasm.display()));
    let server = site.start();
    site.wait_for("the plugins to be logged", || server.log_count("Plugin not loaded.") == 1);
    // Seven built-ins (four for Wave, three for QAD; invoice-paid is disabled by its entry)
    // and the custom plugin.
    assert_eq!(server.log_count("Plugin loaded."), 8);
    assert_eq!(server.log_count("why=built-in, on by default"), 7);
    assert_eq!(server.log_count("why=file, listed in plugins[0]"), 1);
    assert_eq!(server.log_count("plugin=invoice-paid why=built-in, disabled by plugins[1] (enabled = false)"), 1);
    drop(server);

    let list = site.stdout(&["plugin", "list"]);
    assert!(list.contains("invoice-paid       not loaded: built-in, disabled by plugins[1] (enabled = false)"), "{list}");
    assert!(list.contains("loaded: file, listed in plugins[0]"), "{list}");
    assert_eq!(list.matches("loaded: built-in, on by default").count(), 7, "{list}");
}

#[test]
fn plugin_errors_name_the_config_file_and_key_and_a_mistyped_variable_is_refused() {
    let site = wave_site("[[plugins]]\nname = \"invoice-remind\"\n");
    let out = site.cmd(&["serve"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}: `plugins[0].name`: \"invoice-remind\" is not a built-in plugin", site.config().display())), "{err}");

    let site = wave_site("[[plugins]]\npath = \"missing.wasm\"\n");
    let out = site.cmd(&["serve"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}: `plugins[0].path`: cannot read plugin missing.wasm", site.config().display())), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "the cause once: {err}");

    let out = site.cmd(&["plugin", "list"]).env("ML_CONNECTOR_TWILIO_MOD", "live").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("ML_CONNECTOR_TWILIO_MOD is not a configuration key") && err.contains("did you mean ML_CONNECTOR_TWILIO_MODE?"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_cannot_commit_answers_503_so_wave_retries_and_loses_nothing() {
    let site = wave_site("");
    let server = site.start();
    // Another process holds SQLite's write lock: the receiver cannot commit.
    let blocker = rusqlite::Connection::open(site.dir.path().join("connector.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = sample("invoice.paid", "evt-locked-1");
    let (status, reply) = post_signed(&server.base, &body).await;
    assert_eq!(status, 503, "{reply}");
    blocker.execute_batch("ROLLBACK").unwrap();
    // Wave's retry then succeeds, and it is new: the refused attempt stored nothing.
    let (status, reply) = post_signed(&server.base, &body).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("accepted")), "{reply}");
}
