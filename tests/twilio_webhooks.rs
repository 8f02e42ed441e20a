//! Twilio webhooks in, end to end against `ml-connector serve`: signed status callbacks (in
//! order, out of order, repeated, badly signed), an inbound reply linked to the message it
//! answers and handed to a plugin, STOP and START, and `audit` showing all of it.
//!
//! Signatures are computed here independently of the host, with the method of
//! `tests/fixtures/twilio/signature_vectors.json`.

mod support;
mod twilio_support;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use ml_connector::sources::wave::signature as wave_signature;
use serde_json::{Value, json};
use support::site::{Server, Site};
use twilio_support::*;

const WAVE_SECRET: &str = "whsec-e2e-twilio-in";
const AUTH_TOKEN: &str = "token-e2e-in";
const PUBLIC_URL: &str = "https://connector.example.com";
const TEAM: &str = "+14155552671";

/// base64(HMAC-SHA1(token, url + names sorted, each name + its distinct values sorted)).
fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in params {
        sorted.entry(k).or_default().insert(v);
    }
    let mut s = url.to_owned();
    for (k, values) in sorted {
        for v in values {
            s.push_str(k);
            s.push_str(v);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A site whose public URL is `PUBLIC_URL`, with the Wave secret and Twilio auth token stored.
fn webhooks_site(config: &str) -> Site {
    let site = Site::new(&format!("public_url = \"{PUBLIC_URL}/\""), config);
    site.set_secret("wave.webhook_secret", WAVE_SECRET);
    site.set_secret("twilio.auth_token", AUTH_TOKEN);
    site
}

/// The audit entry of outbox message `id`.
fn message(site: &Site, id: i64) -> Value {
    site.audit(&["--limit", "1000"]).into_iter().find(|m| m["id"] == id).unwrap()
}

/// Posting signed Twilio webhooks to a running server.
trait TwilioPosts {
    /// `http://127.0.0.1:PORT` of the server.
    fn base(&self) -> &str;

    /// Posts a form to `path`, signed for `signed_url` (normally the public URL + `path`) with `token`.
    async fn post_signed_as(&self, path: &str, signed_url: &str, token: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let signature = twilio_sign(token, signed_url, params);
        reqwest::Client::new()
            .post(format!("{}{path}", self.base()))
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .unwrap()
    }

    async fn post_twilio(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        self.post_signed_as(path, &format!("{PUBLIC_URL}{path}"), AUTH_TOKEN, params).await
    }

    async fn status(&self, params: &[(&str, &str)]) -> u16 {
        self.post_twilio("/webhooks/twilio/status", params).await.status().as_u16()
    }

    async fn inbound(&self, sid: &str, from: &str, body: &str) -> reqwest::Response {
        let params = [("MessageSid", sid), ("AccountSid", ACCOUNT), ("From", from), ("To", FROM), ("Body", body), ("NumMedia", "0")];
        self.post_twilio("/webhooks/twilio/inbound", &params).await
    }

    async fn wave_overdue(&self, event_id: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/wave/invoice.overdue.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["event_id"] = json!(event_id);
        let body = v.to_string();
        let header = wave_signature::sign(WAVE_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
        let resp = reqwest::Client::new().post(format!("{}/webhooks/wave", self.base())).header("x-wave-signature", header).body(body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
}

impl TwilioPosts for Server {
    fn base(&self) -> &str {
        &self.base
    }
}

fn statuses(message: &Value) -> Vec<String> {
    message["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap().to_owned()).collect()
}

/// The team call of a Wave event once the sender is done with it.
fn settled_call(site: &Site, event_id: &str) -> Value {
    site.wait_for("the team call to settle", || {
        site.audit(&["--event", event_id]).iter().any(|m| m["channel"] == "call" && m["status"] != "pending" && m["status"] != "sending")
    });
    site.audit(&["--event", event_id]).into_iter().find(|m| m["channel"] == "call").unwrap()
}

#[test]
fn the_test_signer_matches_the_signature_vectors() {
    let text = include_str!("fixtures/twilio/signature_vectors.json");
    let vectors: Vec<Value> = serde_json::from_str(text).unwrap();
    for v in vectors.iter().filter(|v| v["params"].is_object()) {
        let mut params = Vec::new();
        for (k, value) in v["params"].as_object().unwrap() {
            match value {
                Value::Array(values) => params.extend(values.iter().map(|x| (k.as_str(), x.as_str().unwrap()))),
                other => params.push((k.as_str(), other.as_str().unwrap())),
            }
        }
        let sig = twilio_sign(v["auth_token"].as_str().unwrap(), v["url"].as_str().unwrap(), &params);
        assert_eq!(sig, v["signature"].as_str().unwrap(), "{}", v["name"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_callbacks_and_replies_update_history_opt_outs_and_reach_a_plugin() {
    let (_twilio, base) = Twilio::start().await;
    let forward = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("reply_forward.wasm");
    let site = webhooks_site(&format!(
        "[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{base}\"\nlookups_base = \"{base}\"\n\
         mode = \"live\"\nmessages_per_second = 50\nretry_base_ms = 5\n[team]\naccounting = \"{TEAM}\"\n\
         [builtin_plugins]\nenabled = false\n[[plugins]]\nname = \"invoice-overdue\"\n[[plugins]]\npath = \"{}\"\nallow_to = [\"team:accounting\"]\n",
        forward.display()
    ));
    let server = site.start();

    // A Wave event makes a call to the accounting team (the customer SMS fails: no number).
    server.wave_overdue("evt-in-1").await;
    let call = settled_call(&site, "evt-in-1");
    assert_eq!(call["status"], "sent");
    let call_id = call["id"].as_i64().unwrap();
    let call_sid = call["sid"].as_str().unwrap().to_owned();
    let before = statuses(&call).len();

    // Call progress in order, then a late `in-progress` after `completed`, then a repeat.
    for (status, seq) in [("initiated", "0"), ("ringing", "1"), ("completed", "3")] {
        let mut params = vec![("CallSid", call_sid.as_str()), ("CallStatus", status), ("SequenceNumber", seq), ("AccountSid", ACCOUNT)];
        if status == "completed" {
            params.push(("CallDuration", "42"));
        }
        assert_eq!(server.status(&params).await, 204, "{status}");
    }
    assert_eq!(server.status(&[("CallSid", call_sid.as_str()), ("CallStatus", "in-progress"), ("SequenceNumber", "2")]).await, 204);
    assert_eq!(server.status(&[("CallSid", call_sid.as_str()), ("CallStatus", "completed"), ("SequenceNumber", "3"), ("CallDuration", "42")]).await, 204);
    let call = message(&site, call_id);
    assert_eq!(call["delivery_status"], "completed", "a late status does not move the call backwards");
    assert_eq!(statuses(&call)[before..], ["initiated", "ringing", "completed", "in-progress"], "the repeat is not recorded twice");
    assert_eq!(call["status"], "sent", "the sender's own status is untouched");

    // Refused: no signature, a wrong one, one for another URL, one with another token.
    let params = [("CallSid", call_sid.as_str()), ("CallStatus", "failed")];
    let unsigned = reqwest::Client::new().post(format!("{}/webhooks/twilio/status", server.base)).form(&params).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let tampered = reqwest::Client::new()
        .post(format!("{}/webhooks/twilio/status", server.base))
        .header("x-twilio-signature", twilio_sign(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio/status"), &[("CallSid", &call_sid), ("CallStatus", "busy")]))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 403);
    let wrong_url = server.post_signed_as("/webhooks/twilio/status", &format!("{PUBLIC_URL}/webhooks/twilio/inbound"), AUTH_TOKEN, &params).await;
    assert_eq!(wrong_url.status().as_u16(), 403);
    let wrong_token = server.post_signed_as("/webhooks/twilio/status", &format!("{PUBLIC_URL}/webhooks/twilio/status"), "not-the-token", &params).await;
    assert_eq!(wrong_token.status().as_u16(), 403);
    assert_eq!(statuses(&message(&site, call_id)).len(), before + 4, "nothing recorded for refused callbacks");
    // Signed over the public URL with an explicit port: accepted, like the official libraries.
    let with_port = server.post_signed_as("/webhooks/twilio/status", "https://connector.example.com:443/webhooks/twilio/status", AUTH_TOKEN, &[("CallSid", "CAunknown"), ("CallStatus", "ringing")]).await;
    assert_eq!(with_port.status().as_u16(), 204, "an unknown SID is stored, not an error");

    // A reply from the team's number: linked to the call it answers, handed to the plugin.
    let reply = server.inbound("SMreply0000000000000000000000001", TEAM, "PAID?").await;
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(reply.headers()["content-type"], "text/xml");
    assert_eq!(reply.text().await.unwrap(), "<Response/>");
    assert_eq!(server.inbound("SMreply0000000000000000000000001", TEAM, "PAID?").await.status().as_u16(), 200, "a repeat is fine");
    let call = message(&site, call_id);
    let replies = call["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!((replies[0]["body"].as_str(), replies[0]["event_id"].as_str()), (Some("PAID?"), Some("evt-in-1")));

    let reply_event = "twilio:SMreply0000000000000000000000001";
    site.wait_for("the plugin's forward to be sent", || {
        site.audit(&["--event", reply_event]).iter().any(|m| m["status"] == "sent")
    });
    let forwarded = site.audit(&["--event", reply_event]);
    assert_eq!(forwarded.len(), 1, "one forward despite the repeated webhook");
    let fwd = &forwarded[0];
    assert_eq!((fwd["plugin"].as_str(), fwd["recipient"].as_str()), (Some("reply-forward"), Some("team:accounting")));
    let body = fwd["body"].as_str().unwrap();
    // Read from WIT 0.2.0's context.reply: the source event and the call it answers, with the
    // delivery status Twilio reported for it.
    assert!(body.starts_with(&format!("Reply from {TEAM} about invoice.overdue evt-in-1 (call ")), "{body}");
    assert!(body.contains("by invoice-overdue, completed): PAID?"), "{body}");

    // Message statuses on the forwarded SMS, out of order and repeated.
    let fwd_id = fwd["id"].as_i64().unwrap();
    let fwd_sid = fwd["sid"].as_str().unwrap().to_owned();
    let before = statuses(fwd).len();
    for status in ["sent", "delivered", "sent", "delivered"] {
        assert_eq!(server.status(&[("MessageSid", fwd_sid.as_str()), ("MessageStatus", status), ("SmsSid", fwd_sid.as_str()), ("SmsStatus", status)]).await, 204);
    }
    let fwd = message(&site, fwd_id);
    assert_eq!(statuses(&fwd)[before..], ["sent", "delivered"]);
    assert_eq!(fwd["delivery_status"], "delivered");
    assert_eq!(server.status(&[("MessageSid", fwd_sid.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]).await, 204);
    let fwd = message(&site, fwd_id);
    assert_eq!(fwd["delivery_status"], "delivered", "a terminal status is not replaced by another");
    assert_eq!(statuses(&fwd).last().map(String::as_str), Some("undelivered"), "but it is kept in history");

    // STOP: the next call to the team is not sent. START: the one after is.
    assert_eq!(server.inbound("SMstop00000000000000000000000001", TEAM, "Stop").await.status().as_u16(), 200);
    server.wave_overdue("evt-in-2").await;
    let refused = settled_call(&site, "evt-in-2");
    assert_eq!(refused["status"], "undeliverable");
    assert!(refused["error_message"].as_str().unwrap().contains("opted out"), "{refused}");
    assert_eq!(server.inbound("SMstart0000000000000000000000001", TEAM, "START").await.status().as_u16(), 200);
    server.wave_overdue("evt-in-3").await;
    assert_eq!(settled_call(&site, "evt-in-3")["status"], "sent");

    // A question from a number we never wrote to: the plugin still gets it, with no original.
    let stranger = "+14155550199";
    assert_eq!(server.inbound("SMstranger00000000000000000000001", stranger, "Who is this?").await.status().as_u16(), 200);
    let stranger_event = "twilio:SMstranger00000000000000000000001";
    site.wait_for("the stranger's question to be forwarded", || {
        site.audit(&["--event", stranger_event]).iter().any(|m| m["status"] == "sent")
    });
    let forwarded = site.audit(&["--event", stranger_event]);
    assert_eq!(forwarded[0]["body"], format!("Reply from {stranger} about no event (no message): Who is this?"));

    // The text audit shows history and replies too.
    let text = site.stdout(&["audit", "--event", "evt-in-1"]);
    assert!(text.contains("(twilio: completed)") && text.contains("CallDuration=42s") && text.contains("reply") && text.contains("PAID?"), "{text}");
    drop(server);
}
