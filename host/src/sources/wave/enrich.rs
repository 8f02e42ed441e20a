//! [`WaveEnricher`]: the context plugins see, looked up in Wave's GraphQL API
//! with one query per event (business name and time zone, customer, invoice),
//! phone numbers normalized to E.164, and a short per-customer/per-invoice cache,
//! bounded in size and time (moka), that `customer.updated` and `invoice.*`
//! events invalidate for their id. The plugins' clock (`context.now`) runs in
//! the business's own time zone when Wave reports one, else in the configured one.
//!
//! Estimates: Wave's schema has no `business.estimate` lookup, so an
//! estimate's data comes from the webhook payload and only the business and
//! customer are looked up.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use moka::sync::Cache as Moka;
use serde_json::{Value, json};

use async_trait::async_trait;

use crate::dispatch::enrich::{ClockOnly, EnrichError, Enricher, Enrichers};
use crate::model::{Context, Customer, Estimate, Event, Invoice, Money};
use crate::sources::wave::graphql::{self, CustomerNode, GraphQlClient, GraphQlError, InvoiceNode, MoneyNode};
use crate::sources::wave::ids;
use crate::sources::wave::oauth::WaveOAuth;
use crate::timezone::Timezone;

/// How long a looked-up customer, invoice or business is reused.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// How many businesses, customers and invoices (each) the cache keeps at most.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

/// Normalizes a phone number as typed to E.164 with `region` for numbers
/// written without a country code; the error says why it cannot be.
pub fn e164(raw: &str, region: phonenumber::country::Id) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty".into());
    }
    let number = phonenumber::parse(Some(region), raw).map_err(|e| format!("unparseable: {e}"))?;
    if !phonenumber::is_valid(&number) {
        return Err("not a valid number".into());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// The region code (`US`) as a libphonenumber region.
pub fn region(code: &str) -> Option<phonenumber::country::Id> {
    code.parse().ok()
}

/// What the context takes from Wave's business: its name and time zone.
#[derive(Debug, Clone)]
struct Business {
    name: String,
    timezone: Option<Timezone>,
}

/// Looked-up objects by (business, raw id), each kind bounded in size, each entry for a TTL.
struct Cache {
    businesses: Moka<String, Business>,
    customers: Moka<(String, String), Customer>,
    invoices: Moka<(String, String), Invoice>,
}

impl Cache {
    fn new(capacity: u64, ttl: Duration) -> Self {
        fn build<K, V>(capacity: u64, ttl: Duration) -> Moka<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            Moka::builder().max_capacity(capacity).time_to_live(ttl).build()
        }
        Cache { businesses: build(capacity, ttl), customers: build(capacity, ttl), invoices: build(capacity, ttl) }
    }
}

/// Looks up each event's context in Wave. Until Wave is connected, events get the business clock
/// only; a connection made later (here or on another replica) is picked up within seconds.
pub struct WaveEnricher {
    client: Arc<GraphQlClient>,
    oauth: Arc<WaveOAuth>,
    timezone: Timezone,
    region: phonenumber::country::Id,
    default_business: Option<String>,
    cache: Cache,
    queries: std::sync::atomic::AtomicU64,
}

