//! A local stand-in for a QAD Adaptive ERP tenant, following
//! the sketch in QAD's API notes (what is confirmed, inferred and unknown about QAD's REST API): a real HTTP server on 127.0.0.1
//! under a configurable context root (`/clouderp`), with OAuth password and
//! refresh grants (form body or query), `api/qracore/securityControl`,
//! Bearer (or Basic) auth, an optional required `x-qad-workspace-id`,
//! browses with repeated filters (eq sw ew cn gt ge lt le rg), paging
//! (`page`, `pageSize`, `pageAction`; no rows without them or for an unknown
//! browse; `auxillaryData.HasMoreParams` as a string), `totalCount`,
//! `lookupBrowseFields`, `api/erp/supplierV2s` and
//! `api/erp/purchaseOrderHeaders` GET/POST with `concurrencyHash`. Business
//! rule: an invoice stays `AP-INITIAL` until a receipt for its PO posts, then
//! moves to `AP-RMALLOC`. Fault switches: 401 mid-page (tokens revoked), 403,
//! 429 with `Retry-After`, 5xx, slow answers, `success:false`, a concurrent
//! edit between read and write.
//!
//! Tests use it in-process (`#[path]` module; [`StandIn::with`] to seed and
//! inspect) and over its admin endpoints under `/_standin/`; the demo
//! (`cargo run --example qad-stand-in`) is the same code. It is one file
//! over 400 lines because it is one server whose handlers share one state;
//! splitting it would scatter the stand-in across test support files.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

/// The stand-in's client id (from securityControl).
pub const CLIENT_ID: &str = "standin-client";
/// The integration user.
pub const USERNAME: &str = "integration";
/// Its password.
pub const PASSWORD: &str = "qad-Passw0rd-standin";
/// The receipts browse.
pub const RECEIPTS: &str = "urn:browse:mfg:po501";
/// The PO browse.
pub const ORDERS: &str = "urn:browse:mfg:po803";
/// The supplier invoice browse.
pub const INVOICES: &str = "urn:browse:bebrowse:com.qad.erp.financials.supplierInvoices";

/// Faults to inject; counters count down per matching request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Revoke every token and answer 401 when a browse page with this number is asked for (once).
    pub revoke_on_page: Option<u32>,
    /// Answer every API call (not token grants) 403.
    pub forbidden: bool,
    /// Answer the next API calls 429 with these `Retry-After` seconds, one per call.
    pub too_many: VecDeque<u64>,
    /// Answer the next this many API calls 503.
    pub server_errors: u32,
    /// Delay the next this many API calls by `slow_ms`.
    pub slow: u32,
    /// How slow a slow answer is.
    pub slow_ms: u64,
    /// Answer the next this many PO POSTs 200 with `submitResult.success:false`.
    pub reject_writes: u32,
    /// After the next this many PO GETs, change the record (a buyer's edit), so the hash goes stale.
    pub edit_after_read: u32,
}

/// A purchase order header as `api/erp/purchaseOrderHeaders` holds it.
#[derive(Debug, Clone)]
pub struct PoHeader {
    /// `remarks`.
    pub remarks: String,
    /// The current `concurrencyHash`.
    pub hash: u64,
}

/// One request the stand-in saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// `token:password`, `token:refresh`, `securityControl`, `browse`, `totalCount`, `supplier`, `po:get`, `po:post`.
    pub kind: String,
    /// What it answered.
    pub status: u16,
    /// The browse id and page, the supplier code, …
    pub detail: String,
}

