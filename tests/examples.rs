//! The shipped stand-ins start and answer as the README says: `cargo run --example
//! wave-stand-in` (consent redirect, seeded GraphQL) and `cargo run --example twilio-stand-in`
//! (a created SMS, printed). `cargo test` builds the examples before running the tests; run
//! alone, this test needs `cargo build -p ml-connector --examples` first, and says so.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running example, killed on drop.
struct Example {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Example {
    /// Starts `target/debug/examples/NAME --listen 127.0.0.1:PORT` and waits for its banner.
    fn start(name: &str, port: u16) -> Example {
        let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let path: PathBuf = deps.parent().unwrap().join("examples").join(name);
        assert!(
            path.exists(),
            "{} is not built: the full `cargo test` builds the examples; run `cargo build -p ml-connector --examples` before this test alone",
            path.display()
        );
        let mut child = Command::new(&path).args(["--listen", &format!("127.0.0.1:{port}")]).stdout(Stdio::piped()).spawn().unwrap();
        let lines = forward(child.stdout.take().unwrap());
        let example = Example { child, lines };
        example.expect("listening on");
        example
    }

    /// Waits for a printed line containing `needle` (a liveness bound, not a timing assertion).
    fn expect(&self, needle: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|e| panic!("no line with {needle:?}: {e}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[example] {line}");
            let _ = tx.send(line);
        }
    });
    rx
}

/// Sends `request` and reads its JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wave_and_twilio_stand_in_examples_start_and_answer() {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let port = free_port();
    let wave = Example::start("wave-stand-in", port);
    let consent = http
        .get(format!("http://127.0.0.1:{port}/oauth2/authorize/"))
        .query(&[("redirect_uri", "http://127.0.0.1:8080/oauth/wave/callback"), ("state", "s t")])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 302);
    assert_eq!(consent.headers()["location"], "http://127.0.0.1:8080/oauth/wave/callback?code=good-code&state=s+t");
    let token = json_of(
        http.post(format!("http://127.0.0.1:{port}/oauth2/token/"))
            .form(&[("grant_type", "authorization_code"), ("code", "good-code"), ("client_id", "demo-client"), ("client_secret", "client-secret-standin")]),
    )
    .await;
    let access = token["access_token"].as_str().unwrap();
    // Wave's ids: base64 of "Business:<id>" and "Business:<id>;Customer:<n>".
    let query = json!({
        "query": "query Q($businessId: ID!, $customerId: ID!) { business(id: $businessId) { id name timezone customer(id: $customerId) { mobile } } }",
        "variables": {"businessId": "QnVzaW5lc3M6dGVzdC1idXNpbmVzcy1pZA==", "customerId": "QnVzaW5lc3M6dGVzdC1idXNpbmVzcy1pZDtDdXN0b21lcjoxMjM="},
    });
    let answer = json_of(http.post(format!("http://127.0.0.1:{port}/graphql/public")).bearer_auth(access).json(&query)).await;
    let business = &answer["data"]["business"];
    assert_eq!((business["name"].as_str(), business["timezone"].as_str()), (Some("Acme Plumbing"), Some("America/Chicago")), "{answer}");
    assert_eq!(business["customer"]["mobile"], "(415) 555-0123", "{answer}");
    drop(wave);

    let port = free_port();
    let twilio = Example::start("twilio-stand-in", port);
    let created = json_of(
        http.post(format!("http://127.0.0.1:{port}/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"))
            .basic_auth("AC0123456789abcdef0123456789abcdef", Some("any"))
            .form(&[("To", "+14155550123"), ("From", "+14155552672"), ("Body", "hello")]),
    )
    .await;
    assert!(created["sid"].as_str().unwrap().starts_with("SM"), "{created}");
    let printed = twilio.expect("Messages.json");
    assert!(printed.contains("To=\"+14155550123\"") && printed.contains("Body=\"hello\""), "{printed}");
}
