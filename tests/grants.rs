//! Plugin grants (`allow_to`) end to end: the real `serve` on real SQLite with the production
//! runtime. A plugin's message to a recipient it is not granted fails that plugin for the event
//! (recorded, visible in `events list`) and writes no outbox row; granted recipients pass; a
//! built-in's default grant follows its settings.

mod support;

use std::path::Path;

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::Site;

const SECRET: &str = "whsec-e2e-grants-5d1e";
const GRANTS: &str = r#"["customer", "team:accounting", "number:+14155552671"]"#;

async fn post_signed(base: &str, body: &str) {
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let resp = reqwest::Client::new().post(format!("{base}/webhooks/wave")).header("x-wave-signature", header).body(body.to_owned()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// A `test.to` event: misbehave sends one SMS to `to`.
fn addressed(id: &str, to: &str) -> String {
    json!({"event_id": id, "event_type": "test.to", "business_id": "b", "data": {"to": to}}).to_string()
}

fn overdue(id: &str) -> String {
    let path = support::tests_dir().join("fixtures/events/wave/invoice.overdue.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(id);
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_to_a_recipient_not_granted_fails_the_plugin_and_nothing_is_sent() {
    let misbehave = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("misbehave.wasm");
    let site = Site::new(
        "",
        &format!(
            "[team]\naccounting = \"+15555550100\"\nsales = \"+15555550101\"\n[builtin_plugins]\nenabled = false\n\
             [[plugins]]\npath = \"{}\"\nallow_to = {GRANTS}\n\
             [[plugins]]\nname = \"invoice-overdue\"\nsettings = {{ team_contact = \"sales\" }}\n",
            misbehave.display()
        ),
    );
    site.set_secret("wave.webhook_secret", SECRET);
    let list = site.stdout(&["plugin", "list"]);
    assert!(list.contains(&format!("allow_to = {GRANTS}\n")), "{list}");
    assert!(list.contains("allow_to = [\"customer\", \"team:sales\"] (default)"), "the default follows team_contact: {list}");

    let server = site.start();
    // Granted: the customer, a team, a literal number (also written the national way).
    let granted = [("evt-customer", "customer"), ("evt-accounting", "team:accounting"), ("evt-number", "+14155552671"), ("evt-national", "(415) 555-2671")];
    // Not granted: another team, any team, another number.
    let refused = [("evt-sales", "team:sales"), ("evt-star", "team:*"), ("evt-other", "+14155552672")];
    for (id, to) in granted.iter().chain(&refused) {
        post_signed(&server.base, &addressed(id, to)).await;
    }
    post_signed(&server.base, &overdue("evt-overdue")).await;
    let events = || site.json(&["events", "list", "--json"]).as_array().unwrap().clone();
    site.wait_for("every event to be dispatched", || {
        let all = events();
        all.len() == granted.len() + refused.len() + 1 && all.iter().all(|e| e["status"] != "pending")
    });
    drop(server);

    let all = events();
    let outbox = site.json(&["outbox", "list", "--json"]);
    let rows = |id: &str| outbox.as_array().unwrap().iter().filter(|r| r["event_id"] == id).cloned().collect::<Vec<Value>>();
    let event = |id: &str| all.iter().find(|e| e["id"] == id).unwrap().clone();
    for (id, to) in granted {
        let e = event(id);
        assert_eq!((e["status"].as_str(), e["failures"].as_array().unwrap().len()), (Some("dispatched"), 0), "{e}");
        let rows = rows(id);
        assert_eq!(rows.len(), 1, "{id}: {rows:?}");
        assert_eq!((rows[0]["plugin"].as_str(), rows[0]["to"].as_str()), (Some("misbehave"), Some(to)));
    }
    for (id, to) in refused {
        let e = event(id);
        assert_eq!(e["status"], "failed", "{e}");
        let failures = e["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 1, "{e}");
        assert_eq!(failures[0]["plugin"], "misbehave");
        assert_eq!(failures[0]["cause"], format!("output rejected: action 0: recipient {to} not granted (allow_to = {GRANTS})"));
        assert!(rows(id).is_empty(), "{id} has outbox rows: {:?}", rows(id));
    }
    // invoice-overdue's default grant moved with its team_contact: its call to team:sales is kept.
    let overdue = rows("evt-overdue");
    let mut to: Vec<&str> = overdue.iter().map(|r| r["to"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["customer", "team:sales"], "{overdue:?}");
    assert_eq!(event("evt-overdue")["failures"].as_array().unwrap().len(), 0);
}

#[test]
fn a_file_plugin_without_allow_to_may_address_only_the_customer_and_serve_says_so() {
    let misbehave = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("misbehave.wasm");
    let site = Site::new("", &format!("[builtin_plugins]\nenabled = false\n[[plugins]]\npath = \"{}\"\n", misbehave.display()));
    let list = site.stdout(&["plugin", "list"]);
    assert!(list.contains("allow_to = [\"customer\"] (default)"), "{list}");
    let server = site.start();
    site.wait_for("the plugin to be loaded", || server.log_count("Plugin loaded.") == 1);
    assert_eq!(server.log_count("Plugin may address only the customer: its [[plugins]] entry sets no allow_to."), 1);
}

#[test]
fn an_unknown_grant_is_a_config_error_naming_the_entry() {
    let site = Site::new("", "[[plugins]]\nname = \"invoice-paid\"\nallow_to = [\"customer\", \"team-accounting\"]\n");
    let out = site.cmd(&["plugin", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`plugins[0].allow_to[1]`: \"team-accounting\" is not a grant"), "{err}");
}
