//! The `[[qad]]` tenant configuration: connection, schedule, browse ids and
//! field maps, status meanings, the people map, the supplier lookup and
//! write-back. Validated while it is read, so every error names the key and
//! the reason (and `Config` adds the file and line). Over 400 lines: the
//! written form, its validation and the validated form of one TOML table are
//! read together; splitting them would separate each key from its check.
//!
//! What the QAD reference marks unknown is a setting here, with the
//! reference's best guess as its default: the next-page `pageAction`
//! (`next`), whether the token request carries its parameters in a form body
//! or a query string (`form`), the browse ids and field names, which statuses
//! mean what, and the supplier component and view.
//!
//! ```toml
//! [[qad]]
//! name = "acme"                                # tenant name, part of event ids: [a-z0-9_-]
//! base_url = "https://acme.qad.com/clouderp"   # the full tenant URL with its context root
//! username = "integration"                     # password: secret qad.acme.password
//! display_name = "Acme Manufacturing"          # what plugins sign messages with; optional
//! workspace = "10USA_10USACO"                  # sent as x-qad-workspace-id; optional
//! client_id = "…"                              # optional: else read from api/qracore/securityControl
//! poll_every = "5m"                            # interval ("30s", "5m", "1h"), or:
//! cron = "0 */10 7-18 * * MON-FRI"             # a cron schedule instead (seconds first)
//! jitter = "30s"                               # random delay added to each run (default: a tenth of poll_every)
//! active_hours = "07:00-19:00"                 # only poll inside this daily window; optional
//! timezone = "-05:00"                          # for active_hours and cron (default UTC)
//! rescan_every = "24h"                         # full rescan period (incremental polls in between)
//! people = { "B01" = "+15555550101", "PM" = "team:plant" }
//! [qad.browses.supplier_invoice]
//! id = "urn:browse:…"
//! fields = { status = "…" }
//! [qad.statuses]
//! invoice_awaiting_receipt = ["AP-INITIAL"]
//! [qad.writeback]
//! purchase_order = { component = "purchaseOrderHeaders", key = "purchaseOrderNumber", field = "remarks" }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{QuietHours, Timezone};
use crate::model::Recipient;
pub use crate::sources::poll::{Every, Schedule};
use crate::sources::qad::records::{FieldMap, RecordKind};

/// One `[[qad]]` tenant, validated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawQad")]
pub struct QadConfig {
    /// Tenant name: `[a-z0-9_-]{1,32}`, part of event ids and secret names.
    pub name: String,
    /// The full tenant URL including its context root, without a trailing slash.
    pub base_url: String,
    /// The integration user.
    pub username: String,
    /// The company name plugins put in front of their messages (`context.business_name`).
    pub display_name: Option<String>,
    /// `x-qad-workspace-id`, when set.
    pub workspace: Option<String>,
    /// The OAuth client id; when unset it is read from `api/qracore/securityControl`.
    pub client_id: Option<String>,
    /// When to poll.
    pub schedule: Schedule,
    /// How often a full rescan replaces the incremental (modification-date) read (24h).
    pub rescan_every: Duration,
    /// Rows per browse page (200).
    pub page_size: u32,
    /// The `pageAction` of the first page (`first`, confirmed).
    pub first_page_action: String,
    /// The `pageAction` of later pages (`next`: not captured in the reference, an assumption).
    pub next_page_action: String,
    /// How the token request sends its parameters.
    pub token_request: TokenRequest,
    /// At most this many requests in flight to this tenant (2; 1 or 2).
    pub max_concurrency: usize,
    /// Timeout of one request (30s); a timeout is retried.
    pub request_timeout: Duration,
    /// Retries after a 429, 5xx, timeout or connection error (4).
    pub max_retries: usize,
    /// First retry's backoff (1s), doubled per retry with jitter; `Retry-After` wins when longer.
    pub retry_base: Duration,
    /// Longest wait between two attempts (5m).
    pub retry_max: Duration,
    /// Refresh the token this long before it expires (5m, as QAD's own token manager does).
    pub refresh_margin: Duration,
    /// The session's idle timeout when the tenant's `securityControl` is not read (unset: none).
    pub idle_timeout: Option<Duration>,
    /// The browse for each record kind.
    pub browses: BTreeMap<RecordKind, BrowseConfig>,
    /// What the statuses mean.
    pub statuses: Statuses,
    /// Buyer or approver code → a number or `team:NAME`.
    pub people: BTreeMap<String, Recipient>,
    /// Where supplier phone numbers come from.
    pub supplier: SupplierLookup,
    /// Which record kinds write message outcomes back, and where.
    pub writeback: BTreeMap<RecordKind, WritebackTarget>,
}

