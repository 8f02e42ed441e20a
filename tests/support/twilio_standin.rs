//! A Twilio stand-in: a real HTTP server on 127.0.0.1 that records every request and answers
//! from a script (by default: 201 with a fresh SID for Messages and Calls, a valid mobile for
//! Lookups, an empty list for list requests). Used by the sender's tests and shipped as the
//! `twilio-stand-in` example (`cargo run --example twilio-stand-in`).
//!
//! [`Twilio::behave_like_twilio`] makes it answer as Twilio would for the fault soak: list
//! requests return what it really created (a call's status as it goes: queued, ringing,
//! in-progress, completed; 50 a page unless `PageSize` says otherwise, with `next_page_uri`),
//! each create is followed by signed status callbacks to the URL the request named (an SMS's
//! `sent` at once; for a call each `StatusCallbackEvent` it asked for, as the call reaches it,
//! only `completed` when it asked for none), each sent once, and a seeded [`FaultPlan`] answers
//! about a given share of requests with 429 (`Retry-After`), 500, a timeout, a dropped
//! connection or a slow answer.
#![allow(dead_code)] // each test binary (and the example) uses a different subset

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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

/// A fault the stand-in answers a request with instead of its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 429 with Twilio's error 20429 and `Retry-After: 1`; nothing created.
    RateLimited,
    /// 500; nothing created.
    ServerError,
    /// Created (for a create), answered only after [`FaultPlan::timeout`], which is longer than
    /// the sender's request timeout.
    Timeout,
    /// The connection is dropped without an answer; every other dropped create was created
    /// first (the request reached Twilio, the answer was lost), the others were not.
    Dropped,
    /// Answered normally after [`FaultPlan::slow`], within the sender's timeout.
    Slow,
}

impl Fault {
    /// Every fault, in the order the plan picks from.
    pub const ALL: [Fault; 5] = [Fault::RateLimited, Fault::ServerError, Fault::Timeout, Fault::Dropped, Fault::Slow];
}

/// A deterministic schedule of faults: request `n` (counted from 0 in arrival order) gets a
/// fault when a hash of `(seed, n)` falls in the first `percent` of 100, and which one is drawn
/// from the same hash.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Seeds the schedule.
    pub seed: u64,
    /// Share of requests that get a fault, in percent.
    pub percent: u64,
    /// How long a [`Fault::Timeout`] waits before answering.
    pub timeout: Duration,
    /// How long a [`Fault::Slow`] answer takes.
    pub slow: Duration,
}

impl FaultPlan {
    /// The fault for request `n`, if any.
    pub fn fault(&self, n: u64) -> Option<Fault> {
        let hash = splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (hash % 100 < self.percent).then(|| Fault::ALL[((hash / 100) % Fault::ALL.len() as u64) as usize])
    }
}

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A message or call the stand-in created (answered or not).
#[derive(Debug, Clone)]
pub struct Created {
    /// `SM…` or `CA…`.
    pub sid: String,
    /// `Messages` or `Calls`.
    pub resource: &'static str,
    /// The `To` number.
    pub to: String,
    /// The SMS body (`None` for calls).
    pub body: Option<String>,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The `StatusCallback` URL the request named (with the sender's message tag in its query).
    pub callback: Option<String>,
    /// The `StatusCallbackEvent` values the request named (calls), in order.
    pub events: Vec<String>,
    /// The fault its request was answered with, if any.
    pub fault: Option<Fault>,
}

impl Created {
    /// A query parameter of its status callback URL (`outbox`, `series`, `attempt`).
    pub fn tag(&self, name: &str) -> Option<String> {
        let query = self.callback.as_deref()?.split_once('?')?.1;
        decode_form(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// How the stand-in behaves beyond its script: set by [`Twilio::behave_like_twilio`].
#[derive(Debug, Clone)]
struct Realism {
    /// Signs the status callbacks it sends.
    auth_token: String,
    /// How long each call lasts from its create: it rings after a fifth of it, is answered after
    /// two fifths and completes at its end (an SMS is `sent` at once).
    call_duration: Duration,
    /// Faults to inject, if any.
    faults: Option<FaultPlan>,
}

impl Realism {
    /// A call's progress events (Twilio's `StatusCallbackEvent` names), each with the
    /// `CallStatus` its callback carries and when it comes after the create.
    fn call_events(&self) -> [(&'static str, &'static str, Duration); 4] {
        let d = self.call_duration;
        [("initiated", "initiated", Duration::ZERO), ("ringing", "ringing", d / 5), ("answered", "in-progress", d * 2 / 5), ("completed", "completed", d)]
    }

    /// The status Twilio's call list shows `elapsed` after the create.
    fn call_status(&self, elapsed: Duration) -> &'static str {
        let d = self.call_duration;
        if elapsed < d / 5 {
            "queued"
        } else if elapsed < d * 2 / 5 {
            "ringing"
        } else if elapsed < d {
            "in-progress"
        } else {
            "completed"
        }
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
    /// The answer to list requests (ambiguous-send reconciliation), unless it behaves like
    /// Twilio (then lists show what was created).
    pub list: Mutex<Value>,
    /// Further pages of `list`, answered to `Page=1`, `Page=2`, … (unless it behaves like Twilio).
    pub list_pages: Mutex<Vec<Value>>,
    /// Every message and call created, in order.
    pub created: Mutex<Vec<Created>>,
    /// How many requests got each fault.
    pub faults: Mutex<HashMap<Fault, u64>>,
    /// Status callbacks sent and answered with 2xx, and those that were not (the host down).
    pub callbacks: Mutex<(u64, u64)>,
    /// Per SID created, how many of its status callbacks were answered with 2xx.
    pub delivered_by_sid: Mutex<HashMap<String, u32>>,
    /// Why each callback that was not answered with 2xx failed.
    pub callback_failures: Mutex<Vec<String>>,
    realism: Mutex<Option<Realism>>,
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
        let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let listener = DroppingListener(listener);
        tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<Connection>()).await.unwrap() });
        (state, format!("http://{addr}"))
    }