impl WaveEnricher {
    /// An enricher querying through `client` with the connection `oauth`. `clock` is the
    /// business clock until Wave reports the business's own time zone; `region` reads numbers
    /// without a country code; `default_business` is used for events that carry no business id
    /// (else the business the user connected).
    pub fn new(
        client: Arc<GraphQlClient>,
        oauth: Arc<WaveOAuth>,
        clock: ClockOnly,
        region: phonenumber::country::Id,
        default_business: Option<String>,
    ) -> Self {
        WaveEnricher {
            client,
            oauth,
            timezone: clock.timezone,
            region,
            default_business,
            cache: Cache::new(DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL),
            queries: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The same enricher with another cache size (per kind) and lifetime; the cache starts empty.
    pub fn with_cache(mut self, capacity: u64, ttl: Duration) -> Self {
        self.cache = Cache::new(capacity, ttl);
        self
    }

    /// The same enricher with another cache lifetime (and the default size).
    pub fn with_cache_ttl(self, ttl: Duration) -> Self {
        self.with_cache(DEFAULT_CACHE_CAPACITY, ttl)
    }

    /// How many GraphQL queries this enricher has sent.
    pub fn queries_sent(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn customer_from(&self, raw_id: &str, node: CustomerNode) -> Customer {
        let phone = |field: &str, value: Option<String>| {
            let value = value.filter(|v| !v.trim().is_empty())?;
            match e164(&value, self.region) {
                Ok(n) => Some(n),
                Err(reason) => {
                    tracing::warn!(customer_id = raw_id, field, reason, "Customer phone number cannot be normalized to E.164; left out.");
                    None
                }
            }
        };
        Customer {
            id: raw_id.to_owned(),
            mobile: phone("mobile", node.mobile),
            phone: phone("phone", node.phone),
            name: node.name,
            email: node.email.filter(|e| !e.trim().is_empty()),
        }
    }

    async fn lookup(&self, query: &str, variables: Value) -> Result<graphql::Response, EnrichError> {
        self.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client.execute(query, variables).await.map_err(|e| {
            match &e {
                GraphQlError::Errors(_) => tracing::error!(error = %e, "Wave GraphQL query failed; the event waits."),
                _ => tracing::debug!(error = %e, "Wave lookup unavailable; the event waits."),
            }
            EnrichError::Unavailable(e.to_string())
        })
    }
}

fn text(data: &Value, field: &str) -> Option<String> {
    match data.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn money(node: MoneyNode) -> Money {
    Money { amount: node.value, currency: node.currency.code }
}

/// An invoice as the plugin sees it, with the raw (payload) id.
pub fn invoice_from(raw_id: &str, node: InvoiceNode) -> Invoice {
    Invoice {
        id: raw_id.to_owned(),
        number: node.invoice_number,
        status: node.status,
        total: money(node.total),
        amount_due: money(node.amount_due),
        due_date: node.due_date,
        view_url: node.view_url.filter(|u| !u.is_empty()),
    }
}

/// The estimate of an estimate event, from its payload (Wave's schema has no estimate lookup).
fn estimate_from_payload(data: &Value) -> Option<Estimate> {
    let id = text(data, "estimate_id")?;
    let currency = text(data, "currency_code").unwrap_or_default();
    let amount = text(data, "amount").or_else(|| text(data, "estimate_total_amount")).unwrap_or_default();
    Some(Estimate {
        id,
        number: text(data, "estimate_number").unwrap_or_default(),
        status: text(data, "status").unwrap_or_default().to_ascii_uppercase(),
        total: Money { amount, currency },
        due_date: text(data, "due_date"),
        view_url: None,
    })
}

impl WaveEnricher {
    /// The business's name and time zone from a GraphQL `business` node.
    fn business_from(&self, node: &Value) -> Business {
        let timezone = node.get("timezone").and_then(Value::as_str).filter(|tz| !tz.is_empty()).and_then(|tz| match Timezone::parse(tz) {
            Ok(tz) => Some(tz),
            Err(reason) => {
                tracing::warn!(timezone = tz, reason, "Wave business time zone is not usable; the configured one is used.");
                None
            }
        });
        Business { name: node.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(), timezone }
    }

    /// The context with the clock in the business's time zone, when known.
    fn finish(&self, mut context: Context, business: Option<Business>) -> Context {
        let timezone = business.as_ref().and_then(|b| b.timezone.clone());
        context.now = timezone.as_ref().unwrap_or(&self.timezone).rfc3339(Utc::now());
        context.timezone = timezone.map(|tz| tz.as_str().to_owned());
        context.business_name = business.map(|b| b.name).unwrap_or_default();
        context
    }
}

#[async_trait]
impl Enricher for WaveEnricher {
    async fn context(&self, event: &Event, _all: &Enrichers) -> Result<Context, EnrichError> {
        let mut context = Context::bare(self.timezone.rfc3339(Utc::now()));
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        if event.kind.starts_with("estimate.") {
            context.estimate = estimate_from_payload(&data);
        }
        let business = Some(event.business_id.clone())
            .filter(|b| !b.is_empty())
            .or_else(|| self.default_business.clone())
            .or_else(|| self.oauth.business_id());
        let Some(business) = business else {
            return Ok(context);
        };
        let customer_id = text(&data, "customer_id");
        let invoice_id = text(&data, "invoice_id");

        // A change event for an id makes what we cached for it stale.
        if let Some(id) = &customer_id
            && event.kind == "customer.updated"
        {
            self.cache.customers.invalidate(&(business.clone(), id.clone()));
        }
        if let Some(id) = &invoice_id
            && event.kind.starts_with("invoice.")
        {
            self.cache.invoices.invalidate(&(business.clone(), id.clone()));
        }
        let mut known = self.cache.businesses.get(&business);
        let mut customer = customer_id.as_ref().and_then(|id| self.cache.customers.get(&(business.clone(), id.clone())));
        let mut invoice = invoice_id.as_ref().and_then(|id| self.cache.invoices.get(&(business.clone(), id.clone())));
        let need_customer = customer_id.is_some() && customer.is_none();
        let need_invoice = invoice_id.is_some() && invoice.is_none();
        if known.is_none() || need_customer || need_invoice {
            let mut variables = json!({ "businessId": ids::business(&business) });
            if let Some(id) = customer_id.as_ref().filter(|_| need_customer) {
                variables["customerId"] = json!(ids::customer(&business, id));
            }
            if let Some(id) = invoice_id.as_ref().filter(|_| need_invoice) {
                variables["invoiceId"] = json!(ids::invoice(&business, id));
            }
            let query = match (need_customer, need_invoice) {
                (false, false) => graphql::BUSINESS_QUERY,
                (true, false) => graphql::CUSTOMER_QUERY,
                (false, true) => graphql::INVOICE_QUERY,
                (true, true) => graphql::CUSTOMER_INVOICE_QUERY,
            };
            let response = match self.lookup(query, variables).await {
                Ok(response) => response,
                // Not connected (yet): the clock and the payload's own data, as before a connect.
                Err(_) if !self.oauth.is_connected() => return Ok(context),
                Err(e) => return Err(e),
            };
            for error in &response.errors {
                if error.code() == "NOT_FOUND" {
                    tracing::info!(event_id = %event.id, path = ?error.path, message = %error.message, "Wave has no such object; the context goes without it.");
                }
            }
            let other: Vec<String> = response.errors.iter().filter(|e| e.code() != "NOT_FOUND").map(|e| format!("{} ({})", e.message, e.code())).collect();
            let business_node = response.data.as_ref().and_then(|d| d.get("business")).filter(|b| !b.is_null());
            if !other.is_empty() && business_node.is_none() {
                let e = GraphQlError::Errors(other.join("; "));
                tracing::error!(event_id = %event.id, error = %e, "Wave GraphQL query failed; the event waits.");
                return Err(EnrichError::Unavailable(e.to_string()));
            } else if !other.is_empty() {
                tracing::warn!(event_id = %event.id, errors = %other.join("; "), "Wave answered with partial data.");
            }
            let Some(business_node) = business_node else {
                tracing::info!(event_id = %event.id, business_id = %business, "Wave has no such business; the context goes without lookups.");
                return Ok(context);
            };
            if business_node.get("name").and_then(Value::as_str).is_some() {
                let b = self.business_from(business_node);
                self.cache.businesses.insert(business.clone(), b.clone());
                known = Some(b);
            }
            if let (true, Some(id)) = (need_customer, &customer_id) {
                match business_node.get("customer").filter(|c| !c.is_null()).map(|c| serde_json::from_value::<CustomerNode>(c.clone())) {
                    Some(Ok(node)) => {
                        let c = self.customer_from(id, node);
                        self.cache.customers.insert((business.clone(), id.clone()), c.clone());
                        customer = Some(c);
                    }
                    Some(Err(e)) => tracing::warn!(event_id = %event.id, error = %e, "Unreadable customer from Wave; the context goes without it."),
                    None => tracing::info!(event_id = %event.id, customer_id = %id, "Customer not found in Wave; the context goes without it."),
                }
            }
            if let (true, Some(id)) = (need_invoice, &invoice_id) {
                match business_node.get("invoice").filter(|c| !c.is_null()).map(|c| serde_json::from_value::<InvoiceNode>(c.clone())) {
                    Some(Ok(node)) => {
                        let i = invoice_from(id, node);
                        self.cache.invoices.insert((business.clone(), id.clone()), i.clone());
                        invoice = Some(i);
                    }
                    Some(Err(e)) => tracing::warn!(event_id = %event.id, error = %e, "Unreadable invoice from Wave; the context goes without it."),
                    None => tracing::info!(event_id = %event.id, invoice_id = %id, "Invoice not found in Wave; the context goes without it."),
                }
            }
        }
        context.customer = customer;
        context.invoice = invoice;
        Ok(self.finish(context, known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalized_to_e164_with_the_default_region() {
        let us = region("US").unwrap();
        assert_eq!(e164("(415) 555-2671", us).unwrap(), "+14155552671");
        assert_eq!(e164(" +44 20 7946 0958 ", us).unwrap(), "+442079460958");
        assert_eq!(e164("415.555.2671", region("US").unwrap()).unwrap(), "+14155552671");
        assert!(e164("call me maybe", us).is_err());
        assert!(e164("123", us).is_err());
        assert!(e164("", us).is_err());
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_forgets_entries_after_their_ttl() {
        let cache = Cache::new(3, Duration::from_secs(3600));
        for i in 0..50 {
            cache.businesses.insert(format!("b{i}"), Business { name: format!("B{i}"), timezone: None });
        }
        cache.businesses.run_pending_tasks();
        assert!(cache.businesses.entry_count() <= 3, "{} entries", cache.businesses.entry_count());

        let brief = Cache::new(100, Duration::from_millis(1));
        brief.businesses.insert("b".into(), Business { name: "B".into(), timezone: None });
        std::thread::sleep(Duration::from_millis(20));
        assert!(brief.businesses.get("b").is_none(), "an entry outlived its TTL");
    }

    #[test]
    fn estimates_come_from_the_webhook_payload() {
        let data = json!({"estimate_id": "123", "customer_id": "21840161", "currency_code": "USD", "status": "sent", "due_date": "2026-04-30", "amount": "200.00"});
        let e = estimate_from_payload(&data).unwrap();
        assert_eq!((e.id.as_str(), e.status.as_str(), e.total.amount.as_str(), e.total.currency.as_str()), ("123", "SENT", "200.00", "USD"));
        assert_eq!(e.due_date.as_deref(), Some("2026-04-30"));
        let paid = json!({"estimate_id": "9", "currency_code": "USD", "estimate_total_amount": "500.00"});
        assert_eq!(estimate_from_payload(&paid).unwrap().total.amount, "500.00");
    }
}
