//! The QAD source end to end through `ml-connector serve`: the real binary polls the QAD
//! stand-in on its schedule, the default QAD plugins' messages go out through the Twilio
//! stand-in, a signed delivery callback and an inbound reply come back, and every outcome is
//! written back to the purchase order's remarks and shown by `audit --record`. Then a poll
//! killed with SIGKILL mid-page and restarted alerts nobody twice.

mod support;
#[path = "support/qad_standin.rs"]
mod qad_standin;
mod twilio_support;

use ml_connector::sources::twilio::signature;
use serde_json::Value;
use qad_standin::{PASSWORD, USERNAME};
use support::site::{Server, Site};
use twilio_support::*;

const AUTH_TOKEN: &str = "token-e2e-qad";
const PUBLIC_URL: &str = "https://connector.example.com";
/// The buyer and approver B01's phone.
const BUYER: &str = "+14155552671";
/// The accounts-payable team's phone.
const AP: &str = "+14155552672";
const PO_77: &str = "qad:acme:purchase_order:PO-77";

/// A live-mode site polling `qad_base` every second and sending through `twilio_base`.
fn qad_site(qad_base: &str, twilio_base: &str) -> Site {
    let config = format!(
        "lease_secs = 3\n[twilio]\naccount_sid = \"{ACCOUNT}\"\nfrom = \"{FROM}\"\napi_base = \"{twilio_base}\"\nlookups_base = \"{twilio_base}\"\n\
         mode = \"live\"\nmessages_per_second = 50\nretry_base_ms = 5\n\
         [team]\nap = \"{AP}\"\npurchasing = \"{AP}\"\n\
         [[qad]]\nname = \"acme\"\nbase_url = \"{qad_base}\"\nusername = \"{USERNAME}\"\ndisplay_name = \"Acme Manufacturing\"\n\
         poll_every = \"1s\"\njitter = \"0s\"\npage_size = 5\npeople = {{ \"B01\" = \"{BUYER}\", \"B02\" = \"team:purchasing\" }}\n\
         [qad.writeback]\npurchase_order = {{ component = \"purchaseOrderHeaders\", key = \"purchaseOrderNumber\", field = \"remarks\" }}\n"
    );
    let site = Site::new(&format!("public_url = \"{PUBLIC_URL}\""), &config);
    site.set_secret("twilio.auth_token", AUTH_TOKEN);
    site.set_secret("qad.acme.password", PASSWORD);
    site
}

/// Posts a Twilio webhook form to `path`, signed with the site's auth token for the public URL.
async fn post_twilio(server: &Server, path: &str, params: &[(&str, &str)]) -> u16 {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sig = signature::compute(AUTH_TOKEN, &format!("{PUBLIC_URL}{path}"), &owned);
    let resp = reqwest::Client::new().post(format!("{}{path}", server.base)).header("x-twilio-signature", sig).form(params).send().await.unwrap();
    resp.status().as_u16()
}

