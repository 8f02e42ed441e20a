//! Conformance: every request the sender makes (SMS with From, SMS with a messaging service,
//! a call with TwiML, Lookups) is accepted (2xx) by Stoplight Prism serving Twilio's own OpenAPI
//! specs from `tests/fixtures/twilio/openapi`. `scripts/test` installs Prism (`scripts/prism
//! install`, which installs npm with apt-get when it can); the test runs that itself when Prism
//! is missing, and fails, never skips, when it cannot get Prism.
//!
//! Prism reads a form key given more than once as one value, the last (stoplightio/prism#2473),
//! where the spec (OpenAPI's default form style) and Twilio take the repeated key as an array:
//! a call's `StatusCallbackEvent`. A small proxy in front of Prism renames such a key `Key[]`,
//! the form Prism reads as an array, so every value is still checked against the spec.

mod twilio_support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use ml_connector::config::TwilioMode;
use ml_connector::sinks::twilio::service::{Credentials, TwilioService};
use ml_connector::model::Channel;
use ml_connector::store::{CustomerNumbers, OutboxStatus, OutboxStore as _};
use twilio_support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A Prism server, killed on drop.
struct Prism(Child);

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `prism mock` for one spec; returns once it listens.
fn start(bin: &Path, spec: &Path) -> (Prism, String) {
    let port = free_port();
    let mut child = Command::new(bin)
        .args(["mock", "-p", &port.to_string(), "-h", "127.0.0.1"])
        .arg(spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Prism is listening") {
                let _ = tx.send(());
            }
        }
    });
    let prism = Prism(child);
    rx.recv_timeout(Duration::from_secs(120)).expect("Prism did not start listening");
    (prism, format!("http://127.0.0.1:{port}"))
}

/// The Prism binary, installed by `scripts/prism install` (pinned by its lockfile) when missing.
fn prism_bin() -> PathBuf {
    let bin = root().join("target/prism/node_modules/.bin/prism");
    if !bin.exists() {
        let status = Command::new(root().join("scripts/prism"))
            .arg("install")
            .status()
            .unwrap_or_else(|e| panic!("cannot run scripts/prism install: {e}"));
        assert!(
            status.success() && bin.exists(),
            "Prism is not installed and `scripts/prism install` failed (see its message above): \
             the conformance test needs npm (apt-get install nodejs npm), then run ./scripts/test"
        );
    }
    bin
}

/// What the proxy forwards to and the repeated keys it renamed.
#[derive(Clone)]
struct Proxy {
    prism: String,
    client: reqwest::Client,
    renamed: Arc<Mutex<Vec<String>>>,
}

/// Starts the proxy in front of `prism` (see the module comment); its base URL and the keys it
/// renamed.
async fn bracket_repeated_keys(prism: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let proxy = Proxy { prism, client: reqwest::Client::new(), renamed: Arc::default() };
    let renamed = proxy.renamed.clone();
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, renamed)
}

async fn forward(axum::extract::State(proxy): axum::extract::State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let repeated = |name: &str| pairs.iter().filter(|(k, _)| k == name).count() > 1;
    let form = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            if repeated(name) {
                form.append_pair(&format!("{name}[]"), value);
                proxy.renamed.lock().unwrap().push(name.clone());
            } else {
                form.append_pair(name, value);
            }
        }
        form.finish()
    };
    let url = format!("{}{}", proxy.prism, uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()));
    let mut request = proxy.client.request(method, url);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    if !body.is_empty() {
        request = request.body(form);
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = (status, answer.bytes().await.unwrap()).into_response();
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn prism_serving_twilios_specs_accepts_every_request_the_sender_makes() {
    let specs = root().join("tests/fixtures/twilio/openapi");
    let bin = prism_bin();
    let (_v2010, prism) = start(&bin, &specs.join("twilio_api_v2010.json"));
    let (api, renamed) = bracket_repeated_keys(prism).await;
    let (_lookups, lookups) = start(&bin, &specs.join("twilio_lookups_v2.json"));
    let service = || {
        TwilioService::new(&api, &lookups, Credentials { username: ACCOUNT.into(), password: "token".into() }, Duration::from_secs(30)).unwrap()
    };

    let (_dir, store) = store();
    let customer = CustomerNumbers { mobile: Some("+14155550123".into()), phone: None };
    let with_from = dispatch(&store, "e1", customer.clone(), &[(Channel::Sms, "customer", "SMS with From"), (Channel::Call, "team:accounting", "A call & <TwiML>")]).await;
    let driver = sender(&store, Some(service()), settings(TwilioMode::Live));
    let mut done = settle(&driver, &store, &with_from).await;

    let with_service = dispatch(&store, "e2", customer, &[(Channel::Sms, "customer", "SMS with a messaging service")]).await;
    let mut settings = settings(TwilioMode::Live);
    settings.sink.identity.messaging_service_sid = Some("MG0123456789abcdef0123456789abcdef".into());
    let driver = sender(&store, Some(service()), settings);
    done.extend(settle(&driver, &store, &with_service).await);

    let mut kinds = Vec::new();
    for m in &done {
        for a in store.list_attempts(m.row.id).await.unwrap() {
            let status = a.http_status.unwrap_or(0);
            assert!((200..300).contains(&status), "Prism refused {}: {:?} {:?}", a.request, a.http_status, a.error_message);
            kinds.push(a.kind);
        }
        assert_eq!(m.row.status, OutboxStatus::Sent, "{m:?}");
    }
    kinds.sort();
    assert_eq!(kinds, vec!["call", "lookup", "lookup", "message", "message"]);
    let service_request = &store.list_attempts(with_service[0]).await.unwrap().into_iter().find(|a| a.kind == "message").unwrap().request;
    assert!(service_request.contains("MessagingServiceSid"), "{service_request}");
    let mut renamed = renamed.lock().unwrap().clone();
    renamed.dedup();
    assert_eq!(renamed, ["StatusCallbackEvent"], "the call's progress events were checked as an array");
}