    /// Answers as Twilio would: list requests return what was created, every create is followed
    /// by status callbacks signed with `auth_token` (a call's as it goes, over `call_duration`),
    /// and `faults` (if any) are injected.
    pub fn behave_like_twilio(&self, auth_token: &str, call_duration: Duration, faults: Option<FaultPlan>) {
        *self.realism.lock().unwrap() = Some(Realism { auth_token: auth_token.to_owned(), call_duration, faults });
    }

    /// Queues scripted answers for the next POSTs.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Sets the Lookups answer for `number`.
    pub fn lookup(&self, number: &str, answer: Value) {
        self.lookups.lock().unwrap().insert(number.to_owned(), answer);
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

    /// Every message and call created so far.
    pub fn created(&self) -> Vec<Created> {
        self.created.lock().unwrap().clone()
    }

    fn next_sid(&self, resource: &str) -> String {
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let prefix = if resource == "Calls" { "CA" } else { "SM" };
        format!("{prefix}{:032x}", *n)
    }

    /// Records a create of `rec` and schedules its status callback; its SID.
    fn create(self: &Arc<Self>, rec: &Recorded, resource: &'static str, fault: Option<Fault>, realism: &Realism) -> String {
        let sid = self.next_sid(resource);
        let created = Created {
            sid: sid.clone(),
            resource,
            to: rec.param("To").unwrap_or_default().to_owned(),
            body: rec.param("Body").map(str::to_owned),
            created_at: chrono::Utc::now(),
            callback: rec.param("StatusCallback").map(str::to_owned),
            events: rec.form.iter().filter(|(k, _)| k == "StatusCallbackEvent").map(|(_, v)| v.clone()).collect(),
            fault,
        };
        self.created.lock().unwrap().push(created.clone());
        if let Some(url) = created.callback.clone() {
            let (tw, realism) = (self.clone(), realism.clone());
            tokio::spawn(async move { tw.call_back(&url, &created, &realism).await });
        }
        sid
    }

    /// Sends `created`'s status callbacks to `url`, each once (Twilio does not retry one the host
    /// does not answer): an SMS's `sent` at once; a call's events as it reaches them, those it
    /// asked for (`completed` alone when none), numbered by `SequenceNumber`.
    async fn call_back(&self, url: &str, created: &Created, realism: &Realism) {
        let start = tokio::time::Instant::now();
        let schedule: Vec<(&str, &str, &str, Duration)> = match created.resource {
            "Calls" => realism
                .call_events()
                .into_iter()
                .filter(|(event, ..)| if created.events.is_empty() { *event == "completed" } else { created.events.iter().any(|e| e == event) })
                .map(|(_, status, after)| ("CallSid", "CallStatus", status, after))
                .collect(),
            _ => vec![("MessageSid", "MessageStatus", "sent", Duration::from_millis(100))],
        };
        for (sequence, (sid_name, status_name, status, after)) in schedule.into_iter().enumerate() {
            tokio::time::sleep_until(start + after).await;
            let mut params: Vec<(String, String)> = vec![
                ("AccountSid".into(), "AC0123456789abcdef0123456789abcdef".into()),
                (sid_name.into(), created.sid.clone()),
                (status_name.into(), status.into()),
                ("To".into(), created.to.clone()),
            ];
            if created.resource == "Calls" {
                params.push(("SequenceNumber".into(), sequence.to_string()));
                if status == "completed" {
                    params.push(("CallDuration".into(), realism.call_duration.as_secs().max(1).to_string()));
                }
            }
            self.send_callback(url, &created.sid, &params, realism).await;
        }
    }

    /// Posts one signed status callback and counts whether the host answered it.
    async fn send_callback(&self, url: &str, sid: &str, params: &[(String, String)], realism: &Realism) {
        let signature = ml_connector::sources::twilio::signature::compute(&realism.auth_token, url, params);
        let sent = reqwest::Client::new()
            .post(url)
            .header("x-twilio-signature", signature)
            .form(params)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("{}: {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => Some(e.to_string()),
        };
        let mut counts = self.callbacks.lock().unwrap();
        match failure {
            None => {
                counts.0 += 1;
                *self.delivered_by_sid.lock().unwrap().entry(sid.to_owned()).or_default() += 1;
            }
            Some(why) => {
                counts.1 += 1;
                self.callback_failures.lock().unwrap().push(why);
            }
        }
    }

    /// What was created at `path` (`…/Messages.json` or `…/Calls.json`) to the listed `To`,
    /// newest first, in Twilio's list shape: page `Page` (from 0) of `PageSize` (50), with
    /// `next_page_uri` when more follow.
    fn list_created(&self, rec: &Recorded, realism: &Realism) -> Value {
        let resource = if rec.path.ends_with("Calls.json") { "Calls" } else { "Messages" };
        let to = rec.param("To");
        let page_size: usize = rec.param("PageSize").and_then(|p| p.parse().ok()).unwrap_or(50).max(1);
        let page: usize = rec.param("Page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let now = chrono::Utc::now();
        let all: Vec<Created> = self.created().into_iter().rev().filter(|c| c.resource == resource && to.is_none_or(|t| t == c.to)).collect();
        let items: Vec<Value> = all
            .iter()
            .skip(page * page_size)
            .take(page_size)
            .map(|c| {
                let status = match resource {
                    "Calls" => realism.call_status((now - c.created_at).to_std().unwrap_or_default()),
                    _ => "sent",
                };
                let mut item = json!({"sid": c.sid, "to": c.to, "status": status, "date_created": c.created_at.to_rfc2822()});
                if let Some(body) = &c.body {
                    item["body"] = json!(body);
                }
                item
            })
            .collect();
        let mut list = serde_json::Map::new();
        list.insert(resource.to_lowercase(), Value::Array(items));
        list.insert("page".into(), json!(page));
        list.insert("page_size".into(), json!(page_size));
        let next = ((page + 1) * page_size < all.len()).then(|| {
            let mut query: Vec<(String, String)> = rec.query.iter().filter(|(k, _)| !["Page", "PageToken", "PageSize"].contains(&k.as_str())).cloned().collect();
            query.extend([("PageSize".into(), page_size.to_string()), ("Page".into(), (page + 1).to_string()), ("PageToken".into(), format!("PA{}", page + 1))]);
            let encoded: String = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
            format!("{}?{encoded}", rec.path)
        });
        list.insert("next_page_uri".into(), next.map_or(Value::Null, Value::String));
        Value::Object(list)
    }
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn handle(State(tw): State<Arc<Twilio>>, ConnectInfo(connection): ConnectInfo<Connection>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let rec = Recorded {
        method: method.to_string(),
        path: percent_decode(uri.path()),
        query: decode_form(uri.query().unwrap_or("")),
        form: decode_form(std::str::from_utf8(&body).unwrap_or("")),
        auth: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        at: Instant::now(),
    };
    let number = {
        let mut requests = tw.requests.lock().unwrap();
        requests.push(rec.clone());
        requests.len() as u64 - 1
    };
    let realism = tw.realism.lock().unwrap().clone();
    let fault = realism.as_ref().and_then(|r| r.faults).and_then(|plan| plan.fault(number).map(|f| (plan, f)));
    if let Some((_, f)) = fault {
        *tw.faults.lock().unwrap().entry(f).or_default() += 1;
    }
    let resource = if rec.path.ends_with("Calls.json") { "Calls" } else { "Messages" };
    let creates = method == Method::POST && !rec.path.starts_with("/v2/PhoneNumbers/");
    match fault {
        Some((_, Fault::RateLimited)) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"code": 20429, "message": "Too Many Requests", "status": 429}))).into_response();
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            return r;
        }
        Some((_, Fault::ServerError)) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"code": 20500, "message": "Internal Server Error", "status": 500}))).into_response();
        }
        Some((_, Fault::Dropped)) => {
            // Every other dropped create reached Twilio before the connection was lost.
            let dropped_before = tw.faults.lock().unwrap().get(&Fault::Dropped).copied().unwrap_or(0);
            if creates && dropped_before % 2 == 0 && let Some(realism) = &realism {
                tw.create(&rec, resource, Some(Fault::Dropped), realism);
            }
            connection.drop_now();
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        _ => {}
    }
    let delay = match fault {
        Some((plan, Fault::Timeout)) => plan.timeout,
        Some((plan, Fault::Slow)) => plan.slow,
        _ => Duration::ZERO,
    };
    let (response, scripted_delay) = answer(&tw, &rec, realism.as_ref(), resource, creates, fault.map(|(_, f)| f));
    tokio::time::sleep(delay + scripted_delay).await;
    response
}