/// Everything the stand-in knows.
pub struct Qad {
    /// `clouderp` or `qad-central`.
    pub context_root: String,
    /// `sessionLength` minutes (securityControl).
    pub session_minutes: i64,
    /// `timeoutMinutes` (securityControl).
    pub timeout_minutes: i64,
    /// `expires_in` of issued tokens.
    pub expires_in: i64,
    /// When set, API calls must carry this `x-qad-workspace-id`.
    pub workspace: Option<String>,
    /// Valid access tokens.
    pub access: HashSet<String>,
    /// Valid refresh tokens.
    pub refresh: HashSet<String>,
    /// Tokens issued so far.
    pub issued: u32,
    /// The date modifications are stamped with (`YYYY-MM-DD`).
    pub today: String,
    /// Whether posting a receipt moves its PO's initial invoices to `AP-RMALLOC`.
    pub auto_match: bool,
    /// `po501` rows.
    pub receipts: Vec<Value>,
    /// `po803` rows.
    pub orders: Vec<Value>,
    /// Supplier invoice rows.
    pub invoices: Vec<Value>,
    /// `supplierV2s` records by code.
    pub suppliers: HashMap<String, Value>,
    /// `purchaseOrderHeaders` by PO number.
    pub headers: BTreeMap<String, PoHeader>,
    /// Faults to inject.
    pub faults: Faults,
    /// Every request.
    pub seen: Vec<Seen>,
    /// Every accepted PO POST body.
    pub writes: Vec<Value>,
    /// Every token request's parameters, the password replaced by `***`.
    pub token_calls: Vec<HashMap<String, String>>,
    /// Slow answers being delayed right now.
    pub in_flight: usize,
    /// The most slow answers delayed at once.
    pub max_in_flight: usize,
}

impl Qad {
    /// How many requests of `kind` were answered `status` (any status when `None`).
    pub fn count(&self, kind: &str, status: Option<u16>) -> usize {
        self.seen.iter().filter(|s| s.kind == kind && status.is_none_or(|st| st == s.status)).count()
    }

    /// Posts a goods receipt for `po` and applies the matching rule.
    pub fn post_receipt(&mut self, receiver: &str, po: &str, supplier: &str) {
        let today = self.today.clone();
        self.receipts.push(receipt_row(receiver, po, supplier, &today));
        if self.auto_match {
            for invoice in self.invoices.iter_mut().filter(|i| i["CInvoicePORef.CInvoicePOPoNbr"] == po && i["Reason.ReasonCode"] == "AP-INITIAL") {
                invoice["Reason.ReasonCode"] = json!("AP-RMALLOC");
                invoice["CInvoice.LastModifiedDate"] = json!(today);
            }
        }
    }

    /// Sets `field` of the row of `record` (`goods_receipt`, `purchase_order`, `supplier_invoice`)
    /// whose key is `key`, stamping today's modification date. False when no such row.
    pub fn set(&mut self, record: &str, key: &str, field: &str, value: Value) -> bool {
        let today = json!(self.today);
        let (rows, key_field, modified) = match record {
            "goods_receipt" => (&mut self.receipts, "prh_hist.prh_receiver", "prh_hist.prh_mod_date"),
            "purchase_order" => (&mut self.orders, "po_mstr.po_nbr", "po_mstr.po_mod_date"),
            _ => (&mut self.invoices, "CInvoice.CInvoiceReference", "CInvoice.LastModifiedDate"),
        };
        let Some(row) = rows.iter_mut().find(|r| r[key_field] == key) else { return false };
        row[field] = value;
        row[modified] = today;
        true
    }
}

/// A `po501` row.
pub fn receipt_row(receiver: &str, po: &str, supplier: &str, date: &str) -> Value {
    json!({"prh_hist.prh_receiver": receiver, "prh_hist.prh_nbr": po, "prh_hist.prh_vend": supplier,
           "prh_hist.prh_rcp_date": date, "prh_hist.prh_mod_date": date, "pt_mstr.pt_desc1": "Steel sheet 2mm"})
}

/// A `po803` row.
pub fn order_row(po: &str, supplier: &str, buyer: &str, status: &str, total: &str, date: &str) -> Value {
    json!({"po_mstr.po_nbr": po, "po_mstr.po_vend": supplier, "po_mstr.po_buyer": buyer, "po_mstr.po_stat": status,
           "po_mstr.po_total": total, "po_mstr.po_curr": "USD", "po_mstr.po_due_date": "2026-12-15", "po_mstr.po_mod_date": date})
}

/// A supplier invoice row.
pub fn invoice_row(reference: &str, po: &str, supplier: &str, status: &str, hold: &str, amount: &str, date: &str) -> Value {
    json!({"CInvoice.CInvoiceReference": reference, "CInvoicePORef.CInvoicePOPoNbr": po, "Creditor.CreditorCode": supplier,
           "Reason.ReasonCode": status, "CInvoice.CInvoiceHoldAmountTC": hold, "CInvoice.CInvoiceOriginalCreditTC": amount,
           "Currency.CurrencyCode": "USD", "CInvoice.CInvoiceDueDate": "2026-12-20", "CInvoice.LastModifiedDate": date})
}

