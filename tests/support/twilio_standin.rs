//! A Twilio stand-in: a real HTTP server on 127.0.0.1 that records every request and answers
//! from a script (by default: 201 with a fresh SID for Messages and Calls, a valid mobile for
//! Lookups, an empty list for list requests, or with [`Twilio::list_what_was_created`] the
//! messages and calls it really created). Used by the sender's tests and shipped as the
//! `twilio-stand-in` example (`cargo run --example twilio-stand-in`).
#![allow(dead_code)] // each test binary (and the example) uses a different subset

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET` or `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Decoded form parameters.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// A form or query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().chain(&self.query).find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `METHOD last-path-segment`, e.g. `POST Messages.json`.
    pub fn short(&self) -> String {
        let last = if self.path.starts_with("/v2/PhoneNumbers/") { "Lookup" } else { self.path.rsplit('/').next().unwrap_or("") };
        format!("{} {last}", self.method)
    }
}

/// A scripted answer to the next create (POST) request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// `Retry-After` header.
    pub retry_after: Option<&'static str>,
    /// Wait this long before answering (to provoke the client's timeout).
    pub delay: Duration,
}

impl Reply {
    /// A Twilio error body with `code` and `message`.
    pub fn error(status: u16, code: i64, message: &str) -> Reply {
        Reply {
            status,
            body: json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
            retry_after: None,
            delay: Duration::ZERO,
        }
    }

    /// 201 with `sid`.
    pub fn created(sid: &str) -> Reply {
        Reply { status: 201, body: json!({"sid": sid, "status": "queued"}), retry_after: None, delay: Duration::ZERO }
    }
}

/// The stand-in's state.
#[derive(Default)]
pub struct Twilio {
    /// Every request, in arrival order.
    pub requests: Mutex<Vec<Recorded>>,
    /// Answers for the next POSTs; when empty, 201 with a fresh SID.
    pub script: Mutex<VecDeque<Reply>>,
    /// Lookups answers by E.164 number; default valid mobile.
    pub lookups: Mutex<HashMap<String, Value>>,
    /// The answer to list requests (ambiguous-send reconciliation).
    pub list: Mutex<Value>,
    /// List requests answer with [`Twilio::creates`] instead of `list`.
    pub lists_show_creates: AtomicBool,
    /// Every message and call created (answered 2xx), as Twilio lists them.
    pub creates: Mutex<Vec<Value>>,
    counter: Mutex<u32>,
}

impl Twilio {
    /// Starts the stand-in on a free port of 127.0.0.1; returns its base URL.
    pub async fn start() -> (Arc<Twilio>, String) {
        Twilio::start_on("127.0.0.1:0").await
    }

    /// Starts the stand-in on `addr`; returns its base URL.
    pub async fn start_on(addr: &str) -> (Arc<Twilio>, String) {
        let state = Arc::new(Twilio { list: Mutex::new(json!({"messages": [], "calls": []})), ..Twilio::default() });
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (state, format!("http://{addr}"))
    }

    /// Queues scripted answers for the next POSTs.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Sets the Lookups answer for `number`.
    pub fn lookup(&self, number: &str, answer: Value) {
        self.lookups.lock().unwrap().insert(number.to_owned(), answer);
    }

    /// Answers list requests with the messages (or calls) really created to the `To` asked
    /// about, as Twilio does, instead of the scripted `list`: a sender that reconciles after a
    /// replica died mid-request finds exactly what that request created.
    pub fn list_what_was_created(&self) {
        self.lists_show_creates.store(true, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// `METHOD resource` of every request, in order.
    pub fn shorts(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::short).collect()
    }

    /// The create (POST) requests.
    pub fn posts(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "POST").collect()
    }
}

async fn handle(State(tw): State<Arc<Twilio>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: percent_decode(uri.path()),
        query: decode_form(uri.query().unwrap_or("")),
        form: decode_form(std::str::from_utf8(&body).unwrap_or("")),
        auth: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        at: Instant::now(),
    };
    tw.requests.lock().unwrap().push(rec.clone());
    if let Some(number) = rec.path.strip_prefix("/v2/PhoneNumbers/") {
        let answer = tw.lookups.lock().unwrap().get(number).cloned().unwrap_or_else(|| {
            json!({"phone_number": number, "valid": true, "validation_errors": [], "line_type_intelligence": {"type": "mobile", "carrier_name": "Stand-in Mobile"}})
        });
        return (StatusCode::OK, axum::Json(answer)).into_response();
    }
    if method == Method::GET {
        if tw.lists_show_creates.load(Ordering::SeqCst) {
            return (StatusCode::OK, axum::Json(list_of_creates(&tw, &rec))).into_response();
        }
        return (StatusCode::OK, axum::Json(tw.list.lock().unwrap().clone())).into_response();
    }
    let reply = tw.script.lock().unwrap().pop_front();
    let reply = reply.unwrap_or_else(|| {
        let mut n = tw.counter.lock().unwrap();
        *n += 1;
        let prefix = if rec.path.ends_with("Calls.json") { "CA" } else { "SM" };
        Reply::created(&format!("{prefix}{:032x}", *n))
    });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    record_create(&tw, &rec, &reply);
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), axum::Json(reply.body)).into_response();
    if let Some(v) = reply.retry_after {
        response.headers_mut().insert("retry-after", v.parse().unwrap());
    }
    response
}

/// Keeps a 2xx-answered create the way Twilio's list shows it.
fn record_create(tw: &Twilio, rec: &Recorded, reply: &Reply) {
    let Some(sid) = reply.body.get("sid").and_then(Value::as_str).filter(|_| (200..300).contains(&reply.status)) else { return };
    let uri = format!("{}/{sid}.json", rec.path.trim_end_matches(".json"));
    let date = chrono::Utc::now().to_rfc2822();
    let mut item = json!({"sid": sid, "uri": uri, "to": rec.param("To"), "from": rec.param("From"), "status": "queued", "date_created": date});
    if rec.path.ends_with("Messages.json") {
        item["body"] = json!(rec.param("Body"));
    }
    tw.creates.lock().unwrap().push(item);
}

/// A list answer from what was created, newest first as Twilio lists: the resource the path
/// names, to the `To` asked about.
fn list_of_creates(tw: &Twilio, rec: &Recorded) -> Value {
    let key = if rec.path.ends_with("Calls.json") { "calls" } else { "messages" };
    let prefix = format!("{}/", rec.path.trim_end_matches(".json"));
    let to = rec.param("To");
    let items: Vec<Value> = tw
        .creates
        .lock()
        .unwrap()
        .iter()
        .rev()
        .filter(|item| item["uri"].as_str().is_some_and(|u| u.starts_with(&prefix)) && (to.is_none() || item["to"].as_str() == to))
        .cloned()
        .collect();
    json!({ key: items })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}
