//! Wave's GraphQL API: the queries the host sends (arguments always as
//! variables), the shapes it reads back, and one client that attaches a
//! fresh bearer token, refreshes once on an authentication error, and turns
//! network failures and 5xx into "unavailable" so the event waits.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::sources::wave::oauth::{OAuthError, WaveOAuth};

/// Timeout of one GraphQL request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! customer_fields {
    () => {
        "fragment CustomerFields on Customer { id name email phone mobile }\n"
    };
}
macro_rules! money_fields {
    () => {
        "fragment MoneyFields on Money { value currency { code } }\n"
    };
}
macro_rules! invoice_fields {
    () => {
        "fragment InvoiceFields on Invoice { id invoiceNumber status dueDate viewUrl total { ...MoneyFields } amountDue { ...MoneyFields } }\n"
    };
}

/// Business name and time zone only (events with neither customer nor invoice, or both cached).
pub const BUSINESS_QUERY: &str = "query Business($businessId: ID!) { business(id: $businessId) { id name timezone } }\n";

/// Business and customer (customer and estimate events).
pub const CUSTOMER_QUERY: &str = concat!(
    "query BusinessCustomer($businessId: ID!, $customerId: ID!) {\n",
    "  business(id: $businessId) { id name timezone customer(id: $customerId) { ...CustomerFields } }\n",
    "}\n",
    customer_fields!()
);

/// Business and invoice (invoice events whose customer is cached or unknown).
pub const INVOICE_QUERY: &str = concat!(
    "query BusinessInvoice($businessId: ID!, $invoiceId: ID!) {\n",
    "  business(id: $businessId) { id name timezone invoice(id: $invoiceId) { ...InvoiceFields } }\n",
    "}\n",
    invoice_fields!(),
    money_fields!()
);

/// Business, customer and invoice (invoice events).
pub const CUSTOMER_INVOICE_QUERY: &str = concat!(
    "query BusinessCustomerInvoice($businessId: ID!, $customerId: ID!, $invoiceId: ID!) {\n",
    "  business(id: $businessId) {\n",
    "    id name timezone\n",
    "    customer(id: $customerId) { ...CustomerFields }\n",
    "    invoice(id: $invoiceId) { ...InvoiceFields }\n",
    "  }\n",
    "}\n",
    customer_fields!(),
    invoice_fields!(),
    money_fields!()
);

/// One page of a business's invoices in a status (the reconciliation sweep).
pub const INVOICES_BY_STATUS_QUERY: &str = concat!(
    "query InvoicesByStatus($businessId: ID!, $status: InvoiceStatus!, $page: Int!, $pageSize: Int!) {\n",
    "  business(id: $businessId) {\n",
    "    id\n",
    "    invoices(page: $page, pageSize: $pageSize, status: $status, sort: [DUE_AT_ASC]) {\n",
    "      pageInfo { currentPage totalPages totalCount }\n",
    "      edges { node { ...InvoiceFields invoiceDate customer { id } } }\n",
    "    }\n",
    "  }\n",
    "}\n",
    invoice_fields!(),
    money_fields!()
);

/// Every query the host sends, by name (the schema test validates each).
pub const ALL_QUERIES: &[(&str, &str)] = &[
    ("business", BUSINESS_QUERY),
    ("customer", CUSTOMER_QUERY),
    ("invoice", INVOICE_QUERY),
    ("customer+invoice", CUSTOMER_INVOICE_QUERY),
    ("invoices by status", INVOICES_BY_STATUS_QUERY),
];

/// Why a GraphQL request gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum GraphQlError {
    /// Wave cannot answer now (network, 429, 5xx, broken connection): the event waits.
    #[error("Wave GraphQL unavailable: {0}")]
    Unavailable(String),
    /// The token could not be had.
    #[error(transparent)]
    Auth(#[from] OAuthError),
    /// Wave answered with errors that are not about a missing object.
    #[error("Wave GraphQL errors: {0}")]
    Errors(String),
}

/// One entry of a GraphQL `errors` array.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorEntry {
    /// Human text.
    #[serde(default)]
    pub message: String,
    /// Where in the query it happened, e.g. `["business", "customer"]`.
    #[serde(default)]
    pub path: Vec<Value>,
    /// `{code: "NOT_FOUND"}` and the like.
    #[serde(default)]
    pub extensions: Option<Value>,
}

impl ErrorEntry {
    /// `extensions.code`, e.g. `UNAUTHENTICATED`, `NOT_FOUND`.
    pub fn code(&self) -> &str {
        self.extensions.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("")
    }
}

/// A GraphQL response body.
#[derive(Debug, Clone, Deserialize)]
pub struct Response {
    /// `data`, possibly partial.
    #[serde(default)]
    pub data: Option<Value>,
    /// `errors`, possibly empty.
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

/// `Money`.
#[derive(Debug, Clone, Deserialize)]
pub struct MoneyNode {
    /// Decimal string.
    pub value: String,
    /// `{code}`.
    pub currency: CurrencyNode,
}

/// `Currency`.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrencyNode {
    /// ISO 4217 code.
    pub code: String,
}