/// A `supplierV2s` record.
pub fn supplier_record(code: &str, name: &str, telephone: &str, contact_phone: Option<&str>) -> Value {
    let contacts: Vec<Value> = contact_phone.map(|p| json!({"contactName": "Sales", "telephone": p})).into_iter().collect();
    json!({"supplierCode": code, "name": name, "telephone": telephone, "EMail": format!("ap@{}.example", code.to_lowercase()),
           "supplierContactV2s": contacts, "concurrencyHash": "h1"})
}

/// The running stand-in.
#[derive(Clone)]
pub struct StandIn {
    /// `http://127.0.0.1:PORT/clouderp`: the tenant URL to configure.
    pub base: String,
    /// Shared state.
    pub qad: Arc<Mutex<Qad>>,
}

impl StandIn {
    /// Locks the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut Qad) -> T) -> T {
        f(&mut self.qad.lock().unwrap())
    }
}

/// Starts an empty stand-in under `/{context_root}` on `addr` (`127.0.0.1:0` for any port).
pub async fn start_on(addr: &str, context_root: &str) -> StandIn {
    let qad = Arc::new(Mutex::new(Qad {
        context_root: context_root.trim_matches('/').to_owned(),
        session_minutes: 60,
        timeout_minutes: 30,
        expires_in: 3600,
        workspace: None,
        access: HashSet::new(),
        refresh: HashSet::new(),
        issued: 0,
        today: "2026-11-30".into(),
        auto_match: true,
        receipts: Vec::new(),
        orders: Vec::new(),
        invoices: Vec::new(),
        suppliers: HashMap::new(),
        headers: BTreeMap::new(),
        faults: Faults::default(),
        seen: Vec::new(),
        writes: Vec::new(),
        token_calls: Vec::new(),
        in_flight: 0,
        max_in_flight: 0,
    }));
    let root = format!("/{}", context_root.trim_matches('/'));
    let api = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/qracore/securityControl", get(security_control))
        .route("/api/qracore/browses", get(browses))
        .route("/api/qracore/browses/totalCount", get(total_count))
        .route("/api/qracore/browses/totalCount/", get(total_count))
        .route("/api/erp/supplierV2s", get(suppliers))
        .route("/api/erp/purchaseOrderHeaders", get(po_get).post(po_post));
    let admin = Router::new()
        .route("/seed", post(admin_seed))
        .route("/receipt", post(admin_receipt))
        .route("/set", post(admin_set))
        .route("/faults", post(admin_faults))
        .route("/requests", get(admin_requests))
        .route("/writes", get(admin_writes));
    let app = Router::new().nest(&root, api).nest("/_standin", admin).with_state(qad.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let base = format!("http://{}{root}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    StandIn { base, qad }
}

/// [`start_on`] any free port under `/clouderp`.
pub async fn start() -> StandIn {
    start_on("127.0.0.1:0", "clouderp").await
}

/// Seeds the demo tenant: three suppliers, POs pending and open, invoices waiting on a receipt
/// and on hold, one receipt, and the PO headers write-back goes to.
pub fn seed_demo(qad: &mut Qad) {
    let d = "2026-11-30";
    qad.suppliers.insert("S100".into(), supplier_record("S100", "Acme Steel", "(415) 555-2671", None));
    qad.suppliers.insert("S200".into(), supplier_record("S200", "Bolt & Nut Co", "", Some("+1 212 555 0100")));
    qad.suppliers.insert("S300".into(), supplier_record("S300", "Crate Packaging", "not on file", None));
    qad.orders = vec![
        order_row("PO-77", "S100", "B01", "P", "18250.00", d),
        order_row("PO-78", "S200", "B02", "O", "940.00", d),
        order_row("PO-79", "S300", "B01", "O", "3120.00", d),
    ];
    qad.invoices = vec![
        invoice_row("SI-1042", "PO-78", "S200", "AP-INITIAL", "0.00", "940.00", d),
        invoice_row("SI-1043", "PO-79", "S300", "AP-NOALLOC", "3120.00", "3120.00", d),
    ];
    qad.receipts = vec![receipt_row("RCV-500", "PO-79", "S300", d)];
    for po in ["PO-77", "PO-78", "PO-79"] {
        qad.headers.insert(po.into(), PoHeader { remarks: String::new(), hash: 1 });
    }
}

fn qad_errors(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"errors": [{"severity": 1, "code": status.as_u16().to_string(), "message": message, "fieldName": ""}]}))).into_response()
}

