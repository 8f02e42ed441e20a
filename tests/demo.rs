//! The README's "See the main job work", end to end: the Wave and Twilio stand-ins (the code the
//! `wave-stand-in` and `twilio-stand-in` examples run) and the real binary. Wave is connected
//! through the stand-in's consent redirect, Wave's sample `invoice.overdue` is signed and posted,
//! and the enriched SMS to the customer and the call to `team:accounting` are recorded in
//! dry-run (the audit shows the exact form), then sent to the Twilio stand-in in live mode.

mod support;
#[path = "support/twilio_standin.rs"]
mod twilio_standin;
#[path = "support/wave_standin.rs"]
mod wave_standin;

use serde_json::Value;
use support::site::{Server, Site};
use twilio_standin::Twilio;
use wave_standin::CLIENT_SECRET;

const CUSTOMER_MOBILE: &str = "+14155550123";
const TEAM: &str = "+14155552671";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

/// The README's config, on a fixed free port (Wave's redirect must reach the callback), with
/// `twilio` lines for the live part.
fn write_config(site: &Site, port: u16, wave: &wave_standin::StandIn, twilio: &str) {
    let text = std::fs::read_to_string(site.config()).unwrap();
    let store = text.lines().find(|l| l.starts_with("path = ")).unwrap().to_owned();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\n{store}\n\
         [wave]\nclient_id = \"demo-client\"\nauthorize_url = \"{}\"\ntoken_url = \"{}\"\ngraphql_url = \"{}\"\n\
         [twilio]\nfrom = \"+14155552672\"\n{twilio}\n[team]\naccounting = \"{TEAM}\"\n",
        wave.authorize_url(),
        wave.token_url(),
        wave.graphql_url(),
    );
    std::fs::write(site.config(), config).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `wave send-test-event invoice.overdue` against the running server; the new event's id.
fn send_overdue(site: &Site, server: &Server) -> String {
    let out = site.stdout(&["wave", "send-test-event", "invoice.overdue", "--url", &format!("{}/webhooks/wave", server.base)]);
    let reply: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    reply["event_id"].as_str().unwrap_or_else(|| panic!("{out}")).to_owned()
}

/// The event's two messages once both are past `pending`/`sending`.
fn settled(site: &Site, event_id: &str) -> Vec<Value> {
    site.wait_for("both messages to settle", || {
        let messages = site.audit(&["--event", event_id]);
        messages.len() == 2 && messages.iter().all(|m| m["status"] != "pending" && m["status"] != "sending")
    });
    site.audit(&["--event", event_id])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_demo_sends_an_enriched_sms_and_call_in_dry_run_then_live() {
    let wave = wave_standin::start("unused", "unused").await;
    wave_standin::seed_demo(&wave);
    let (twilio, twilio_base) = Twilio::start().await;
    let site = Site::new("", "");
    let port = free_port();
    write_config(&site, port, &wave, "");
    site.set_secret("wave.webhook_secret", "whsec_dev_secret");
    site.set_secret("wave.client_secret", CLIENT_SECRET);

    // Connect: open the printed URL; the stand-in approves and redirects to the callback.
    let server = site.start();
    let url = site.stdout(&["wave", "connect"]).trim().to_owned();
    let answer = reqwest::get(&url).await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    assert!(site.stdout(&["wave", "status"]).contains("connected"));

    // Dry run, on the same server (no restart after the connect): the customer SMS is enriched
    // from Wave (mobile, invoice number), the call goes to the team; the audit shows exactly what
    // would have been sent.
    let event = send_overdue(&site, &server);
    let messages = settled(&site, &event);
    let sms = messages.iter().find(|m| m["channel"] == "sms").unwrap();
    let call = messages.iter().find(|m| m["channel"] == "call").unwrap();
    assert_eq!((sms["status"].as_str(), sms["to"].as_str()), (Some("dry-run"), Some(CUSTOMER_MOBILE)), "{sms}");
    assert!(sms["body"].as_str().unwrap().contains("INV-0042"), "{sms}");
    assert_eq!((call["status"].as_str(), call["to"].as_str()), (Some("dry-run"), Some(TEAM)), "{call}");
    assert_eq!(sms["attempts"], 1, "the dry run is the message's one attempt: {sms}");
    let text = site.stdout(&["audit", "--event", &event]);
    assert!(text.contains("/Accounts/(not configured)/Messages.json"), "{text}");
    assert!(!text.contains("AC_unset"), "{text}");
    assert!(text.contains(&format!("To: \"{CUSTOMER_MOBILE}\"")) && text.contains("Body: \"") && text.contains("Twiml: \"<Response><Say>"), "{text}");
    assert!(twilio.requests().is_empty());
    drop(server);

    // Live against the Twilio stand-in.
    write_config(
        &site,
        port,
        &wave,
        &format!("mode = \"live\"\naccount_sid = \"{ACCOUNT}\"\napi_base = \"{twilio_base}\"\nlookups_base = \"{twilio_base}\""),
    );
    site.set_secret("twilio.auth_token", "stand-in-token");
    let server = site.start();
    let event = send_overdue(&site, &server);
    let messages = settled(&site, &event);
    assert!(messages.iter().all(|m| m["status"] == "sent" && m["sid"].is_string()), "{messages:?}");
    let posts = twilio.posts();
    let sent_sms = posts.iter().find(|r| r.path.ends_with("/Messages.json")).unwrap();
    assert_eq!(sent_sms.path, format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json"));
    assert_eq!(sent_sms.param("To"), Some(CUSTOMER_MOBILE));
    assert!(sent_sms.param("Body").unwrap().contains("INV-0042"));
    let sent_call = posts.iter().find(|r| r.path.ends_with("/Calls.json")).unwrap();
    assert_eq!(sent_call.param("To"), Some(TEAM));
    drop(server);
}