/// Runs `f` off the runtime's threads (it runs the binary or sleeps), so the stand-ins keep answering.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn event_ids(site: &Site) -> Vec<String> {
    site.json(&["events", "list", "--json", "--limit", "1000"]).as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn polled_records_become_messages_whose_outcomes_callbacks_and_replies_are_written_back_to_the_record() {
    let qad = qad_standin::start().await;
    qad.with(|q| {
        qad_standin::seed_demo(q);
        // PO-79 (SI-1043's order) to a buyer without a phone of their own, so that the reply
        // from B01's phone answers B01's latest message: PO-77's.
        q.orders[2] = qad_standin::order_row("PO-79", "S300", "B03", "O", "3120.00", "2026-11-30");
    });
    let (twilio, twilio_base) = Twilio::start().await;
    let site = std::sync::Arc::new(qad_site(&qad.base, &twilio_base));
    let server = site.start();

    // The PO approval SMS to B01 is sent; its follow-up call waits for its time.
    let s = site.clone();
    off_runtime(move || {
        s.wait_for("PO-77's approval SMS to be sent", || {
            s.audit(&["--record", PO_77]).iter().any(|m| m["channel"] == "sms" && m["status"] == "sent")
        })
    })
    .await;
    let messages = site.audit(&["--record", PO_77]);
    let sms = messages.iter().find(|m| m["channel"] == "sms").unwrap();
    assert_eq!((sms["to"].as_str(), sms["plugin"].as_str()), (Some(BUYER), Some("qad-po-approvals")));
    assert_eq!(sms["event_id"], "qad:acme:purchase_order:PO-77:pending_approval");
    let follow_up = messages.iter().find(|m| m["channel"] == "call").expect("a follow-up call is scheduled");
    assert_eq!(follow_up["status"], "pending", "the follow-up waits for its time: {follow_up}");
    let sid = sms["sid"].as_str().unwrap().to_owned();
    let body = twilio.posts().into_iter().find(|p| p.param("To") == Some(BUYER) && p.param("Body").is_some_and(|b| b.contains("PO-77"))).unwrap();
    assert!(body.param("Body").unwrap().starts_with("Acme Manufacturing: "), "{:?}", body.param("Body"));

    // Every record that needs a person became exactly one event, receipts first.
    let mut ids = event_ids(&site);
    ids.reverse();
    assert_eq!(
        ids,
        [
            "qad:acme:goods_receipt:RCV-500:posted",
            "qad:acme:purchase_order:PO-77:pending_approval",
            "qad:acme:supplier_invoice:SI-1042:awaiting_receipt",
            "qad:acme:supplier_invoice:SI-1043:on_hold",
        ]
    );

    // Twilio says delivered; the buyer replies.
    let status = post_twilio(&server, "/webhooks/twilio/status", &[("MessageSid", &sid), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT)]).await;
    assert!((200..300).contains(&status), "{status}");
    let reply = [("MessageSid", "SMreplyqad000000000000000000000001"), ("AccountSid", ACCOUNT), ("From", BUYER), ("To", FROM), ("Body", "Approved PO-77"), ("NumMedia", "0")];
    assert_eq!(post_twilio(&server, "/webhooks/twilio/inbound", &reply).await, 200);

    // All three written back to PO-77's remarks, one line each, marked so a retry is not doubled.
    let q = qad.qad.clone();
    let remarks = move || q.lock().unwrap().headers["PO-77"].remarks.clone();
    let r = remarks.clone();
    off_runtime(move || {
        support::site::wait_for("the sent, delivered and reply lines in PO-77's remarks", || {
            let text = r();
            text.contains("sent") && text.contains("delivered") && text.contains("Approved PO-77")
        })
    })
    .await;
    let text = remarks();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains(&sid) && lines.iter().all(|l| l.contains("[mlc:")), "{text}");
    // Nothing else was written to: only purchase orders are configured for write-back.
    assert!(qad.with(|q| q.writes.iter().all(|w| w.to_string().contains("PO-77"))), "writes: {:?}", qad.with(|q| q.writes.clone()));

    // The reply answered the approval SMS: the plugin cancelled its follow-up call.
    let s = site.clone();
    off_runtime(move || {
        s.wait_for("the follow-up call to be cancelled by the reply", || {
            s.audit(&["--record", PO_77]).iter().any(|m| m["channel"] == "call" && m["status"] == "cancelled")
        })
    })
    .await;

    // The audit tells the whole story of the record: the message, Twilio's status, the reply, the write-backs.
    let story = site.stdout(&["audit", "--record", PO_77]);
    for expected in ["delivered", "Approved PO-77", "qad-writeback", &sid] {
        assert!(story.contains(expected), "{expected} missing from:\n{story}");
    }

    // No QAD credential in the log or in the store's plaintext.
    let db = std::fs::read(site.dir.path().join("connector.db")).unwrap();
    let token = qad.with(|q| q.access.iter().next().cloned()).expect("a live access token");
    for secret in [PASSWORD, token.as_str(), AUTH_TOKEN] {
        assert_eq!(server.log_count(secret), 0, "a secret in the log");
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret in plaintext in the store");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_serve_killed_mid_poll_and_restarted_alerts_nobody_twice() {
    let qad = qad_standin::start().await;
    qad.with(|q| {
        qad_standin::seed_demo(q);
        // Enough rows for several pages, each page slow: the kill lands inside a poll.
        q.orders.extend((0..30).map(|i| qad_standin::order_row(&format!("PO-9{i:02}"), "S100", "B01", "P", "100.00", "2026-11-30")));
        q.faults.slow = 20;
        q.faults.slow_ms = 300;
    });
    let (twilio, twilio_base) = Twilio::start().await;
    let site = std::sync::Arc::new(qad_site(&qad.base, &twilio_base));
    let server = site.start();
    let q = qad.qad.clone();
    off_runtime(move || support::site::wait_for("the first poll to be inside its pages", || q.lock().unwrap().count("browse", Some(200)) >= 1)).await;
    server.kill();

    // Restarted: the interrupted poll's lease expires (store.lease_secs), then polling resumes.
    let server = site.start();
    let s = site.clone();
    off_runtime(move || {
        s.wait_for("every record's alert to settle", || {
            let messages = s.audit(&["--limit", "1000"]);
            let sms: Vec<_> = messages.iter().filter(|m| m["channel"] == "sms").collect();
            sms.len() == 33 && sms.iter().all(|m| m["status"] == "sent")
        })
    })
    .await;
    // A few more polls of the same records find nothing new.
    let polls = qad.with(|q| q.count("token", None) + q.count("browse", None));
    let q = qad.qad.clone();
    off_runtime(move || support::site::wait_for("two more polls", || q.lock().unwrap().count("browse", None) >= polls + 6)).await;

    let ids = event_ids(&site);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (34, 34), "one event per record and state");
    let mut texts: Vec<String> = twilio.posts().iter().filter(|p| p.path.ends_with("/Messages.json")).map(|p| format!("{:?} {:?}", p.param("To"), p.param("Body"))).collect();
    let sent = texts.len();
    texts.sort();
    texts.dedup();
    // One SMS per alert: 31 POs pending approval, SI-1042 and SI-1043; RCV-500 posted for no
    // waiting invoice, so the receipts plugin stays quiet about it.
    assert_eq!((sent, texts.len()), (33, 33), "no SMS went out twice");
    let messages: Vec<Value> = site.audit(&["--limit", "1000"]);
    assert!(messages.iter().all(|m| m["status"] != "failed"), "{messages:?}");
    drop(server);
}
