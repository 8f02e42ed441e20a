//! The store-facing commands run as the real binary: `secrets set|list|rotate-key` (never
//! showing a value, never writing plaintext to the database), `events list|replay`,
//! `outbox list`, `optouts list|clear|history`, and `wave send-test-event` posting a correctly
//! signed sample.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use ml_connector::secrets::{MasterKey, SecretString};
use ml_connector::sources::wave::signature;
use ml_connector::store::sqlite::SqliteStore;
use ml_connector::model::Channel;
use ml_connector::sinks::twilio::state::TwilioStore as _;
use ml_connector::store::{DispatchResult, InboxStore as _, Lease, NewEvent, NewMessage, PluginFailure, SecretStore as _};
use serde_json::Value;

const WEBHOOK_SECRET: &str = "whsec_canary_Zq7pL2vX9";

/// A temp dir with a config pointing the store into it, and a master key.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    key: String,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("connector.db");
        let config = dir.path().join("ml-connector.toml");
        std::fs::write(
            &config,
            format!("[store]\npath = {:?}\n", db.to_str().unwrap()),
        )
        .unwrap();
        Self {
            dir,
            config,
            db,
            key: new_key(),
        }
    }

    /// Runs the binary with this env's config and master key, `stdin` piped in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with_key(Some(&self.key), args, stdin)
    }

    fn run_with_key(&self, key: Option<&str>, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ML_CONNECTOR_") {
                cmd.env_remove(name);
            }
        }
        if let Some(key) = key {
            cmd.env("ML_CONNECTOR_MASTER_KEY", key);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // A command that refuses early may exit before reading stdin (broken pipe): not an error.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let output = child.wait_with_output().unwrap();
        eprintln!(
            "$ ml-connector {}\n-> {}\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The database file and its WAL and shared-memory files, as far as they exist.
    fn db_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{}{suffix}", self.db.display())))
            .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
            .collect()
    }
}

fn new_key() -> String {
    MasterKey::generate().to_base64().expose().to_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "failed: {}{}",
        stdout(output),
        stderr(output)
    );
}

fn assert_exit_1(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(output),
        stderr(output)
    );
}

/// A one-shot HTTP server: answers the first request with `status`, and hands back the request.
struct Capture {
    url: String,
    rx: mpsc::Receiver<(BTreeMap<String, String>, Vec<u8>)>,
}

impl Capture {
    fn start(status: u16, reply: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/webhooks/wave", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = BTreeMap::new();
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            headers.insert(":request".to_owned(), request_line.trim_end().to_owned());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
            let len: usize = headers
                .get("content-length")
                .map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            )
            .unwrap();
            stream.flush().unwrap();
            tx.send((headers, body)).unwrap();
        });
        Self { url, rx }
    }

    fn request(&self) -> (BTreeMap<String, String>, Vec<u8>) {
        self.rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no request arrived")
    }
}

/// Checks a captured request is a correctly signed Wave webhook of `kind`; returns its body.
fn assert_signed(
    headers: &BTreeMap<String, String>,
    body: &[u8],
    secret: &str,
    kind: &str,
) -> Value {
    assert!(
        headers[":request"].starts_with("POST /webhooks/wave "),
        "{headers:?}"
    );
    assert_eq!(headers["content-type"], "application/json");
    let header = &headers["x-wave-signature"];
    let now = Utc::now().timestamp();
    signature::verify(header, body, &[SecretString::from(secret)], now, 300)
        .expect("signature verifies");
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    assert_eq!(&headers["x-wave-timestamp"], t);
    assert!(
        signature::verify(
            header,
            body,
            &[SecretString::from("another secret")],
            now,
            300
        )
        .is_err(),
        "a different secret must not verify"
    );
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event_type"], kind);
    event
}

