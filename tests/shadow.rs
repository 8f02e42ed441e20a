//! Shadow runs and deterministic replay, end to end: `serve` dispatches signed Wave webhooks to
//! `context-echo` and records what it saw and decided; `plugin shadow` then runs its next
//! version (`context-echo-v2`, which words overdue invoices differently) on the recorded events
//! and lists exactly the affected ones, and the live version replayed on them decides the same,
//! twice in a row.

mod support;

use std::path::{Path, PathBuf};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::Site;

const SECRET: &str = "whsec-e2e-shadow";

fn wasm(name: &str) -> PathBuf {
    Path::new(env!("ML_CONNECTOR_WASM_DIR")).join(format!("{name}.wasm"))
}

fn fixture(kind: &str, event_id: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/events/wave/{kind}.json"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    v.to_string()
}

/// Runs `plugin shadow ARGS…`: its exit code and stdout.
fn shadow(site: &Site, args: &[&str]) -> (Option<i32>, String) {
    let out = site.cmd(&[&["plugin", "shadow"], args].concat()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_run_lists_exactly_the_events_a_new_version_decides_differently_and_a_replay_is_identical() {
    let live = wasm("context_echo");
    let site = Site::new("", &format!("[[plugins]]\npath = \"{}\"\nallow_to = [\"team:audit\"]\n", live.display()));
    site.set_secret("wave.webhook_secret", SECRET);
    let server = site.start();
    let events = [("invoice.overdue", "evt-overdue-1"), ("invoice.paid", "evt-paid-1"), ("invoice.paid", "evt-paid-2"), ("invoice.overdue", "evt-overdue-2")];
    for (kind, id) in events {
        let body = fixture(kind, id);
        let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
        let resp = reqwest::Client::new().post(format!("{}/webhooks/wave", server.base)).header("x-wave-signature", header).body(body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let s = &site;
    tokio::task::block_in_place(|| {
        s.wait_for("every event to be dispatched", || {
            let listed = s.json(&["events", "list", "--json"]);
            listed.as_array().unwrap().len() == 4 && listed.as_array().unwrap().iter().all(|e| e["status"] == "dispatched")
        })
    });
    drop(server);

    // The next version differs on the two overdue invoices only, with a word diff of each body.
    let v2 = wasm("context_echo_v2");
    let (code, out) = shadow(&site, &[v2.to_str().unwrap(), "--against", "context-echo"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("event evt-overdue-1 (invoice.overdue)") && out.contains("event evt-overdue-2 (invoice.overdue)"), "{out}");
    assert!(!out.contains("evt-paid"), "{out}");
    assert!(out.contains("{+OVERDUE"), "{out}");
    assert!(out.contains("2 of 4 event(s) decided differently"), "{out}");
    let (_, json_out) = shadow(&site, &[v2.to_str().unwrap(), "--against", "context-echo", "--json"]);
    let report: Value = serde_json::from_str(&json_out).unwrap();
    let mut ids: Vec<&str> = report["differences"].as_array().unwrap().iter().map(|d| d["event_id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["evt-overdue-1", "evt-overdue-2"]);
    assert_eq!(report["differences"][0]["changed"].as_array().unwrap().len(), 1);

    // Filters: only paid invoices (none differ), only the newest event.
    let (code, out) = shadow(&site, &[v2.to_str().unwrap(), "--against", "context-echo", "--kind", "invoice.paid"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 of 2 event(s)"), "{out}");
    let (code, out) = shadow(&site, &[v2.to_str().unwrap(), "--against", "context-echo", "--last", "1"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("1 of 1 event(s)") && out.contains("evt-overdue-2"), "{out}");

    // The live version replayed on its own recorded inputs decides the same, twice in a row.
    for _ in 0..2 {
        let (code, out) = shadow(&site, &[live.to_str().unwrap(), "--against", "context-echo"]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("0 of 4 event(s)"), "{out}");
    }
    // Shadow runs write nothing: the outbox is as the dispatch left it.
    let outbox = site.json(&["outbox", "list", "--json"]);
    assert!(outbox.as_array().unwrap().iter().all(|m| m["body"].as_str().is_none_or(|b| !b.starts_with("OVERDUE"))));
}
