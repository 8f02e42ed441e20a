//! The reconciliation sweep, a [`Poller`]: webhooks can be missed (the endpoint down past Wave's
//! 14-hour retry window, a 4xx by mistake), so on a schedule the host lists the invoices Wave
//! says are overdue and submits an `invoice.overdue` event for each one that has none yet. The
//! event id is deterministic (`reconcile:invoice.overdue:{invoice id}:{due date}`), so a sweep
//! repeated any number of times stores each overdue invoice once, and the event goes through the
//! same inbox and dispatcher as a webhook.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use crate::sources::poll::{PollBatch, PollError, Poller, Schedule};
use crate::sources::wave::graphql::{self, GraphQlClient, GraphQlError, InvoiceNode};
use crate::sources::wave::ids;
use crate::sources::wave::payload::SOURCE;
use crate::store::{EventFilter, InboxStore, NewEvent, StoreError};

/// Invoices asked for per page.
const PAGE_SIZE: u32 = 50;
/// At most this many pages per sweep (5,000 overdue invoices).
const MAX_PAGES: u32 = 100;
/// How many recent events are checked for a webhook-delivered `invoice.overdue`.
const RECENT_EVENTS: usize = 10_000;
/// The event kind a sweep emits.
pub const KIND: &str = "invoice.overdue";

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Wave could not be asked.
    #[error(transparent)]
    GraphQl(#[from] GraphQlError),
    /// Wave answered something unreadable.
    #[error("unreadable invoice list from Wave: {0}")]
    Response(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An overdue invoice as the sweep found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueInvoice {
    /// Raw invoice id (as in webhook payloads).
    pub invoice_id: String,
    /// Raw customer id, when known.
    pub customer_id: Option<String>,
    /// YYYY-MM-DD.
    pub due_date: String,
    /// YYYY-MM-DD.
    pub issue_date: Option<String>,
    /// What is still owed, decimal string.
    pub balance: String,
    /// ISO 4217.
    pub currency: String,
}

impl OverdueInvoice {
    /// The sweep's event id for this invoice: the same on every sweep.
    pub fn event_id(&self) -> String {
        format!("reconcile:{KIND}:{}:{}", self.invoice_id, self.due_date)
    }

    /// The event's `data`, shaped like Wave's `invoice.overdue` webhook.
    pub fn data(&self) -> Value {
        let mut data = json!({
            "invoice_id": self.invoice_id,
            "currency_code": self.currency,
            "due_date": self.due_date,
            "invoice_balance": self.balance,
        });
        if let Some(c) = &self.customer_id {
            data["customer_id"] = json!(c);
        }
        if let Some(d) = &self.issue_date {
            data["issue_date"] = json!(d);
        }
        data
    }

    fn from_node(node: InvoiceNode) -> Option<Self> {
        Some(OverdueInvoice {
            invoice_id: ids::raw(&node.id, "Invoice")?,
            customer_id: node.customer.as_ref().and_then(|c| ids::raw(&c.id, "Customer")),
            due_date: node.due_date?,
            issue_date: node.invoice_date,
            balance: node.amount_due.value,
            currency: node.amount_due.currency.code,
        })
    }
}

/// Lists a business's overdue invoices and submits the missing events.
pub struct Reconciler {
    client: Arc<GraphQlClient>,
    store: Arc<dyn InboxStore>,
    business_id: Option<String>,
    every: Duration,
}

impl Reconciler {
    /// A sweeper for `business_id` (raw id; `None`: the business the user connected) every
    /// `every`, reading known events from `store`.
    pub fn new(client: Arc<GraphQlClient>, store: Arc<dyn InboxStore>, business_id: Option<String>, every: Duration) -> Self {
        Reconciler { client, store, business_id, every }
    }

    /// Every invoice Wave lists as OVERDUE for `business`, page by page.
    pub async fn overdue_invoices(&self, business: &str) -> Result<Vec<OverdueInvoice>, ReconcileError> {
        let mut found = Vec::new();
        let mut page = 1;
        loop {
            let variables = json!({
                "businessId": ids::business(business),
                "status": "OVERDUE",
                "page": page,
                "pageSize": PAGE_SIZE,
            });
            let response = self.client.execute(graphql::INVOICES_BY_STATUS_QUERY, variables).await?;
            let invoices = response.data.as_ref().and_then(|d| d.pointer("/business/invoices")).filter(|v| !v.is_null());
            let Some(invoices) = invoices else {
                let errors: Vec<String> = response.errors.iter().map(|e| format!("{} ({})", e.message, e.code())).collect();
                return Err(ReconcileError::Response(if errors.is_empty() { "no invoices in the answer".into() } else { errors.join("; ") }));
            };
            let edges = invoices.get("edges").and_then(Value::as_array).cloned().unwrap_or_default();
            for edge in edges {
                match serde_json::from_value::<InvoiceNode>(edge.get("node").cloned().unwrap_or(Value::Null)) {
                    Ok(node) => match OverdueInvoice::from_node(node) {
                        Some(invoice) => found.push(invoice),
                        None => tracing::warn!("Overdue invoice without a readable id or due date; skipped."),
                    },
                    Err(e) => tracing::warn!(error = %e, "Unreadable overdue invoice from Wave; skipped."),
                }
            }
            let total_pages = invoices.pointer("/pageInfo/totalPages").and_then(Value::as_u64).unwrap_or(1);
            if u64::from(page) >= total_pages || page >= MAX_PAGES {
                return Ok(found);
            }
            page += 1;
        }
    }

    /// An `invoice.overdue` event for each invoice that has none yet (neither from a webhook nor
    /// from an earlier sweep).
    pub async fn missing(&self, business: &str, invoices: &[OverdueInvoice]) -> Result<Vec<NewEvent>, ReconcileError> {
        if invoices.is_empty() {
            return Ok(Vec::new());
        }
        let recent = EventFilter { kind: Some(KIND.into()), limit: RECENT_EVENTS, ..EventFilter::default() };
        let delivered: HashSet<String> = self
            .store
            .list_events(&recent)
            .await?
            .into_iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok()?.get("invoice_id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        let mut events = Vec::new();
        for invoice in invoices {
            let id = invoice.event_id();
            if delivered.contains(&invoice.invoice_id) || self.store.get_event(&id).await?.is_some() {
                continue;
            }
            let data = invoice.data();
            let body = json!({ "event_id": id, "event_type": KIND, "business_id": business, "data": data });
            tracing::info!(event_id = %id, invoice_id = %invoice.invoice_id, "Overdue invoice had no event; one is submitted.");
            events.push(NewEvent {
                id,
                source: SOURCE.into(),
                kind: KIND.into(),
                business_id: Some(business.to_owned()),
                record: None,
                received_at: Utc::now(),
                body: body.to_string().into_bytes(),
                data: data.to_string(),
            });
        }
        Ok(events)
    }
}

#[async_trait]
impl Poller for Reconciler {
    fn name(&self) -> &str {
        "wave:reconcile"
    }

    fn schedule(&self) -> Schedule {
        Schedule::every(self.every)
    }

    async fn poll(&self, _cursor: Option<String>) -> Result<PollBatch, PollError> {
        let Some(business) = self.business_id.clone().or_else(|| self.client.oauth().business_id()) else {
            return Err(PollError::Broken { reason: "no Wave business is known: set wave.business_id or run `ml-connector wave connect`".into() });
        };
        let retryable = |e: ReconcileError| PollError::Retryable { reason: e.to_string(), retry_after: None };
        let invoices = self.overdue_invoices(&business).await.map_err(retryable)?;
        let events = self.missing(&business, &invoices).await.map_err(retryable)?;
        tracing::info!(listed = invoices.len(), new = events.len(), "Reconciliation sweep done.");
        Ok(PollBatch { events, cursor: None })
    }
}
