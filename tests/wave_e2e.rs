//! Wave OAuth and enrichment end to end: the real binary, a local Wave
//! stand-in on 127.0.0.1, `wave connect` → callback → `wave status`, then a
//! signed `invoice.paid` webhook whose outbox SMS carries the amount from the
//! event and the invoice number from GraphQL, with the customer's mobile
//! resolved to E.164 in the context the plugins saw.

mod support;
#[path = "support/wave_standin.rs"]
mod wave_standin;

use std::path::Path;
use std::time::Duration;

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use support::site::{Site, wait_for};
use wave_standin::{CLIENT_SECRET, GOOD_CODE, customer_node, invoice_node};

const SECRET: &str = "whsec-wave-e2e-41c2";
const BUSINESS: &str = "63c77f29-875c-4cdc-947d-07430f628043";
const PUBLIC_URL: &str = "https://connector.example";

/// A site wired to the Wave stand-in, with `invoice-paid` and the context-echo test plugin.
fn wave_site(wave: &wave_standin::StandIn) -> Site {
    let echo = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("context_echo.wasm");
    let rest = format!(
        "[wave]\nbusiness_id = \"{BUSINESS}\"\nclient_id = \"client-e2e\"\ntoken_url = \"{}\"\ngraphql_url = \"{}\"\nauthorize_url = \"{}\"\n\
         [builtin_plugins]\nenabled = false\n[[plugins]]\nname = \"invoice-paid\"\n[[plugins]]\npath = \"{}\"\nallow_to = [\"team:audit\"]\n",
        wave.token_url(),
        wave.graphql_url(),
        wave.authorize_url(),
        echo.display(),
    );
    let site = Site::new(&format!("public_url = \"{PUBLIC_URL}\""), &rest);
    site.set_secret("wave.webhook_secret", SECRET);
    site.set_secret("wave.client_secret", CLIENT_SECRET);
    site
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.replace('+', " ").replace("%3A", ":").replace("%2F", "/").replace("%20", " "))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connected_wave_turns_a_signed_invoice_paid_webhook_into_an_enriched_sms() {
    let wave = wave_standin::start("unused", "unused").await;
    wave.with(|w| {
        w.redirect_uri = Some(format!("{PUBLIC_URL}/oauth/wave/callback"));
        w.customers.insert("21840161".into(), customer_node(BUSINESS, "21840161", "Dana Smith", Some("(415) 555-2671"), None));
        w.invoices.insert("2496756670638588934".into(), invoice_node(BUSINESS, "2496756670638588934", "INV-0042", "PAID", "0.00"));
    });
    let site = wave_site(&wave);

    // Not connected yet.
    let out = site.cmd(&["wave", "status"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("not connected"));

    // `wave connect` prints the authorization URL with everything Wave needs.
    let out = site.cmd(&["wave", "connect"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(url.starts_with(&wave.authorize_url()), "{url}");
    assert_eq!(query_param(&url, "client_id").as_deref(), Some("client-e2e"));
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(&url, "redirect_uri"), Some(format!("{PUBLIC_URL}/oauth/wave/callback")));
    let scope = query_param(&url, "scope").unwrap();
    for needed in ["invoice:read", "customer:read", "business:read"] {
        assert!(scope.split(' ').any(|s| s == needed), "{needed} missing from {scope}");
    }
    let state = query_param(&url, "state").unwrap();
    assert!(state.len() >= 32);

    // Wave redirects the user to the callback; a wrong state is refused first.
    let server = site.start();
    let callback = |code: &str, state: &str| format!("{}/oauth/wave/callback?code={code}&state={state}", server.base);
    let refused = reqwest::get(callback(GOOD_CODE, "forged")).await.unwrap();
    assert_eq!(refused.status(), 400);
    let out = site.cmd(&["wave", "connect"]).output().unwrap();
    let state = query_param(String::from_utf8(out.stdout).unwrap().trim(), "state").unwrap();
    let connected = reqwest::get(callback(GOOD_CODE, &state)).await.unwrap();
    assert_eq!(connected.status(), 200, "{}", connected.text().await.unwrap());
    let replay = reqwest::get(callback(GOOD_CODE, &state)).await.unwrap();
    assert_eq!(replay.status(), 400, "a state is good for one callback");

    let status = site.json(&["wave", "status", "--json"]);
    assert_eq!(status["status"], "connected", "{status}");
    assert_eq!(status["business_id"], BUSINESS);
    drop(server);

    // Restarted, the server enriches with Wave.
    let server = site.start();
    let health: Value = reqwest::get(format!("{}/healthz", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!((health["status"].as_str(), health["wave"]["status"].as_str()), (Some("ok"), Some("connected")), "{health}");

    let body = std::fs::read_to_string(support::tests_dir().join("fixtures/events/wave/invoice.paid.json")).unwrap();
    let mut body: Value = serde_json::from_str(&body).unwrap();
    body["event_id"] = json!("evt-wave-e2e-paid");
    let body = body.to_string();
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let reply = reqwest::Client::new()
        .post(format!("{}/webhooks/wave", server.base))
        .header("x-wave-signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let mut rows = Vec::new();
    wait_for("the outbox rows", || {
        rows = site.json(&["outbox", "list", "--json"]).as_array().unwrap().iter().filter(|r| r["event_id"] == "evt-wave-e2e-paid").cloned().collect();
        rows.len() == 2
    });
    let sms = rows.iter().find(|r| r["plugin"] == "invoice-paid").unwrap();
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["to"], "customer");
    let text = sms["body"].as_str().unwrap();
    assert!(text.contains("$8.98"), "amount from the event: {text}");
    assert!(text.contains("INV-0042"), "invoice number from GraphQL: {text}");
    assert!(text.starts_with("Acme Plumbing: "), "business name from GraphQL: {text}");
    let echo = rows.iter().find(|r| r["plugin"] == "context-echo").unwrap()["body"].as_str().unwrap().to_owned();
    assert!(echo.contains("customer=21840161 mobile=+14155552671"), "the customer's mobile in E.164 in the plugins' context: {echo}");
    assert_eq!(wave.with(|w| w.graphql_calls.len()), 1, "one query for the event");

    // Wave revokes access: the token is refused, the refresh gets invalid_grant.
    wave.with(|w| {
        w.unauthenticated = 1;
        w.refresh_error = Some("invalid_grant".into());
    });
    let body = std::fs::read_to_string(support::tests_dir().join("fixtures/events/wave/invoice.partially_paid.json")).unwrap();
    let mut body: Value = serde_json::from_str(&body).unwrap();
    body["event_id"] = json!("evt-wave-e2e-wait");
    let body = body.to_string();
    let header = signature::sign(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let reply = reqwest::Client::new().post(format!("{}/webhooks/wave", server.base)).header("x-wave-signature", header).body(body).send().await.unwrap();
    assert_eq!(reply.status(), 200, "webhooks are still accepted while Wave is broken");

    let mut health = Value::Null;
    for _ in 0..600 {
        health = reqwest::get(format!("{}/healthz", server.base)).await.unwrap().json().await.unwrap();
        if health["wave"]["status"] == "broken" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["wave"]["reason"].as_str().unwrap_or("").contains("invalid_grant"), "{health}");

    // The dispatcher retries every couple of seconds; the event waits, the error is logged once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let events = site.json(&["events", "list", "--json"]);
    let waiting = events.as_array().unwrap().iter().find(|e| e["id"] == "evt-wave-e2e-wait").unwrap();
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let outbox = site.json(&["outbox", "list", "--json"]);
    assert!(!outbox.as_array().unwrap().iter().any(|r| r["event_id"] == "evt-wave-e2e-wait"));
    assert_eq!(server.log_count("Wave connection broken"), 1, "logged once, not per retry");
    assert_eq!(wave.with(|w| w.refresh_calls()), 1, "a broken connection stops calling Wave");

    let out = site.cmd(&["wave", "status"]).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BROKEN") && text.contains("invalid_grant"), "{text}");
}
