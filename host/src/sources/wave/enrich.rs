//! [`WaveEnricher`]: the context plugins see, looked up in Wave's GraphQL API
//! with one query per event (business name, customer, invoice), phone numbers
//! normalized to E.164, and a short per-customer/per-invoice cache that
//! `customer.updated` and `invoice.*` events invalidate for their id.
//!
//! Estimates: Wave's schema has no `business.estimate` lookup, so an
//! estimate's data comes from the webhook payload and only the business and
//! customer are looked up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::dispatch::enrich::{ClockOnly, EnrichError, Enricher, Enrichers};
use crate::model::{Context, Customer, Estimate, Event, Invoice, Money};
use crate::sources::wave::graphql::{self, CustomerNode, GraphQlClient, GraphQlError, InvoiceNode, MoneyNode};
use crate::sources::wave::ids;
use crate::sources::wave::oauth::WaveOAuth;

/// How long a looked-up customer, invoice or business name is reused.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

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

struct Cached<T> {
    at: Instant,
    value: T,
}

#[derive(Default)]
struct Cache {
    businesses: HashMap<String, Cached<String>>,
    customers: HashMap<(String, String), Cached<Customer>>,
    invoices: HashMap<(String, String), Cached<Invoice>>,
}

impl Cache {
    fn fresh<'a, K: std::hash::Hash + Eq, T>(map: &'a HashMap<K, Cached<T>>, key: &K, ttl: Duration) -> Option<&'a T> {
        map.get(key).filter(|c| c.at.elapsed() < ttl).map(|c| &c.value)
    }
}

/// Looks up each event's context in Wave. Until Wave is connected, events get the business clock
/// only; a connection made later (here or on another replica) is picked up within seconds.
pub struct WaveEnricher {
    client: Arc<GraphQlClient>,
    oauth: Arc<WaveOAuth>,
    clock: ClockOnly,
    region: phonenumber::country::Id,
    default_business: Option<String>,
    ttl: Duration,
    cache: Mutex<Cache>,
    queries: std::sync::atomic::AtomicU64,
}

impl WaveEnricher {
    /// An enricher querying through `client` with the connection `oauth`. `clock` is the
    /// business clock; `region` reads numbers without a country code; `default_business` is used
    /// for events that carry no business id (else the business the user connected).
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
            clock,
            region,
            default_business,
            ttl: DEFAULT_CACHE_TTL,
            cache: Mutex::new(Cache::default()),
            queries: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The same enricher with another cache lifetime.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
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

#[async_trait]
impl Enricher for WaveEnricher {
    async fn context(&self, event: &Event, _all: &Enrichers) -> Result<Context, EnrichError> {
        let mut context = self.clock.bare();
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

        let (mut name, mut customer, mut invoice) = {
            let mut cache = self.cache.lock().expect("cache lock");
            // A change event for an id makes what we cached for it stale.
            if let Some(id) = &customer_id
                && event.kind == "customer.updated"
            {
                cache.customers.remove(&(business.clone(), id.clone()));
            }
            if let Some(id) = &invoice_id
                && event.kind.starts_with("invoice.")
            {
                cache.invoices.remove(&(business.clone(), id.clone()));
            }
            (
                Cache::fresh(&cache.businesses, &business, self.ttl).cloned(),
                customer_id.as_ref().and_then(|id| Cache::fresh(&cache.customers, &(business.clone(), id.clone()), self.ttl).cloned()),
                invoice_id.as_ref().and_then(|id| Cache::fresh(&cache.invoices, &(business.clone(), id.clone()), self.ttl).cloned()),
            )
        };
        let need_customer = customer_id.is_some() && customer.is_none();
        let need_invoice = invoice_id.is_some() && invoice.is_none();
        if name.is_none() || need_customer || need_invoice {
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
            let mut cache = self.cache.lock().expect("cache lock");
            if let Some(n) = business_node.get("name").and_then(Value::as_str) {
                name = Some(n.to_owned());
                cache.businesses.insert(business.clone(), Cached { at: Instant::now(), value: n.to_owned() });
            }
            if let (true, Some(id)) = (need_customer, &customer_id) {
                match business_node.get("customer").filter(|c| !c.is_null()).map(|c| serde_json::from_value::<CustomerNode>(c.clone())) {
                    Some(Ok(node)) => {
                        let c = self.customer_from(id, node);
                        cache.customers.insert((business.clone(), id.clone()), Cached { at: Instant::now(), value: c.clone() });
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
                        cache.invoices.insert((business.clone(), id.clone()), Cached { at: Instant::now(), value: i.clone() });
                        invoice = Some(i);
                    }
                    Some(Err(e)) => tracing::warn!(event_id = %event.id, error = %e, "Unreadable invoice from Wave; the context goes without it."),
                    None => tracing::info!(event_id = %event.id, invoice_id = %id, "Invoice not found in Wave; the context goes without it."),
                }
            }
        }
        context.business_name = name.unwrap_or_default();
        context.customer = customer;
        context.invoice = invoice;
        Ok(context)
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
    fn estimates_come_from_the_webhook_payload() {
        let data = json!({"estimate_id": "123", "customer_id": "21840161", "currency_code": "USD", "status": "sent", "due_date": "2026-04-30", "amount": "200.00"});
        let e = estimate_from_payload(&data).unwrap();
        assert_eq!((e.id.as_str(), e.status.as_str(), e.total.amount.as_str(), e.total.currency.as_str()), ("123", "SENT", "200.00", "USD"));
        assert_eq!(e.due_date.as_deref(), Some("2026-04-30"));
        let paid = json!({"estimate_id": "9", "currency_code": "USD", "estimate_total_amount": "500.00"});
        assert_eq!(estimate_from_payload(&paid).unwrap().total.amount, "500.00");
    }
}