/// `Customer` as queried.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerNode {
    /// GraphQL id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone as typed.
    pub phone: Option<String>,
    /// Mobile as typed.
    pub mobile: Option<String>,
}

/// `Invoice` as queried.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceNode {
    /// GraphQL id.
    pub id: String,
    /// Human number.
    pub invoice_number: String,
    /// Status; unknown values are kept as text.
    pub status: String,
    /// YYYY-MM-DD.
    pub due_date: Option<String>,
    /// Customer link.
    pub view_url: Option<String>,
    /// Total.
    pub total: MoneyNode,
    /// Still owed.
    pub amount_due: MoneyNode,
    /// Only in the sweep.
    #[serde(default)]
    pub invoice_date: Option<String>,
    /// Only in the sweep.
    #[serde(default)]
    pub customer: Option<IdNode>,
}

/// `{ id }`.
#[derive(Debug, Clone, Deserialize)]
pub struct IdNode {
    /// GraphQL id.
    pub id: String,
}

/// At most 200 bytes of `text`, cut on a character boundary, for error messages.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A GraphQL client for Wave's public API.
pub struct GraphQlClient {
    url: String,
    http: reqwest::Client,
    oauth: Arc<WaveOAuth>,
    /// Set by a 429 with `Retry-After`: no request goes out before then.
    quiet_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Longest `Retry-After` honoured, so a bogus value cannot stall lookups for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl GraphQlClient {
    /// A client posting to `url` with tokens from `oauth`.
    pub fn new(url: String, oauth: Arc<WaveOAuth>) -> Result<Self, GraphQlError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| GraphQlError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(GraphQlClient { url, http, oauth, quiet_until: std::sync::Mutex::new(None) })
    }

    /// The OAuth connection the client uses.
    pub fn oauth(&self) -> &Arc<WaveOAuth> {
        &self.oauth
    }

    /// Runs `query` with `variables`. An authentication error refreshes the
    /// token and retries once; if Wave still refuses, the connection is
    /// marked broken. `NOT_FOUND` errors are left in the response for the
    /// caller (the object is simply null in `data`).
    pub async fn execute(&self, query: &str, variables: Value) -> Result<Response, GraphQlError> {
        if let Some(until) = *self.quiet_until.lock().expect("quiet lock")
            && until > std::time::Instant::now()
        {
            return Err(GraphQlError::Unavailable(format!("rate limited by Wave for {} s more", (until - std::time::Instant::now()).as_secs() + 1)));
        }
        let body = json!({ "query": query, "variables": variables });
        let mut token = self.oauth.access_token().await?;
        for attempt in 0..2 {
            let response = self
                .http
                .post(&self.url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .map_err(|e| GraphQlError::Unavailable(format!("request failed: {e}")))?;
            let status = response.status();
            if status.as_u16() == 429 || status.is_server_error() {
                let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
                // Only delta-seconds are honoured; an HTTP date falls back to the dispatcher's pause.
                if let Some(secs) = retry_after.as_deref().and_then(|v| v.trim().parse::<u64>().ok()) {
                    let wait = Duration::from_secs(secs).min(MAX_RETRY_AFTER);
                    *self.quiet_until.lock().expect("quiet lock") = Some(std::time::Instant::now() + wait);
                }
                return Err(GraphQlError::Unavailable(match retry_after {
                    Some(after) => format!("HTTP {status}, retry after {after}"),
                    None => format!("HTTP {status}"),
                }));
            }
            let unauthenticated_status = status.as_u16() == 401;
            let text = response.text().await.map_err(|e| GraphQlError::Unavailable(format!("reading the response: {e}")))?;
            let parsed: Option<Response> = serde_json::from_str(&text).ok();
            let unauthenticated = unauthenticated_status
                || parsed.as_ref().is_some_and(|r| r.errors.iter().any(|e| e.code() == "UNAUTHENTICATED"));
            if unauthenticated {
                if attempt == 0 {
                    tracing::info!("Wave refused the access token; refreshing once and retrying.");
                    token = self.oauth.refresh_after_rejection(&token).await?;
                    continue;
                }
                let reason = "Wave refused a freshly refreshed access token (revoked?)";
                self.oauth.mark_broken(reason).await;
                return Err(OAuthError::Broken(reason.into()).into());
            }
            if !status.is_success() {
                return Err(GraphQlError::Unavailable(format!("HTTP {status}: {}", clip(&text))));
            }
            return parsed.ok_or_else(|| GraphQlError::Unavailable(format!("unreadable response: {}", clip(&text))));
        }
        unreachable!("the loop returns on its second attempt")
    }
}

#[cfg(test)]
#[path = "graphql_schema_tests.rs"]
mod schema_tests;