/// How the OAuth token request sends `grant_type`, `username`, `password` and `client_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRequest {
    /// An `application/x-www-form-urlencoded` body (keeps the password out of URLs and logs).
    #[default]
    Form,
    /// A query string, as some QAD clients do.
    Query,
}

/// One record kind's browse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowseConfig {
    /// Whether it is polled (true).
    pub enabled: bool,
    /// The browse id.
    pub id: String,
    /// Role → field; only mapped roles.
    pub fields: FieldMap,
}

/// Which status codes mean what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Statuses {
    /// An invoice in one of these waits on receiver matching (`AP-INITIAL`).
    pub invoice_awaiting_receipt: BTreeSet<String>,
    /// An invoice in one of these has been matched (`AP-RMALLOC`, the default status after match).
    pub invoice_matched: BTreeSet<String>,
    /// A PO in one of these is pending approval (`P`).
    pub po_pending_approval: BTreeSet<String>,
}

impl Default for Statuses {
    fn default() -> Self {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Statuses {
            invoice_awaiting_receipt: set(&["AP-INITIAL"]),
            invoice_matched: set(&["AP-RMALLOC"]),
            po_pending_approval: set(&["P"]),
        }
    }
}

/// `[qad.supplier]`: the business component supplier phone numbers are read from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupplierLookup {
    /// The component under `api/erp/` (`supplierV2s`).
    pub component: String,
    /// Its `viewUri` (`urn:be:com.qad.base.supplier.ISupplierV2`).
    pub view_uri: String,
    /// `sharedSetCode`, when the tenant needs one.
    pub shared_set_code: Option<String>,
    /// Region for numbers written without a country code (`US`).
    pub default_region: String,
    /// How long a looked-up supplier is reused, in seconds (3600).
    pub cache_ttl_secs: u64,
    /// Most suppliers cached (10000).
    pub cache_size: u64,
}

impl Default for SupplierLookup {
    fn default() -> Self {
        SupplierLookup {
            component: "supplierV2s".into(),
            view_uri: "urn:be:com.qad.base.supplier.ISupplierV2".into(),
            shared_set_code: None,
            default_region: "US".into(),
            cache_ttl_secs: 3600,
            cache_size: 10_000,
        }
    }
}

/// Where a record kind's message outcomes are appended: `GET`/`POST {base}/api/erp/{component}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritebackTarget {
    /// The business component, e.g. `purchaseOrderHeaders`.
    pub component: String,
    /// The key field, e.g. `purchaseOrderNumber`.
    pub key: String,
    /// The text field a line is appended to, e.g. `remarks`.
    pub field: String,
    /// Extra query parameters of the GET (e.g. `domainCode`), also sent in the POSTed record.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `[[qad]]` as written.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawQad {
    name: String,
    base_url: String,
    username: String,
    display_name: Option<String>,
    workspace: Option<String>,
    client_id: Option<String>,
    poll_every: Option<String>,
    cron: Option<String>,
    jitter: Option<String>,
    active_hours: Option<QuietHours>,
    timezone: Option<Timezone>,
    rescan_every: String,
    page_size: u32,
    first_page_action: String,
    next_page_action: String,
    token_request: TokenRequest,
    max_concurrency: usize,
    request_timeout: String,
    max_retries: usize,
    retry_base: String,
    retry_max: String,
    refresh_margin: String,
    idle_timeout: Option<String>,
    browses: BTreeMap<String, RawBrowse>,
    statuses: Statuses,
    people: BTreeMap<String, String>,
    supplier: SupplierLookup,
    writeback: BTreeMap<String, WritebackTarget>,
}

impl Default for RawQad {
    fn default() -> Self {
        RawQad {
            name: String::new(),
            base_url: String::new(),
            username: String::new(),
            display_name: None,
            workspace: None,
            client_id: None,
            poll_every: None,
            cron: None,
            jitter: None,
            active_hours: None,
            timezone: None,
            rescan_every: "24h".into(),
            page_size: 200,
            first_page_action: "first".into(),
            next_page_action: "next".into(),
            token_request: TokenRequest::Form,
            max_concurrency: 2,
            request_timeout: "30s".into(),
            max_retries: 4,
            retry_base: "1s".into(),
            retry_max: "5m".into(),
            refresh_margin: "5m".into(),
            idle_timeout: None,
            browses: BTreeMap::new(),
            statuses: Statuses::default(),
            people: BTreeMap::new(),
            supplier: SupplierLookup::default(),
            writeback: BTreeMap::new(),
        }
    }
}

