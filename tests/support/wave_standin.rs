//! A local stand-in for Wave's OAuth endpoints (authorize, token) and GraphQL API: a real
//! HTTP server on 127.0.0.1 that the tests drive (tokens it accepts, errors it injects,
//! customers and invoices it knows) and inspect (every call). The same file is the
//! `wave-stand-in` example (`cargo run --example wave-stand-in`), seeded by [`seed_demo`].
#![allow(dead_code)] // each test binary (and the example) uses a different subset

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

/// The code the stand-in's token endpoint accepts for an authorization-code exchange.
pub const GOOD_CODE: &str = "good-code";
/// The client secret it expects.
pub const CLIENT_SECRET: &str = "client-secret-standin";

/// A callback run with the bearer token of each accepted GraphQL request.
pub type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// What the tests set and read.
pub struct Wave {
    /// Access tokens GraphQL accepts.
    pub valid_access: HashSet<String>,
    /// The one refresh token the token endpoint accepts (rotated by every refresh).
    pub valid_refresh: String,
    /// Tokens issued so far (names the next ones).
    pub issued: u32,
    /// `expires_in` of issued tokens.
    pub expires_in: u64,
    /// How long a refresh takes (to make concurrent callers overlap).
    pub refresh_delay: Duration,
    /// When set, refreshes fail with this OAuth error code.
    pub refresh_error: Option<String>,
    /// Statuses to answer the next token requests with before answering normally.
    pub token_failures: VecDeque<u16>,
    /// `Retry-After` seconds sent with GraphQL failures, when set.
    pub retry_after: Option<u64>,
    /// Every token request's form.
    pub token_calls: Vec<HashMap<String, String>>,
    /// Statuses to answer the next GraphQL requests with before answering normally.
    pub graphql_failures: VecDeque<u16>,
    /// Answer this many GraphQL requests with UNAUTHENTICATED regardless of the token.
    pub unauthenticated: usize,
    /// Every GraphQL request body.
    pub graphql_calls: Vec<Value>,
    /// Called with the bearer token of each GraphQL request that is accepted.
    pub on_graphql: Option<Hook>,
    /// The business's name.
    pub business_name: String,
    /// The business's time zone, as Wave reports it (`None`: Wave's `null`).
    pub business_timezone: Option<String>,
    /// Customers by raw id.
    pub customers: HashMap<String, Value>,
    /// Invoices by raw id.
    pub invoices: HashMap<String, Value>,
    /// Raw ids of OVERDUE invoices, in due order.
    pub overdue: Vec<String>,
    /// Redirect URI the exchange must carry.
    pub redirect_uri: Option<String>,
}

impl Wave {
    /// How many refresh_token grants were asked for.
    pub fn refresh_calls(&self) -> usize {
        self.token_calls.iter().filter(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token")).count()
    }
}

/// The running stand-in.
#[derive(Clone)]
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Shared state.
    pub wave: Arc<Mutex<Wave>>,
}

impl StandIn {
    /// `{base}/oauth2/token/`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token/", self.base)
    }
    /// `{base}/oauth2/authorize/`.
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/authorize/", self.base)
    }
    /// `{base}/graphql/public`.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql/public", self.base)
    }
    /// Locks the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut Wave) -> T) -> T {
        f(&mut self.wave.lock().unwrap())
    }
}

/// Starts the stand-in on a free port of 127.0.0.1, accepting `access` and `refresh`.
pub async fn start(access: &str, refresh: &str) -> StandIn {
    start_on("127.0.0.1:0", access, refresh).await
}