/// The normal answer to `rec` (created now, whenever it is sent) and its scripted delay.
fn answer(tw: &Arc<Twilio>, rec: &Recorded, realism: Option<&Realism>, resource: &'static str, creates: bool, fault: Option<Fault>) -> (Response, Duration) {
    if let Some(number) = rec.path.strip_prefix("/v2/PhoneNumbers/") {
        let answer = tw.lookups.lock().unwrap().get(number).cloned().unwrap_or_else(|| {
            json!({"phone_number": number, "valid": true, "validation_errors": [], "line_type_intelligence": {"type": "mobile", "carrier_name": "Stand-in Mobile"}})
        });
        return ((StatusCode::OK, axum::Json(answer)).into_response(), Duration::ZERO);
    }
    if rec.method == "GET" {
        let list = match realism {
            Some(realism) => tw.list_created(rec, realism),
            None => match rec.param("Page").and_then(|p| p.parse::<usize>().ok()).filter(|p| *p > 0) {
                Some(page) => tw.list_pages.lock().unwrap().get(page - 1).cloned().unwrap_or_else(|| json!({"messages": [], "calls": []})),
                None => tw.list.lock().unwrap().clone(),
            },
        };
        return ((StatusCode::OK, axum::Json(list)).into_response(), Duration::ZERO);
    }
    let scripted = tw.script.lock().unwrap().pop_front();
    let reply = match (scripted, realism) {
        (Some(reply), _) => reply,
        (None, Some(r)) if creates => Reply::created(&tw.create(rec, resource, fault, r)),
        (None, _) => Reply::created(&tw.next_sid(resource)),
    };
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), axum::Json(reply.body)).into_response();
    if let Some(v) = reply.retry_after {
        response.headers_mut().insert("retry-after", v.parse().unwrap());
    }
    (response, reply.delay)
}

/// A TCP listener whose connections a handler can drop without answering.
struct DroppingListener(TcpListener);

/// What a handler knows of its connection: the switch that drops it.
#[derive(Debug, Clone, Default)]
struct Connection {
    dropped: Arc<AtomicBool>,
}

impl Connection {
    /// From now on the connection reads end-of-file and refuses writes, so the server closes it
    /// without writing an answer.
    fn drop_now(&self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Listener for DroppingListener {
    type Io = DroppableStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let dropped = Arc::new(AtomicBool::new(false));
                    return (DroppableStream { inner: stream, dropped: dropped.clone() }, Connection { dropped });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(|_| Connection::default())
    }
}

impl Connected<IncomingStream<'_, DroppingListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, DroppingListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP stream that fails once its connection is dropped.
struct DroppableStream {
    inner: TcpStream,
    dropped: Arc<AtomicBool>,
}

impl DroppableStream {
    fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl AsyncRead for DroppableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.is_dropped() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_dropped() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_dropped() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
