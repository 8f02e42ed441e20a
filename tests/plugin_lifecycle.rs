//! A plugin's lifecycle in a running `serve`, end to end: installed, upgraded, rolled back and
//! disabled with the CLI while signed webhooks keep arriving. Every event is dispatched to it
//! exactly once, on the version that was live when its dispatch began: v1, then v2, then v1
//! again, then not at all; the recorded runs agree (a shadow run of v1 finds exactly the events
//! v2 decided). Installed under another name (`--name`), the same component runs as that name.

mod support;

use std::path::{Path, PathBuf};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::{Server, Site};

const SECRET: &str = "whsec-e2e-lifecycle";

fn wasm(name: &str) -> PathBuf {
    Path::new(env!("ML_CONNECTOR_WASM_DIR")).join(format!("{name}.wasm"))
}

async fn post_overdue(server: &Server, event_id: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave/invoice.overdue.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    let body = v.to_string();
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let resp = reqwest::Client::new().post(format!("{}/webhooks/wave", server.base)).header("x-wave-signature", header).body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// Waits until `n` events are stored and dispatched.
fn dispatched(site: &Site, n: usize) {
    tokio::task::block_in_place(|| {
        site.wait_for("the events to be dispatched", || {
            let events = site.json(&["events", "list", "--json", "--limit", "1000"]);
            events.as_array().unwrap().len() == n && events.as_array().unwrap().iter().all(|e| e["status"] == "dispatched")
        })
    });
}

/// Runs a plugin lifecycle command, then waits until `serve` says it switched (its `n`th switch).
/// The events sent before are dispatched first, so which version each one meets is known.
fn change(site: &Site, server: &Server, args: &[&str], n: usize, sent: &[String]) {
    dispatched(site, sent.len());
    let out = site.stdout(&[&["plugin"], args].concat());
    assert!(out.contains("switches within seconds"), "{out}");
    tokio::task::block_in_place(|| site.wait_for("serve to switch plugins", || server.log_count("Plugins changed in the store") >= n));
}

#[tokio::test(flavor = "multi_thread")]
async fn install_upgrade_rollback_and_disable_take_effect_in_a_running_serve_with_every_event_run_once() {
    // Installed plugins that no [[plugins]] entry names get these grants; context-echo messages team:audit.
    let site = Site::new("", "[installed_plugins]\nallow_to = [\"team:audit\"]\n");
    site.set_secret("wave.webhook_secret", SECRET);
    let server = site.start();
    let (v1, v2) = (wasm("context_echo"), wasm("context_echo_v2"));
    let healthz = || async { reqwest::get(format!("{}/healthz", server.base)).await.unwrap().json::<Value>().await.unwrap()["plugins"].as_u64().unwrap() };
    let built_ins = healthz().await;

    change(&site, &server, &["install", v1.to_str().unwrap()], 1, &[]);
    assert_eq!(healthz().await, built_ins + 1);
    let mut sent = Vec::new();
    let send = async |from: usize, to: usize, sent: &mut Vec<String>| {
        for i in from..to {
            let id = format!("evt-life-{i:03}");
            post_overdue(&server, &id).await;
            sent.push(id);
        }
    };
    send(0, 10, &mut sent).await;
    change(&site, &server, &["upgrade", "context-echo", v2.to_str().unwrap()], 2, &sent);
    send(10, 20, &mut sent).await;
    let refused = site.cmd(&["plugin", "upgrade", "invoice-paid", v2.to_str().unwrap()]).output().unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("is the plugin context-echo, not invoice-paid"));
    change(&site, &server, &["rollback", "context-echo"], 3, &sent);
    send(20, 30, &mut sent).await;
    change(&site, &server, &["disable", "context-echo"], 4, &sent);
    assert_eq!(healthz().await, built_ins);
    send(30, 35, &mut sent).await;
    // The same component under another name runs beside (or instead of) the one it was built as.
    change(&site, &server, &["install", v2.to_str().unwrap(), "--name", "echo-two"], 5, &sent);
    assert_eq!(healthz().await, built_ins + 1);
    send(35, 37, &mut sent).await;
    let refused = site.cmd(&["plugin", "install", v1.to_str().unwrap(), "--name", "echo two"]).output().unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--name \"echo two\""), "{refused:?}");
    // Renamed, it takes an upgrade whatever its manifest's name.
    change(&site, &server, &["upgrade", "echo-two", v1.to_str().unwrap()], 6, &sent);

    dispatched(&site, sent.len());
    drop(server);

    // One context-echo message per event while it ran, on the version live at its dispatch.
    let outbox = site.json(&["outbox", "list", "--json", "--limit", "1000"]);
    let echo: Vec<(&str, &str)> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["plugin"] == "context-echo")
        .map(|m| (m["event_id"].as_str().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    let version = |id: &str| {
        let bodies: Vec<&str> = echo.iter().filter(|(e, _)| *e == id).map(|(_, b)| *b).collect();
        match bodies[..] {
            [] => "none",
            [b] if b.starts_with("OVERDUE") => "v2",
            [_] => "v1",
            _ => panic!("{id} ran {} times: {bodies:?}", bodies.len()),
        }
    };
    let versions: Vec<&str> = sent.iter().map(|id| version(id)).collect();
    let expected: Vec<&str> = [["v1"; 10], ["v2"; 10], ["v1"; 10]].concat().into_iter().chain(["none"; 7]).collect();
    assert_eq!(versions, expected);
    let mut renamed: Vec<(&str, &str)> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["plugin"] == "echo-two")
        .map(|m| (m["event_id"].as_str().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    renamed.sort();
    assert_eq!(renamed.iter().map(|(e, _)| *e).collect::<Vec<_>>(), ["evt-life-035", "evt-life-036"], "{renamed:?}");
    assert!(renamed.iter().all(|(_, body)| body.starts_with("OVERDUE")), "{renamed:?}");

    // Each message names the version that wrote it.
    let digest = |path: &PathBuf| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(path).unwrap()));
    for (event, wasm) in [("evt-life-005", &v1), ("evt-life-015", &v2), ("evt-life-025", &v1)] {
        let message = site.audit(&["--event", event]).into_iter().find(|m| m["plugin"] == "context-echo").unwrap();
        assert_eq!(message["plugin_version"], digest(wasm), "{event}");
    }

    // The recorded runs say the same: v1 replayed on them differs exactly where v2 decided.
    let out = site.cmd(&["plugin", "shadow", v1.to_str().unwrap(), "--against", "context-echo", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut differing: Vec<&str> = report["differences"].as_array().unwrap().iter().map(|d| d["event_id"].as_str().unwrap()).collect();
    differing.sort();
    assert_eq!(differing, sent[10..20].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(report["events"], 30);
}