/// Starts the stand-in on `addr` on the current tokio runtime, accepting `access` and `refresh`.
pub async fn start_on(addr: &str, access: &str, refresh: &str) -> StandIn {
    let wave = Arc::new(Mutex::new(Wave {
        valid_access: HashSet::from([access.to_owned()]),
        valid_refresh: refresh.to_owned(),
        issued: 0,
        expires_in: 7200,
        refresh_delay: Duration::ZERO,
        refresh_error: None,
        token_failures: VecDeque::new(),
        retry_after: None,
        token_calls: Vec::new(),
        graphql_failures: VecDeque::new(),
        unauthenticated: 0,
        graphql_calls: Vec::new(),
        on_graphql: None,
        business_name: "Acme Plumbing".into(),
        business_timezone: Some("America/Chicago".into()),
        customers: HashMap::new(),
        invoices: HashMap::new(),
        overdue: Vec::new(),
        redirect_uri: None,
    }));
    let app = Router::new()
        .route("/oauth2/authorize/", get(authorize))
        .route("/oauth2/token/", post(token))
        .route("/graphql/public", post(graphql))
        .with_state(wave.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    StandIn { base, wave }
}

/// Wave's consent page, approved at once: back to `redirect_uri` with [`GOOD_CODE`] and the
/// `state` it was given.
async fn authorize(Query(query): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return oauth_error("invalid_request");
    };
    let state: String = form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let location = format!("{redirect}?code={GOOD_CODE}&state={state}");
    (StatusCode::FOUND, [(axum::http::header::LOCATION, location)]).into_response()
}

/// Seeds what the README's demo needs for Wave's sample events (`wave send-test-event`): the
/// sample's customer `123` with a mobile number, its overdue invoice `123`, and a paid one.
pub fn seed_demo(standin: &StandIn) {
    let business = "test-business-id";
    standin.with(|w| {
        w.business_name = "Acme Plumbing".into();
        w.customers.insert("123".into(), customer_node(business, "123", "Dana Whitfield", Some("(415) 555-0123"), Some("415-555-0199")));
        w.invoices.insert("123".into(), invoice_node(business, "123", "INV-0042", "OVERDUE", "200.00"));
        w.invoices.insert("124".into(), invoice_node(business, "124", "INV-0043", "PAID", "0.00"));
        w.overdue = vec!["123".into()];
    });
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": code, "error_description": format!("stand-in says {code}")}))).into_response()
}

async fn token(State(wave): State<Arc<Mutex<Wave>>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let delay = {
        let mut w = wave.lock().unwrap();
        w.token_calls.push(form.clone());
        if let Some(status) = w.token_failures.pop_front() {
            return (StatusCode::from_u16(status).unwrap(), "stand-in failure").into_response();
        }
        w.refresh_delay
    };
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) || !form.contains_key("client_id") {
        return oauth_error("invalid_client");
    }
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if grant == "refresh_token" {
        tokio::time::sleep(delay).await;
    }
    let mut w = wave.lock().unwrap();
    if let Some(expected) = &w.redirect_uri
        && form.get("redirect_uri") != Some(expected)
    {
        return oauth_error("invalid_request");
    }
    match grant.as_str() {
        "authorization_code" if form.get("code").map(String::as_str) == Some(GOOD_CODE) => {}
        "authorization_code" => return oauth_error("invalid_grant"),
        "refresh_token" => {
            if let Some(e) = w.refresh_error.clone() {
                return oauth_error(&e);
            }
            if form.get("refresh_token") != Some(&w.valid_refresh) {
                return oauth_error("invalid_grant");
            }
        }
        _ => return oauth_error("unsupported_grant_type"),
    }
    w.issued += 1;
    let access = format!("access-{}", w.issued);
    let refresh = format!("refresh-{}", w.issued);
    w.valid_access.insert(access.clone());
    w.valid_refresh = refresh.clone();
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": w.expires_in,
        "refresh_token": refresh,
        "scope": "business:read customer:read invoice:read",
        "businessId": "63c77f29-875c-4cdc-947d-07430f628043",
    }))
    .into_response()
}

fn raw_id(encoded: &str, kind: &str) -> Option<String> {
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok()?;
    text.split(';').find_map(|p| p.strip_prefix(kind)?.strip_prefix(':').map(str::to_owned))
}

fn unauthenticated() -> Response {
    axum::Json(json!({"data": null, "errors": [{"message": "Not authenticated", "extensions": {"code": "UNAUTHENTICATED"}}]})).into_response()
}

