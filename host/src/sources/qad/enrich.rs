//! [`QadEnricher`]: the plugin context of a QAD event, async (no blocking).
//! The typed record comes from the event's `data` (as the poller read it);
//! the purchase order an invoice or receipt is for is read from the PO
//! browse (filtered on its key), the supplier from `supplierV2s` (phone in
//! E.164), both cached with `moka` (size + TTL); the responsible person is
//! the PO's approver when the browse maps one, else its buyer, resolved
//! through the tenant's `people` map to a number or `team:NAME`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use serde_json::Value;

use crate::dispatch::enrich::{ClockOnly, EnrichError, Enricher, Enrichers};
use crate::model::qad::{QadContext, QadGoodsReceipt, QadPerson, QadPurchaseOrder, QadSupplier, QadSupplierInvoice};
use crate::model::{Context, Event, Money};
use crate::sources::qad::browse::{self, Filter, Op};
use crate::sources::qad::client::QadClient;
use crate::sources::qad::error::PollError;
use crate::sources::qad::poller::record_in;
use crate::sources::qad::records::{GoodsReceipt, PurchaseOrder, Record, RecordKind, Row, SupplierInvoice};
use crate::sources::qad::supplier::Suppliers;

/// How long a looked-up purchase order is reused (its buyer rarely changes).
pub const ORDER_TTL: Duration = Duration::from_secs(600);

struct Tenant {
    client: Arc<QadClient>,
    suppliers: Suppliers,
    orders: Cache<String, Option<PurchaseOrder>>,
}

/// Builds contexts for QAD events of the configured tenants.
pub struct QadEnricher {
    tenants: HashMap<String, Tenant>,
    clock: ClockOnly,
}

impl QadEnricher {
    /// An enricher over `clients` (one per tenant); `clock` is the business clock.
    pub fn new(clients: impl IntoIterator<Item = Arc<QadClient>>, clock: ClockOnly) -> Self {
        let tenants = clients
            .into_iter()
            .map(|client| {
                let s = &client.config().supplier;
                let suppliers = Suppliers::new(s.cache_size, Duration::from_secs(s.cache_ttl_secs));
                let orders = Cache::builder().max_capacity(s.cache_size).time_to_live(ORDER_TTL).build();
                (client.config().name.clone(), Tenant { client, suppliers, orders })
            })
            .collect();
        QadEnricher { tenants, clock }
    }
}