/// Checks auth and applies API faults; `Err` is the answer to send. Records the request.
async fn gate(qad: &Arc<Mutex<Qad>>, headers: &HeaderMap, kind: &str, detail: String, page: Option<u32>) -> Result<(), Response> {
    let slow = {
        let mut q = qad.lock().unwrap();
        let bearer = headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).map(str::to_owned);
        let basic = headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Basic ")).and_then(|b| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).ok()?).ok()
        });
        let authed = bearer.as_ref().is_some_and(|t| q.access.contains(t)) || basic.as_deref() == Some(&format!("{USERNAME}:{PASSWORD}"));
        let answer = if !authed {
            Some(qad_errors(StatusCode::UNAUTHORIZED, "Full authentication is required"))
        } else if page.is_some() && page == q.faults.revoke_on_page {
            q.faults.revoke_on_page = None;
            q.access.clear();
            Some(qad_errors(StatusCode::UNAUTHORIZED, "Token revoked"))
        } else if q.faults.forbidden {
            Some(qad_errors(StatusCode::FORBIDDEN, "Access is denied"))
        } else if let Some(secs) = q.faults.too_many.pop_front() {
            let mut r = qad_errors(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            r.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            Some(r)
        } else if q.faults.server_errors > 0 {
            q.faults.server_errors -= 1;
            Some(qad_errors(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"))
        } else if q.workspace.as_ref().is_some_and(|w| headers.get("x-qad-workspace-id").and_then(|h| h.to_str().ok()) != Some(w)) {
            Some(qad_errors(StatusCode::BAD_REQUEST, "Unknown workspace"))
        } else {
            None
        };
        let status = answer.as_ref().map_or(200, |r| r.status().as_u16());
        q.seen.push(Seen { at: Instant::now(), kind: kind.into(), status, detail });
        if let Some(answer) = answer {
            return Err(answer);
        }
        if q.faults.slow > 0 {
            q.faults.slow -= 1;
            q.in_flight += 1;
            q.max_in_flight = q.max_in_flight.max(q.in_flight);
            Some(Duration::from_millis(q.faults.slow_ms))
        } else {
            None
        }
    };
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
        qad.lock().unwrap().in_flight -= 1;
    }
    Ok(())
}

async fn token(State(qad): State<Arc<Mutex<Qad>>>, Query(query): Query<HashMap<String, String>>, body: Bytes) -> Response {
    let mut params = query;
    params.extend(form_urlencoded::parse(&body).into_owned());
    let mut q = qad.lock().unwrap();
    let grant = params.get("grant_type").cloned().unwrap_or_default();
    let mut logged = params.clone();
    if logged.contains_key("password") {
        logged.insert("password".into(), "***".into());
    }
    q.token_calls.push(logged);
    let refused = |q: &mut Qad, kind: &str| {
        q.seen.push(Seen { at: Instant::now(), kind: kind.into(), status: 401, detail: String::new() });
        (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_grant", "error_description": "Bad credentials"}))).into_response()
    };
    if params.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return refused(&mut q, &format!("token:{grant}"));
    }
    match grant.as_str() {
        "password" if params.get("username").map(String::as_str) == Some(USERNAME) && params.get("password").map(String::as_str) == Some(PASSWORD) => {}
        "refresh_token" if params.get("refresh_token").is_some_and(|r| q.refresh.remove(r)) => {}
        _ => return refused(&mut q, &format!("token:{grant}")),
    }
    q.issued += 1;
    let (access, refresh) = (format!("qad-access-{}", q.issued), format!("qad-refresh-{}", q.issued));
    q.access.insert(access.clone());
    q.refresh.insert(refresh.clone());
    q.seen.push(Seen { at: Instant::now(), kind: format!("token:{grant}"), status: 200, detail: String::new() });
    axum::Json(json!({"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": q.expires_in, "scope": "read write"})).into_response()
}

async fn security_control(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap) -> Response {
    if let Err(answer) = gate(&qad, &headers, "securityControl", String::new(), None).await {
        return answer;
    }
    let q = qad.lock().unwrap();
    axum::Json(json!({"data": {"securityControls": [{"clientId": CLIENT_ID, "sessionLength": q.session_minutes, "timeoutMinutes": q.timeout_minutes}]}})).into_response()
}