#[test]
fn secrets_set_and_list_never_show_the_value_and_the_db_holds_no_plaintext() {
    let env = Env::new();
    let set = env.run(
        &["secrets", "set", "wave.webhook_secret"],
        &format!("{WEBHOOK_SECRET}\n"),
    );
    assert_ok(&set);
    assert_eq!(stdout(&set).trim(), "stored wave.webhook_secret");
    let token = "twilio_token_canary_4f9a1c";
    assert_ok(&env.run(&["secrets", "set", "twilio.auth_token"], token));

    // Listing needs no master key, and shows names with RFC 3339 times.
    let list = env.run_with_key(None, &["secrets", "list"], "");
    assert_ok(&list);
    let text = stdout(&list);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("twilio.auth_token "), "{text}");
    assert!(lines[2].starts_with("wave.webhook_secret "), "{text}");
    let when = lines[2].split_whitespace().nth(1).unwrap();
    chrono::DateTime::parse_from_rfc3339(when).unwrap_or_else(|e| panic!("{when}: {e}"));

    for output in [&set, &list] {
        for value in [WEBHOOK_SECRET, token] {
            assert!(
                !contains(&output.stdout, value.as_bytes())
                    && !contains(&output.stderr, value.as_bytes())
            );
        }
    }
    let files = env.db_bytes();
    assert!(
        files.iter().any(|(path, _)| path == &env.db),
        "the database exists"
    );
    for (path, bytes) in &files {
        for value in [WEBHOOK_SECRET, token] {
            assert!(
                !contains(bytes, value.as_bytes()),
                "{} holds {value} in plaintext",
                path.display()
            );
        }
    }
    // The sealed value still opens with the key it was stored under.
    let store = SqliteStore::open(&env.db).unwrap();
    let sealed = block(store.get_secret("wave.webhook_secret")).unwrap().unwrap();
    let key = MasterKey::parse(&env.key, "test").unwrap();
    assert_eq!(
        key.open("wave.webhook_secret", &sealed).unwrap().expose(),
        WEBHOOK_SECRET
    );
    let sealed = block(store.get_secret("twilio.auth_token")).unwrap().unwrap();
    assert_eq!(
        key.open("twilio.auth_token", &sealed).unwrap().expose(),
        token
    );
}

#[test]
fn secrets_set_without_a_master_key_fails_clearly_and_stores_nothing() {
    let env = Env::new();
    let out = env.run_with_key(
        None,
        &["secrets", "set", "wave.webhook_secret"],
        WEBHOOK_SECRET,
    );
    assert_exit_1(&out);
    let err = stderr(&out);
    assert!(
        err.contains("no master key") && err.contains("ML_CONNECTOR_MASTER_KEY"),
        "{err}"
    );
    assert!(!err.contains(WEBHOOK_SECRET));
    let list = env.run_with_key(None, &["secrets", "list"], "");
    assert_ok(&list);
    assert_eq!(stdout(&list).trim(), "no secrets stored");
}

#[test]
fn secrets_set_refuses_empty_values_bad_names_and_a_different_master_key() {
    let env = Env::new();
    let empty = env.run(&["secrets", "set", "wave.webhook_secret"], "\n");
    assert_exit_1(&empty);
    assert!(stderr(&empty).contains("empty"), "{}", stderr(&empty));

    let bad = env.run(&["secrets", "set", "Wave Secret"], "x");
    assert_exit_1(&bad);
    assert!(
        stderr(&bad).contains("invalid secret name"),
        "{}",
        stderr(&bad)
    );

    assert_ok(&env.run(&["secrets", "set", "wave.webhook_secret"], WEBHOOK_SECRET));
    let other_key = new_key();
    let mixed = env.run_with_key(
        Some(&other_key),
        &["secrets", "set", "twilio.auth_token"],
        "tok",
    );
    assert_exit_1(&mixed);
    assert!(
        stderr(&mixed).contains("does not open the secrets already stored"),
        "{}",
        stderr(&mixed)
    );
}

#[test]
fn rotate_key_reseals_every_secret_under_a_generated_key() {
    let env = Env::new();
    assert_ok(&env.run(&["secrets", "set", "wave.webhook_secret"], WEBHOOK_SECRET));
    assert_ok(&env.run(&["secrets", "set", "twilio.auth_token"], "tok-1"));

    let rotate = env.run(&["secrets", "rotate-key"], "");
    assert_ok(&rotate);
    let text = stdout(&rotate);
    assert!(text.contains("re-encrypted 2 secrets"), "{text}");
    let new_keys: Vec<&str> = text
        .lines()
        .filter(|l| MasterKey::parse(l, "stdout").is_ok())
        .collect();
    assert_eq!(
        new_keys.len(),
        1,
        "the new key is printed exactly once: {text}"
    );
    let new_key = new_keys[0].trim();
    assert_ne!(new_key, env.key);

    // The webhook secret opens with the new key: send-test-event signs with it.
    let capture = Capture::start(202, "accepted");
    let send = env.run_with_key(
        Some(new_key),
        &[
            "wave",
            "send-test-event",
            "invoice.paid",
            "--url",
            &capture.url,
        ],
        "",
    );
    assert_ok(&send);
    let (headers, body) = capture.request();
    assert_signed(&headers, &body, WEBHOOK_SECRET, "invoice.paid");

    // ...and no longer with the old one.
    let old = env.run(
        &[
            "wave",
            "send-test-event",
            "invoice.paid",
            "--url",
            "http://127.0.0.1:9/",
        ],
        "",
    );
    assert_exit_1(&old);
    assert!(
        stderr(&old).contains("cannot decrypt secret `wave.webhook_secret`"),
        "{}",
        stderr(&old)
    );
    for (path, bytes) in env.db_bytes() {
        assert!(
            !contains(&bytes, WEBHOOK_SECRET.as_bytes()),
            "{} holds plaintext",
            path.display()
        );
    }
}