/// `[qad.browses.<record>]` as written.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawBrowse {
    enabled: Option<bool>,
    id: Option<String>,
    fields: BTreeMap<String, String>,
}

/// The default poll interval.
const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(300);

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{key}`: {text:?} is not a duration like \"30s\", \"5m\" or \"1h\" ({e})"))
}

fn positive_duration(key: &str, text: &str) -> Result<Duration, String> {
    let d = duration(key, text)?;
    if d.is_zero() {
        return Err(format!("`{key}`: must be greater than 0"));
    }
    Ok(d)
}

fn non_empty(key: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("`{key}`: must be set and not empty"));
    }
    Ok(())
}

/// Checks the tenant URL: http(s), a host, no query, fragment or trailing slash kept.
fn base_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("`base_url`: {text:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`base_url`: {text:?} is not an http:// or https:// URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`base_url`: {text:?} must not have a query or fragment"));
    }
    Ok(text.trim().trim_end_matches('/').to_owned())
}

fn tenant_name(name: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&name.len()) && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if !ok {
        return Err(format!("`name`: {name:?} must be 1 to 32 of a-z 0-9 _ - (it is part of event ids and secret names)"));
    }
    Ok(())
}

fn person(code: &str, text: &str) -> Result<Recipient, String> {
    let key = format!("people.{code}");
    non_empty(&key, text)?;
    match Recipient::parse(text.trim()) {
        Recipient::Customer => Err(format!("`{key}`: \"customer\" is not a person; use a number or \"team:NAME\"")),
        Recipient::Team(name) if name.trim().is_empty() => Err(format!("`{key}`: \"team:\" needs a name")),
        recipient => Ok(recipient),
    }
}

fn browse(kind: RecordKind, raw: Option<RawBrowse>) -> Result<BrowseConfig, String> {
    let raw = raw.unwrap_or_default();
    let prefix = format!("browses.{kind}");
    let mut fields: FieldMap = kind.default_fields().iter().map(|(r, f)| (r.to_string(), f.to_string())).collect();
    for (role, field) in raw.fields {
        if !fields.contains_key(&role) {
            let known: Vec<_> = kind.default_fields().iter().map(|(r, _)| *r).collect();
            return Err(format!("`{prefix}.fields.{role}`: unknown role for {kind}; known: {}", known.join(", ")));
        }
        fields.insert(role, field.trim().to_owned());
    }
    fields.retain(|_, f| !f.is_empty());
    if !fields.contains_key("key") {
        return Err(format!("`{prefix}.fields.key`: the key field must be mapped"));
    }
    let id = raw.id.unwrap_or_else(|| kind.default_browse().to_owned());
    non_empty(&format!("{prefix}.id"), &id)?;
    Ok(BrowseConfig { enabled: raw.enabled.unwrap_or(true), id, fields })
}

impl TryFrom<RawQad> for QadConfig {
    type Error = String;

    fn try_from(raw: RawQad) -> Result<Self, String> {
        tenant_name(&raw.name)?;
        non_empty("base_url", &raw.base_url)?;
        let base_url = base_url(&raw.base_url)?;
        non_empty("username", &raw.username)?;
        for (key, value) in [("display_name", &raw.display_name), ("workspace", &raw.workspace), ("client_id", &raw.client_id)] {
            if let Some(value) = value {
                non_empty(key, value)?;
            }
        }
        let every = match (&raw.poll_every, &raw.cron) {
            (Some(_), Some(_)) => return Err("`cron`: set either `poll_every` or `cron`, not both".into()),
            (_, Some(cron)) => {
                croner::Cron::from_str(cron).map_err(|e| format!("`cron`: {cron:?} is not a cron expression ({e})"))?;
                Every::Cron(cron.clone())
            }
            (Some(every), None) => Every::Interval(positive_duration("poll_every", every)?),
            (None, None) => Every::Interval(DEFAULT_POLL_EVERY),
        };
        let jitter = match (&raw.jitter, &every) {
            (Some(text), _) => duration("jitter", text)?,
            (None, Every::Interval(every)) => *every / 10,
            (None, Every::Cron(_)) => Duration::ZERO,
        };
        if let Every::Interval(every) = every
            && jitter >= every
        {
            return Err(format!("`jitter`: {jitter:?} must be shorter than `poll_every` ({every:?})"));
        }
        if raw.page_size == 0 {
            return Err("`page_size`: must be greater than 0".into());
        }
        non_empty("first_page_action", &raw.first_page_action)?;
        non_empty("next_page_action", &raw.next_page_action)?;
        if !(1..=2).contains(&raw.max_concurrency) {
            return Err(format!("`max_concurrency`: {} is not 1 or 2 (QAD tenants are kept to at most 2 requests at once)", raw.max_concurrency));
        }
        let retry_base = positive_duration("retry_base", &raw.retry_base)?;
        let retry_max = positive_duration("retry_max", &raw.retry_max)?;
        if retry_max < retry_base {
            return Err("`retry_max`: must not be shorter than `retry_base`".into());
        }
        let mut browses = BTreeMap::new();
        let mut raw_browses = raw.browses;
        for kind in RecordKind::CYCLE {
            browses.insert(kind, browse(kind, raw_browses.remove(kind.as_str()))?);
        }
        if let Some(unknown) = raw_browses.keys().next() {
            return Err(format!("`browses.{unknown}`: unknown record; use goods_receipt, purchase_order or supplier_invoice"));
        }
        let people = raw.people.iter().map(|(code, text)| Ok((code.clone(), person(code, text)?))).collect::<Result<_, String>>()?;
        let supplier = raw.supplier;
        non_empty("supplier.component", &supplier.component)?;
        if supplier.default_region.len() != 2 || !supplier.default_region.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("`supplier.default_region`: {:?} is not a two-letter region like \"US\"", supplier.default_region));
        }
        if supplier.cache_size == 0 {
            return Err("`supplier.cache_size`: must be greater than 0".into());
        }
        let mut writeback = BTreeMap::new();
        for (record, target) in raw.writeback {
            let kind = RecordKind::parse(&record)
                .ok_or_else(|| format!("`writeback.{record}`: unknown record; use goods_receipt, purchase_order or supplier_invoice"))?;
            for (key, value) in [("component", &target.component), ("key", &target.key), ("field", &target.field)] {
                non_empty(&format!("writeback.{record}.{key}"), value)?;
            }
            writeback.insert(kind, target);
        }
        Ok(QadConfig {
            name: raw.name,
            base_url,
            username: raw.username,
            display_name: raw.display_name,
            workspace: raw.workspace,
            client_id: raw.client_id,
            schedule: Schedule { every, jitter, active_hours: raw.active_hours, timezone: raw.timezone },
            rescan_every: positive_duration("rescan_every", &raw.rescan_every)?,
            page_size: raw.page_size,
            first_page_action: raw.first_page_action,
            next_page_action: raw.next_page_action,
            token_request: raw.token_request,
            max_concurrency: raw.max_concurrency,
            request_timeout: positive_duration("request_timeout", &raw.request_timeout)?,
            max_retries: raw.max_retries,
            retry_base,
            retry_max,
            refresh_margin: duration("refresh_margin", &raw.refresh_margin)?,
            idle_timeout: raw.idle_timeout.as_deref().map(|t| positive_duration("idle_timeout", t)).transpose()?,
            browses,
            statuses: raw.statuses,
            people,
            supplier,
            writeback,
        })
    }
}

impl QadConfig {
    /// A tenant with every default, for tests and the stand-in demo.
    pub fn new(name: &str, base_url: &str, username: &str) -> Result<Self, String> {
        QadConfig::try_from(RawQad { name: name.into(), base_url: base_url.into(), username: username.into(), ..RawQad::default() })
    }

    /// The browse configured for `kind`.
    pub fn browse(&self, kind: RecordKind) -> &BrowseConfig {
        &self.browses[&kind]
    }
}

/// Checks that tenant names are unique across `[[qad]]`; the error names the repeated entry.
pub fn check_unique(tenants: &[QadConfig]) -> Result<(), (usize, String)> {
    let mut seen = BTreeSet::new();
    for (i, tenant) in tenants.iter().enumerate() {
        if !seen.insert(tenant.name.as_str()) {
            return Err((i, format!("tenant {:?} is configured twice", tenant.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