#[async_trait]
impl Enricher for QadEnricher {
    /// The context for `event`, a QAD event as the poller made it.
    async fn context(&self, event: &Event, _all: &Enrichers) -> Result<Context, EnrichError> {
        let data: Value = serde_json::from_str(&event.data).map_err(|e| EnrichError::Unavailable(format!("QAD event {}: data is not JSON ({e})", event.id)))?;
        let text = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
        let tenant_name = text("tenant");
        let tenant = self
            .tenants
            .get(&tenant_name)
            .ok_or_else(|| EnrichError::Unavailable(format!("QAD event {}: tenant {tenant_name:?} is not configured", event.id)))?;
        let record = RecordKind::parse(&text("record"))
            .ok_or_else(|| EnrichError::Unavailable(format!("QAD event {}: unknown record {:?}", event.id, text("record"))))?;
        let mut qad = QadContext {
            tenant: tenant_name,
            record: record.as_str().to_owned(),
            record_id: text("record_id"),
            state: text("state"),
            supplier: None,
            purchase_order: None,
            goods_receipt: None,
            supplier_invoice: None,
            responsible: None,
            waiting_invoices: data["waiting_invoices"].as_array().map(|a| a.iter().filter_map(|v| Some(v.as_str()?.to_owned())).collect()).unwrap_or_default(),
        };
        let unreadable = || EnrichError::Unavailable(format!("QAD event {}: data has no readable {record}", event.id));
        let (po_number, mut supplier_code) = match record {
            RecordKind::GoodsReceipt => {
                let r: GoodsReceipt = record_in(&data, record).ok_or_else(unreadable)?;
                let keys = (r.po.clone(), r.supplier.clone());
                qad.goods_receipt = Some(QadGoodsReceipt { receiver: r.key, po_number: r.po, supplier_code: r.supplier, date: r.date });
                keys
            }
            RecordKind::PurchaseOrder => {
                let po: PurchaseOrder = record_in(&data, record).ok_or_else(unreadable)?;
                let supplier = po.supplier.clone();
                qad.purchase_order = Some(purchase_order(&po));
                qad.responsible = responsible(&tenant.client, &po);
                (None, supplier)
            }
            RecordKind::SupplierInvoice => {
                let i: SupplierInvoice = record_in(&data, record).ok_or_else(unreadable)?;
                let keys = (i.po.clone(), i.supplier.clone());
                qad.supplier_invoice = Some(supplier_invoice(i));
                keys
            }
        };
        if let Some(po) = po_number {
            let order = tenant.orders.try_get_with(po.clone(), order(&tenant.client, po)).await.map_err(|e| unavailable(&e))?;
            if let Some(order) = order {
                supplier_code = supplier_code.or(order.supplier.clone());
                qad.responsible = responsible(&tenant.client, &order);
                qad.purchase_order = Some(purchase_order(&order));
            }
        }
        if let Some(code) = supplier_code {
            let found = tenant.suppliers.get(&tenant.client, &code).await.map_err(|e| unavailable(&e))?;
            qad.supplier = Some(found.map_or(QadSupplier { code: code.clone(), name: None, phone: None }, |s| QadSupplier { code: s.code, name: s.name, phone: s.phone }));
        }
        let mut context = self.clock.bare();
        context.business_name = tenant.client.config().display_name.clone().unwrap_or_default();
        context.qad = Some(qad);
        Ok(context)
    }
}

fn unavailable(e: &PollError) -> EnrichError {
    EnrichError::Unavailable(e.to_string())
}

/// The PO `po` from the tenant's PO browse; `None` when it lists none.
async fn order(client: &QadClient, po: String) -> Result<Option<PurchaseOrder>, PollError> {
    let browse = client.config().browse(RecordKind::PurchaseOrder);
    let key = &browse.fields["key"];
    let rows = browse::read_all(client, &browse.id, &[Filter::compare(key, Op::Eq, &po)]).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let record = Row::new(&browse.id, RecordKind::PurchaseOrder, &browse.fields, row).and_then(|r| Record::read(&r));
    match record {
        Ok(Record::PurchaseOrder(order)) => Ok(Some(order)),
        Ok(_) => Ok(None),
        Err(e) => Err(PollError::broken(e.to_string())),
    }
}

/// The approver when known, else the buyer, with their contact from the `people` map.
fn responsible(client: &QadClient, po: &PurchaseOrder) -> Option<QadPerson> {
    let code = po.approver.clone().or(po.buyer.clone())?;
    let contact = client.config().people.get(&code).cloned();
    Some(QadPerson { code, contact })
}

fn money(amount: &Option<String>, currency: &Option<String>) -> Option<Money> {
    Some(Money { amount: amount.clone()?, currency: currency.clone().unwrap_or_default() })
}

fn purchase_order(po: &PurchaseOrder) -> QadPurchaseOrder {
    QadPurchaseOrder {
        number: po.key.clone(),
        supplier_code: po.supplier.clone(),
        buyer: po.buyer.clone(),
        approver: po.approver.clone(),
        status: po.status.clone(),
        total: money(&po.amount, &po.currency),
        due_date: po.due_date.clone(),
    }
}

fn supplier_invoice(i: SupplierInvoice) -> QadSupplierInvoice {
    QadSupplierInvoice {
        amount: money(&i.amount, &i.currency),
        hold: money(&i.hold, &i.currency),
        reference: i.key,
        po_number: i.po,
        supplier_code: i.supplier,
        status: i.status,
        due_date: i.due_date,
    }
}