/// `field,op,value,literal[,to,literal]` applied to a row.
fn matches(row: &Value, filter: &str) -> bool {
    let parts: Vec<&str> = filter.split(',').collect();
    let (Some(field), Some(op), Some(value)) = (parts.first(), parts.get(1), parts.get(2)) else { return true };
    let actual = match &row[*field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let cmp = |a: &str, b: &str| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    };
    use std::cmp::Ordering::*;
    match *op {
        "eq" => actual == *value,
        "sw" => actual.starts_with(value),
        "ew" => actual.ends_with(value),
        "cn" => actual.contains(value),
        "gt" => cmp(&actual, value) == Greater,
        "ge" => cmp(&actual, value) != Less,
        "lt" => cmp(&actual, value) == Less,
        "le" => cmp(&actual, value) != Greater,
        "rg" => parts.get(4).is_some_and(|to| cmp(&actual, value) != Less && cmp(&actual, to) != Greater),
        _ => false,
    }
}

fn rows_of(q: &Qad, browse: &str, filters: &[String]) -> Option<Vec<Value>> {
    let rows = match browse {
        RECEIPTS | "mfg:po501" => &q.receipts,
        ORDERS | "mfg:po803" => &q.orders,
        INVOICES => &q.invoices,
        "urn:browse:custom:lookupBrowseFields" => {
            let uri = filters.iter().find_map(|f| f.strip_prefix("browseURI,eq,")?.split(',').next())?;
            let sample = rows_of(q, uri, &[])?.into_iter().next()?;
            let fields = sample.as_object()?.keys().map(|k| json!({"fieldLabel": k, "field": k, "fieldDataType": "character", "browseURI": uri}));
            return Some(fields.collect());
        }
        _ => return None,
    };
    Some(rows.iter().filter(|r| filters.iter().all(|f| matches(r, f))).cloned().collect())
}

