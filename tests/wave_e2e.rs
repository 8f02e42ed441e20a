//! Wave OAuth and enrichment end to end: the real binary, a local Wave
//! stand-in on 127.0.0.1, `wave connect` → callback → `wave status`, then a
//! signed `invoice.paid` webhook whose outbox SMS carries the amount from the
//! event and the invoice number from GraphQL, with the customer's mobile
//! resolved to E.164 in the context the plugins saw.

mod support;
#[path = "support/wave_standin.rs"]
mod wave_standin;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ml_connector::sources::wave::signature;
use serde_json::{Value, json};
use wave_standin::{CLIENT_SECRET, GOOD_CODE, customer_node, invoice_node};

const SECRET: &str = "whsec-wave-e2e-41c2";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32
const BUSINESS: &str = "63c77f29-875c-4cdc-947d-07430f628043";
const PUBLIC_URL: &str = "https://connector.example";

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(wave: &wave_standin::StandIn) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let echo = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("context_echo.wasm");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\n[store]\npath = \"{}\"\n\
             [wave]\nbusiness_id = \"{BUSINESS}\"\nclient_id = \"client-e2e\"\ntoken_url = \"{}\"\ngraphql_url = \"{}\"\nauthorize_url = \"{}\"\n\
             [[plugins]]\nname = \"invoice-paid\"\n[[plugins]]\npath = \"{}\"\n",
            dir.path().join("connector.db").display(),
            wave.token_url(),
            wave.graphql_url(),
            wave.authorize_url(),
            echo.display(),
        );
        std::fs::write(dir.path().join("ml-connector.toml"), config).unwrap();
        let site = Site { dir };
        site.secret("wave.webhook_secret", SECRET);
        site.secret("wave.client_secret", CLIENT_SECRET);
        site
    }

    fn secret(&self, name: &str, value: &str) {
        let mut child = self.cmd(&["secrets", "set", name]).stdin(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ml-connector.toml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
        cmd.env("ML_CONNECTOR_MASTER_KEY", MASTER_KEY)
            .env("ML_CONNECTOR_LOG", "info")
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.dir.path());
        cmd
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn start(&self) -> Server {
        let mut child = self.cmd(&["serve"]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
                }
                eprintln!("[serve] {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("server did not start listening");
        Server { child, base: format!("http://{addr}"), log }
    }
}

struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let site = Site::new(&wave);

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