#[test]
fn rotate_key_reads_the_new_key_from_a_file_and_a_wrong_old_key_changes_nothing() {
    let env = Env::new();
    assert_ok(&env.run(&["secrets", "set", "wave.webhook_secret"], WEBHOOK_SECRET));

    // With a wrong current key nothing changes.
    let wrong = env.run_with_key(Some(&new_key()), &["secrets", "rotate-key"], "");
    assert_exit_1(&wrong);
    assert!(
        stderr(&wrong).contains("nothing was changed"),
        "{}",
        stderr(&wrong)
    );

    let new_key = new_key();
    let key_file = env.dir.path().join("new.key");
    std::fs::write(&key_file, format!("{new_key}\n")).unwrap();
    let rotate = env.run(
        &[
            "secrets",
            "rotate-key",
            "--new-key-file",
            key_file.to_str().unwrap(),
        ],
        "",
    );
    assert_ok(&rotate);
    let text = stdout(&rotate);
    assert!(text.contains("re-encrypted 1 secret "), "{text}");
    assert!(
        !text.contains(&new_key),
        "a key read from a file is not printed: {text}"
    );

    let store = SqliteStore::open(&env.db).unwrap();
    let sealed = block(store.get_secret("wave.webhook_secret")).unwrap().unwrap();
    let opened = MasterKey::parse(&new_key, "test")
        .unwrap()
        .open("wave.webhook_secret", &sealed)
        .unwrap();
    assert_eq!(opened.expose(), WEBHOOK_SECRET);
    assert!(
        MasterKey::parse(&env.key, "test")
            .unwrap()
            .open("wave.webhook_secret", &sealed)
            .is_err()
    );
}

#[test]
fn send_test_event_posts_a_signed_sample_with_a_fresh_event_id() {
    let env = Env::new();
    let capture = Capture::start(202, "accepted");
    let send = env.run(
        &[
            "wave",
            "send-test-event",
            "invoice.overdue",
            "--url",
            &capture.url,
            "--business-id",
            "biz-42",
            "--secret-stdin",
        ],
        "whsec_from_stdin\n",
    );
    assert_ok(&send);
    let out = stdout(&send);
    assert!(out.contains("202") && out.contains("accepted"), "{out}");
    assert!(
        !contains(&send.stdout, b"whsec_from_stdin")
            && !contains(&send.stderr, b"whsec_from_stdin")
    );
    let (headers, body) = capture.request();
    let event = assert_signed(&headers, &body, "whsec_from_stdin", "invoice.overdue");
    let id = event["event_id"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(id).unwrap().get_version_num(),
        4,
        "{id}"
    );
    assert_eq!(event["business_id"], "biz-42");
    assert_eq!(event["data"]["invoice_balance"], "200.00");

    // The server's verdict decides the exit code.
    let capture = Capture::start(401, "bad signature");
    let send = env.run(
        &[
            "wave",
            "send-test-event",
            "invoice.paid",
            "--url",
            &capture.url,
            "--secret-stdin",
        ],
        "x",
    );
    assert_exit_1(&send);
    assert!(stdout(&send).contains("401"), "{}", stdout(&send));
    let (_, body) = capture.request();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        event["business_id"], "63c77f29-875c-4cdc-947d-07430f628043",
        "the sample's business id"
    );
    assert_ne!(
        event["event_id"], "2f210c44-f1ab-551e-89fa-333fb8d2a5fe",
        "not the sample's event id"
    );
}