async fn browses(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap, Query(params): Query<Vec<(String, String)>>) -> Response {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let browse = get("browseId").unwrap_or_default();
    let page = get("page").and_then(|p| p.parse::<u32>().ok());
    let filters: Vec<String> = params.iter().filter(|(k, _)| k == "filter").map(|(_, v)| v.clone()).collect();
    let detail = format!("{browse} page {} {}", page.unwrap_or(0), filters.join(" "));
    if let Err(answer) = gate(&qad, &headers, "browse", detail, page).await {
        return answer;
    }
    let (Some(page), Some(_)) = (page.filter(|p| *p >= 1), get("pageAction")) else {
        return axum::Json(json!({"data": [], "auxillaryData": {"HasMoreParams": "false"}})).into_response();
    };
    let size = get("pageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(10).max(1);
    let rows = rows_of(&qad.lock().unwrap(), &browse, &filters).unwrap_or_default();
    let start = (page as usize - 1) * size;
    let slice: Vec<Value> = rows.iter().skip(start).take(size).cloned().collect();
    let more = start + size < rows.len();
    axum::Json(json!({"data": slice, "auxillaryData": {"HasMoreParams": more.to_string()}})).into_response()
}

async fn total_count(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap, Query(params): Query<Vec<(String, String)>>) -> Response {
    let browse = params.iter().find(|(k, _)| k == "browseId").map(|(_, v)| v.clone()).unwrap_or_default();
    if let Err(answer) = gate(&qad, &headers, "totalCount", browse.clone(), None).await {
        return answer;
    }
    let filters: Vec<String> = params.iter().filter(|(k, _)| k == "filter").map(|(_, v)| v.clone()).collect();
    let count = rows_of(&qad.lock().unwrap(), &browse, &filters).map_or(0, |r| r.len());
    axum::Json(json!({"data": count})).into_response()
}

async fn suppliers(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap, Query(params): Query<HashMap<String, String>>) -> Response {
    let code = params.get("supplierCode").cloned().unwrap_or_default();
    if let Err(answer) = gate(&qad, &headers, "supplier", code.clone(), None).await {
        return answer;
    }
    let q = qad.lock().unwrap();
    let found: Vec<Value> = q.suppliers.get(&code).cloned().into_iter().collect();
    axum::Json(json!({"data": {"supplierV2s": found}})).into_response()
}

fn header_json(po: &str, h: &PoHeader) -> Value {
    json!({"purchaseOrderNumber": po, "remarks": h.remarks, "concurrencyHash": h.hash.to_string(), "orderStatus": "O", "domainCode": "10USA"})
}

async fn po_get(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap, Query(params): Query<HashMap<String, String>>) -> Response {
    let po = params.get("purchaseOrderNumber").cloned().unwrap_or_default();
    if let Err(answer) = gate(&qad, &headers, "po:get", po.clone(), None).await {
        return answer;
    }
    let mut q = qad.lock().unwrap();
    let found: Vec<Value> = q.headers.get(&po).map(|h| header_json(&po, h)).into_iter().collect();
    if q.faults.edit_after_read > 0
        && let Some(h) = q.headers.get_mut(&po)
    {
        h.remarks.push_str(if h.remarks.is_empty() { "Buyer: expedite" } else { "\nBuyer: expedite" });
        h.hash += 1;
        q.faults.edit_after_read -= 1;
    }
    axum::Json(json!({"data": {"purchaseOrderHeaders": found}})).into_response()
}

async fn po_post(State(qad): State<Arc<Mutex<Qad>>>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    let record = body["purchaseOrderHeaders"][0].clone();
    let po = record["purchaseOrderNumber"].as_str().unwrap_or_default().to_owned();
    if let Err(answer) = gate(&qad, &headers, "po:post", po.clone(), None).await {
        return answer;
    }
    let mut q = qad.lock().unwrap();
    let rejected = |message: &str, field: &str| axum::Json(json!({"submitResult": {"success": false, "errors": [{"fieldName": field, "message": message}]}})).into_response();
    if q.faults.reject_writes > 0 {
        q.faults.reject_writes -= 1;
        return rejected("Record locked by another session", "");
    }
    let Some(h) = q.headers.get_mut(&po) else { return rejected("Purchase order not found", "purchaseOrderNumber") };
    if record["concurrencyHash"].as_str() != Some(h.hash.to_string().as_str()) {
        return rejected("The record was changed by another user", "concurrencyHash");
    }
    if let Some(remarks) = record["remarks"].as_str() {
        h.remarks = remarks.to_owned();
    }
    h.hash += 1;
    let saved = header_json(&po, h);
    q.writes.push(body.clone());
    axum::Json(json!({"submitResult": {"success": true, "errors": []}, "data": {"purchaseOrderHeaders": [saved]}})).into_response()
}

async fn admin_seed(State(qad): State<Arc<Mutex<Qad>>>, axum::Json(body): axum::Json<Value>) -> Response {
    let mut q = qad.lock().unwrap();
    let list = |key: &str| body[key].as_array().cloned();
    if let Some(rows) = list("receipts") {
        q.receipts = rows;
    }
    if let Some(rows) = list("orders") {
        q.orders = rows;
    }
    if let Some(rows) = list("invoices") {
        q.invoices = rows;
    }
    if let Some(Value::Object(map)) = body.get("suppliers") {
        q.suppliers.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if body.get("demo").and_then(Value::as_bool) == Some(true) {
        seed_demo(&mut q);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_receipt(State(qad): State<Arc<Mutex<Qad>>>, axum::Json(body): axum::Json<Value>) -> Response {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    qad.lock().unwrap().post_receipt(&text("receiver"), &text("po"), &text("supplier"));
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_set(State(qad): State<Arc<Mutex<Qad>>>, axum::Json(body): axum::Json<Value>) -> Response {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    let found = qad.lock().unwrap().set(&text("record"), &text("key"), &text("field"), body["value"].clone());
    if found { StatusCode::NO_CONTENT.into_response() } else { StatusCode::NOT_FOUND.into_response() }
}

async fn admin_faults(State(qad): State<Arc<Mutex<Qad>>>, axum::Json(faults): axum::Json<Faults>) -> Response {
    qad.lock().unwrap().faults = faults;
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_requests(State(qad): State<Arc<Mutex<Qad>>>) -> Response {
    let q = qad.lock().unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in &q.seen {
        *counts.entry(format!("{} {}", s.kind, s.status)).or_default() += 1;
    }
    axum::Json(json!(counts)).into_response()
}

async fn admin_writes(State(qad): State<Arc<Mutex<Qad>>>) -> Response {
    let q = qad.lock().unwrap();
    let remarks: BTreeMap<&String, &String> = q.headers.iter().map(|(po, h)| (po, &h.remarks)).collect();
    axum::Json(json!({"writes": q.writes, "remarks": remarks})).into_response()
}