async fn graphql(State(wave): State<Arc<Mutex<Wave>>>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    let token = headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("").to_owned();
    let hook = {
        let mut w = wave.lock().unwrap();
        w.graphql_calls.push(body.clone());
        if let Some(status) = w.graphql_failures.pop_front() {
            let mut response = (StatusCode::from_u16(status).unwrap(), "stand-in failure").into_response();
            if let Some(secs) = w.retry_after {
                response.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            }
            return response;
        }
        if w.unauthenticated > 0 {
            w.unauthenticated -= 1;
            return unauthenticated();
        }
        if !w.valid_access.contains(&token) {
            return unauthenticated();
        }
        w.on_graphql.clone()
    };
    if let Some(hook) = hook {
        hook(&token);
    }
    let w = wave.lock().unwrap();
    let query = body["query"].as_str().unwrap_or("");
    let vars = &body["variables"];
    let Some(business) = vars["businessId"].as_str().and_then(|b| raw_id(b, "Business")) else {
        return axum::Json(json!({"data": {"business": null}, "errors": [{"message": "no business", "path": ["business"], "extensions": {"code": "NOT_FOUND"}}]})).into_response();
    };
    let mut errors = Vec::new();
    let mut node = json!({"id": base64::engine::general_purpose::STANDARD.encode(format!("Business:{business}")), "name": w.business_name, "timezone": w.business_timezone});
    if query.contains("customer(id:") {
        let id = vars["customerId"].as_str().and_then(|c| raw_id(c, "Customer")).unwrap_or_default();
        node["customer"] = w.customers.get(&id).cloned().unwrap_or(Value::Null);
        if node["customer"].is_null() {
            errors.push(json!({"message": "Customer not found", "path": ["business", "customer"], "extensions": {"code": "NOT_FOUND"}}));
        }
    }
    if query.contains("invoice(id:") {
        let id = vars["invoiceId"].as_str().and_then(|c| raw_id(c, "Invoice")).unwrap_or_default();
        node["invoice"] = w.invoices.get(&id).cloned().unwrap_or(Value::Null);
        if node["invoice"].is_null() {
            errors.push(json!({"message": "Invoice not found", "path": ["business", "invoice"], "extensions": {"code": "NOT_FOUND"}}));
        }
    }
    if query.contains("invoices(") {
        let page = vars["page"].as_u64().unwrap_or(1) as usize;
        let size = vars["pageSize"].as_u64().unwrap_or(10) as usize;
        let pages = w.overdue.len().div_ceil(size).max(1);
        let edges: Vec<Value> = w
            .overdue
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|id| {
                let mut inv = w.invoices.get(id).cloned().unwrap_or_else(|| invoice_node(&business, id, "0000", "OVERDUE", "10.00"));
                inv["invoiceDate"] = json!("2026-03-01");
                inv["customer"] = json!({"id": base64::engine::general_purpose::STANDARD.encode(format!("Business:{business};Customer:21840161"))});
                json!({"node": inv})
            })
            .collect();
        node["invoices"] = json!({"pageInfo": {"currentPage": page, "totalPages": pages, "totalCount": w.overdue.len()}, "edges": edges});
    }
    let mut reply = json!({"data": {"business": node}});
    if !errors.is_empty() {
        reply["errors"] = json!(errors);
    }
    axum::Json(reply).into_response()
}

/// A customer node as Wave's GraphQL returns it.
pub fn customer_node(business: &str, id: &str, name: &str, mobile: Option<&str>, phone: Option<&str>) -> Value {
    json!({
        "id": base64::engine::general_purpose::STANDARD.encode(format!("Business:{business};Customer:{id}")),
        "name": name,
        "email": format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        "mobile": mobile,
        "phone": phone,
    })
}

/// An invoice node as Wave's GraphQL returns it.
pub fn invoice_node(business: &str, id: &str, number: &str, status: &str, due: &str) -> Value {
    json!({
        "id": base64::engine::general_purpose::STANDARD.encode(format!("Business:{business};Invoice:{id}")),
        "invoiceNumber": number,
        "status": status,
        "dueDate": "2026-04-30",
        "viewUrl": format!("https://wave.example/invoices/{id}"),
        "total": {"value": "8.98", "currency": {"code": "USD"}},
        "amountDue": {"value": due, "currency": {"code": "USD"}},
    })
}