#[test]
fn send_test_event_explains_unknown_kinds_and_a_missing_secret() {
    let env = Env::new();
    let unknown = env.run(
        &[
            "wave",
            "send-test-event",
            "invoice.exploded",
            "--secret-stdin",
        ],
        "x",
    );
    assert_exit_1(&unknown);
    let err = stderr(&unknown);
    assert!(
        err.contains("invoice.exploded")
            && err.contains("invoice.paid")
            && err.contains("estimate.sent"),
        "{err}"
    );

    let missing = env.run(
        &[
            "wave",
            "send-test-event",
            "invoice.paid",
            "--url",
            "http://127.0.0.1:9/",
        ],
        "",
    );
    assert_exit_1(&missing);
    assert!(
        stderr(&missing).contains("secrets set wave.webhook_secret"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn events_and_outbox_on_an_empty_store() {
    let env = Env::new();
    for (args, table) in [
        (["events", "list"], "no events stored"),
        (["outbox", "list"], "outbox is empty"),
    ] {
        let out = env.run_with_key(None, &args, "");
        assert_ok(&out);
        assert_eq!(stdout(&out).trim(), table);
        let json = env.run_with_key(None, &[args[0], args[1], "--json"], "");
        assert_ok(&json);
        assert_eq!(
            serde_json::from_slice::<Value>(&json.stdout).unwrap(),
            serde_json::json!([])
        );
    }
    let replay = env.run(&["events", "replay", "evt-nope"], "");
    assert_exit_1(&replay);
    assert!(stderr(&replay).contains("evt-nope"), "{}", stderr(&replay));
}

fn new_event(id: &str, kind: &str, secs: i64) -> NewEvent {
    NewEvent {
        id: id.into(),
        source: "wave".into(),
        kind: kind.into(),
        business_id: Some("biz".into()),
        record: None,
        received_at: chrono::DateTime::from_timestamp(1_777_000_000 + secs, 0).unwrap(),
        body: br#"{"raw":true}"#.to_vec(),
        data: r#"{"invoice_id":"123"}"#.into(),
    }
}

fn seed(db: &Path) {
    let store = SqliteStore::open(db).unwrap();
    block(store.insert_events(vec![new_event("evt-old", "invoice.paid", 0), new_event("evt-new", "invoice.overdue", 60)])).unwrap();
    let result = DispatchResult {
        messages: vec![NewMessage {
            plugin: "invoice-paid".into(),
            key: "thanks".into(),
            channel: Channel::Sms,
            to: "customer".into(),
            body: "Thanks for your payment of $8.98!".into(),
            not_before: None,
        }],
        cancels: vec![],
        failures: vec![PluginFailure {
            plugin: "invoice-overdue".into(),
            cause: "deadline exceeded after 50 ms".into(),
        }],
        ..DispatchResult::default()
    };
    let lease = Lease::new("seed", std::time::Duration::from_secs(30));
    block(store.complete_dispatches(&lease, vec![("evt-old".into(), result)])).unwrap();
}

/// Runs a store call from these synchronous tests.
fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[test]
fn events_list_replay_and_outbox_list_show_what_is_stored() {
    let env = Env::new();
    seed(&env.db);

    let table = env.run_with_key(None, &["events", "list"], "");
    assert_ok(&table);
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in [
        "ID",
        "KIND",
        "STATUS",
        "ATTEMPTS",
        "RECEIVED_AT",
        "LAST_ERROR",
    ] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(
        lines[1].starts_with("evt-new ") && lines[1].contains("pending"),
        "newest first: {text}"
    );
    assert!(
        lines[2].starts_with("evt-old ") && lines[2].contains("failed"),
        "{text}"
    );
    assert!(
        lines[2].contains("invoice-overdue"),
        "last error shown: {text}"
    );

    let json = env.run_with_key(None, &["events", "list", "--json", "--limit", "5"], "");
    assert_ok(&json);
    let events: Value = serde_json::from_slice(&json.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], "evt-new");
    let old = &events[1];
    assert_eq!(old["kind"], "invoice.paid");
    assert_eq!(old["source"], "wave");
    assert_eq!(old["business_id"], "biz");
    assert_eq!(old["status"], "failed");
    assert_eq!(old["attempts"], 1);
    assert_eq!(old["data"]["invoice_id"], "123");
    assert!(old["dispatched_at"].is_string());
    assert_eq!(old["failures"][0]["plugin"], "invoice-overdue");
    assert_eq!(old["failures"][0]["cause"], "deadline exceeded after 50 ms");
    chrono::DateTime::parse_from_rfc3339(old["received_at"].as_str().unwrap()).unwrap();

    let limited = env.run_with_key(None, &["events", "list", "--json", "--limit", "1"], "");
    assert_eq!(
        serde_json::from_slice::<Value>(&limited.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let outbox = env.run_with_key(None, &["outbox", "list", "--json"], "");
    assert_ok(&outbox);
    let rows: Value = serde_json::from_slice(&outbox.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["event_id"], "evt-old");
    assert_eq!(rows[0]["plugin"], "invoice-paid");
    assert_eq!(rows[0]["channel"], "sms");
    assert_eq!(rows[0]["status"], "pending");
    assert_eq!(rows[0]["body"], "Thanks for your payment of $8.98!");
    let outbox_table = env.run_with_key(None, &["outbox", "list"], "");
    assert_ok(&outbox_table);
    assert!(
        stdout(&outbox_table).contains("invoice-paid"),
        "{}",
        stdout(&outbox_table)
    );

    let replay = env.run_with_key(None, &["events", "replay", "evt-old"], "");
    assert_ok(&replay);
    let store = SqliteStore::open(&env.db).unwrap();
    let event = block(store.get_event("evt-old")).unwrap().unwrap();
    assert_eq!(event.status.as_str(), "pending");
}

/// Kills the `serve` child this test started when dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn send_test_event_is_accepted_and_stored_by_the_real_server() {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = {:?}\n",
            env.db.to_str().unwrap()
        ),
    )
    .unwrap();
    assert_ok(&env.run(&["secrets", "set", "wave.webhook_secret"], WEBHOOK_SECRET));

    let mut child = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .arg("--config")
        .arg(&env.config)
        .arg("serve")
        .current_dir(env.dir.path())
        .env("ML_CONNECTOR_MASTER_KEY", &env.key)
        .env("ML_CONNECTOR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _serve = Serve(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("Listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap().to_owned());
            }
            eprintln!("[serve] {line}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve did not start listening");
    let url = format!("http://{addr}/webhooks/wave");

    for _ in 0..2 {
        let send = env.run(
            &["wave", "send-test-event", "invoice.paid", "--url", &url],
            "",
        );
        assert_ok(&send);
        assert!(stdout(&send).starts_with("200"), "{}", stdout(&send));
    }
    let list = env.run(&["events", "list", "--json"], "");
    assert_ok(&list);
    let events: Value = serde_json::from_slice(&list.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2, "each send is a new event: {events:?}");
    assert!(events.iter().all(|e| e["kind"] == "invoice.paid"));
    assert_ne!(events[0]["id"], events[1]["id"]);
}

