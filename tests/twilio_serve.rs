//! `ml-connector serve` in live mode against a Twilio stand-in, end to end: a signed Wave webhook
//! in, the plugin's call out to Twilio, then `audit` and `messages replay` on the result.

mod support;
mod twilio_support;


use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::Site;
use twilio_support::*;

const SECRET: &str = "whsec-e2e-twilio";
const TEAM: &str = "+14155552671";

/// A site with the Wave webhook secret and the Twilio auth token stored.
fn twilio_site(config: &str) -> Site {
    let site = Site::new("public_url = \"https://connector.example.com\"", config);
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("twilio.auth_token", "token-e2e");
    site
}

fn overdue(event_id: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave/invoice.overdue.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["event_id"] = json!(event_id);
    v.to_string()
}

fn by_channel<'a>(messages: &'a [Value], channel: &str) -> &'a Value {
    messages.iter().find(|m| m["channel"] == channel).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_becomes_a_twilio_call_that_audit_shows_and_a_failure_can_be_replayed() {
    let (twilio, base) = Twilio::start().await;
    let site = twilio_site(&format!(
        "[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{base}\"\nlookups_base = \"{base}\"\n\
         mode = \"live\"\nmessages_per_second = 50\nretry_base_ms = 5\n[team]\naccounting = \"{TEAM}\"\n"
    ));
    let server = site.start();
    let body = overdue("evt-twilio-1");
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let resp = reqwest::Client::new().post(format!("{}/webhooks/wave", server.base)).header("x-wave-signature", header).body(body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    site.wait_for("both messages to settle", || {
        let messages = site.audit(&["--event", "evt-twilio-1"]);
        messages.len() == 2 && messages.iter().all(|m| m["status"] == "sent" || m["status"] == "failed")
    });
    let messages = site.audit(&["--event", "evt-twilio-1"]);
    let call = by_channel(&messages, "call");
    assert_eq!((call["status"].as_str(), call["to"].as_str(), call["recipient"].as_str()), (Some("sent"), Some(TEAM), Some("team:accounting")));
    assert_eq!(call["plugin"], "invoice-overdue");
    assert!(call["sid"].as_str().is_some_and(|s| s.starts_with("CA")));
    let kinds: Vec<&str> = call["requests"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["lookup", "call"]);
    // Today's enricher has no customer numbers, so the customer SMS fails with that reason.
    let sms = by_channel(&messages, "sms");
    assert_eq!((sms["status"].as_str(), sms["error_message"].as_str()), (Some("failed"), Some("no customer phone number in context")));

    let posts = twilio.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].path.ends_with(&format!("/Accounts/{ACCOUNT}/Calls.json")));
    assert!(posts[0].param("Twiml").unwrap().starts_with("<Response><Say>Overdue invoice alert"));
    let callback = posts[0].param("StatusCallback").unwrap();
    assert!(callback.starts_with("https://connector.example.com/webhooks/twilio/status?outbox=") && callback.ends_with("&series=1&attempt=1"), "{callback}");
    use base64::Engine as _;
    let expected_auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:token-e2e")));
    assert_eq!(posts[0].auth.as_deref(), Some(expected_auth.as_str()));

    let sent = site.audit(&["--status", "sent"]);
    assert_eq!(sent.len(), 1);
    let text = site.stdout(&["audit", "--event", "evt-twilio-1"]);
    assert!(text.contains("no customer phone number in context") && text.contains("POST /2010-04-01/Accounts/"), "{text}");

    // Replay the failed SMS: a new attempt series, the first failure kept in its history.
    let id = sms["id"].as_i64().unwrap().to_string();
    let out = site.stdout(&["messages", "replay", &id]);
    assert!(out.contains("re-queued"), "{out}");
    site.wait_for("the replayed message to fail again", || {
        let m = site.audit(&["--event", "evt-twilio-1"]).into_iter().find(|m| m["channel"] == "sms").unwrap();
        m["series"] == 2 && m["status"] == "failed"
    });
    let sms = site.audit(&["--event", "evt-twilio-1"]).into_iter().find(|m| m["channel"] == "sms").unwrap();
    let statuses: Vec<&str> = sms["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["failed", "pending", "failed"]);
    let refused = site.cmd(&["messages", "replay", &call["id"].to_string()]).output().unwrap();
    assert!(!refused.status.success(), "a sent message is not replayed");
    let out = site.stdout(&["messages", "replay", "--failed", "--since", "2000-01-01"]);
    assert!(out.contains("1 message(s) re-queued"), "{out}");
    drop(server);
}

#[test]
fn live_mode_without_a_twilio_credential_refuses_to_start_and_says_which_secret() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site { dir };
    std::fs::write(
        site.config(),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\nmode = \"live\"\n",
            site.dir.path().join("connector.db").display()
        ),
    )
    .unwrap();
    let out = site.cmd(&["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("twilio.auth_token"), "{stderr}");
}