#[test]
fn optouts_list_and_clear_by_hand_record_who_and_when() {
    let env = Env::new();
    {
        let store = SqliteStore::open(&env.db).unwrap();
        block(store.record_opt_out("+14155550100", "replied STOP", Utc::now())).unwrap();
        block(store.record_opt_out("+14155550101", "Twilio 21610: unsubscribed recipient", Utc::now())).unwrap();
    }
    let out = env.run(&["optouts", "list"], "");
    assert_ok(&out);
    assert!(stdout(&out).contains("+14155550100") && stdout(&out).contains("replied STOP"), "{}", stdout(&out));

    // National form for the default region (US); `--by` names who did it.
    let out = env.run(&["optouts", "clear", "(415) 555-0100", "--by", "alice"], "");
    assert_ok(&out);
    assert!(stdout(&out).contains("Cleared the opt-out of +14155550100") && stdout(&out).contains("cleared by alice"), "{}", stdout(&out));
    let listed: Value = serde_json::from_str(&stdout(&env.run(&["optouts", "list", "--json"], ""))).unwrap();
    let numbers: Vec<&str> = listed.as_array().unwrap().iter().map(|o| o["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["+14155550101"]);
    assert!(block(SqliteStore::open(&env.db).unwrap().opted_out(&["+14155550100"])).unwrap().is_empty());

    // Without `--by`, the OS user.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    let out = cmd
        .args(["--config", env.config.to_str().unwrap(), "optouts", "clear", "+14155550101"])
        .env("USER", "operator-bob")
        .env_remove("ML_CONNECTOR_MASTER_KEY")
        .output()
        .unwrap();
    assert_ok(&out);

    let history: Value = serde_json::from_str(&stdout(&env.run(&["optouts", "history", "--json"], ""))).unwrap();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!((history[0]["number"].as_str(), history[0]["cleared_by"].as_str()), (Some("+14155550101"), Some("operator-bob")));
    assert_eq!((history[1]["number"].as_str(), history[1]["cleared_by"].as_str()), (Some("+14155550100"), Some("alice")));
    assert_eq!(history[1]["cleared"]["reason"], "replied STOP");
    assert!(history[1]["at"].as_str().unwrap().ends_with('Z'));
    let text = stdout(&env.run(&["optouts", "history", "+1 415 555 0100"], ""));
    assert!(text.contains("+14155550100") && text.contains("cleared by alice") && !text.contains("0101"), "{text}");

    // A number that is not opted out: exit 1, nothing recorded.
    let out = env.run(&["optouts", "clear", "+14155550100", "--by", "alice"], "");
    assert_exit_1(&out);
    assert!(stderr(&out).contains("+14155550100 has not opted out"), "{}", stderr(&out));
    let history: Value = serde_json::from_str(&stdout(&env.run(&["optouts", "history", "--json"], ""))).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
}
