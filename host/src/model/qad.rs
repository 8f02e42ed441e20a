//! The QAD part of the plugin [`Context`](super::Context) (WIT 0.3.0's
//! `context.qad`): the record an event is about, typed, with its supplier
//! and the person responsible. The JSON form is the one fixtures use.

use serde::{Deserialize, Serialize};

use super::{Money, Recipient};

/// What the host knows about the QAD record an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadContext {
    /// The tenant's configured name.
    pub tenant: String,
    /// `goods_receipt`, `purchase_order` or `supplier_invoice`.
    pub record: String,
    /// `qad:{tenant}:{record}:{key}`.
    pub record_id: String,
    /// The state the event is about, e.g. `awaiting_receipt`.
    pub state: String,
    /// The supplier, when QAD knows it.
    #[serde(default)]
    pub supplier: Option<QadSupplier>,
    /// The event's purchase order, or the one its invoice or receipt is for.
    #[serde(default)]
    pub purchase_order: Option<QadPurchaseOrder>,
    /// The goods receipt, for a receipt event.
    #[serde(default)]
    pub goods_receipt: Option<QadGoodsReceipt>,
    /// The supplier invoice, for an invoice event.
    #[serde(default)]
    pub supplier_invoice: Option<QadSupplierInvoice>,
    /// The approver (else the buyer) and where to reach them.
    #[serde(default)]
    pub responsible: Option<QadPerson>,
    /// For a receipt: the invoices that were waiting on its PO.
    #[serde(default)]
    pub waiting_invoices: Vec<String>,
}

/// A supplier from `supplierV2s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadSupplier {
    /// The supplier code.
    pub code: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// E.164.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A purchase order header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadPurchaseOrder {
    /// The PO number.
    pub number: String,
    /// The supplier code.
    #[serde(default)]
    pub supplier_code: Option<String>,
    /// The buyer code.
    #[serde(default)]
    pub buyer: Option<String>,
    /// The approver code.
    #[serde(default)]
    pub approver: Option<String>,
    /// QAD's status code.
    #[serde(default)]
    pub status: Option<String>,
    /// The order total.
    #[serde(default)]
    pub total: Option<Money>,
    /// The due date as QAD wrote it.
    #[serde(default)]
    pub due_date: Option<String>,
}

/// A goods receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadGoodsReceipt {
    /// The receiver number.
    pub receiver: String,
    /// The PO it receives against.
    #[serde(default)]
    pub po_number: Option<String>,
    /// The supplier code.
    #[serde(default)]
    pub supplier_code: Option<String>,
    /// The receipt date.
    #[serde(default)]
    pub date: Option<String>,
}

/// A supplier invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadSupplierInvoice {
    /// The supplier's reference.
    pub reference: String,
    /// The PO it matches.
    #[serde(default)]
    pub po_number: Option<String>,
    /// The supplier code.
    #[serde(default)]
    pub supplier_code: Option<String>,
    /// QAD's status code.
    #[serde(default)]
    pub status: Option<String>,
    /// The amount.
    #[serde(default)]
    pub amount: Option<Money>,
    /// The amount on hold.
    #[serde(default)]
    pub hold: Option<Money>,
    /// The due date.
    #[serde(default)]
    pub due_date: Option<String>,
}

/// A buyer or approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QadPerson {
    /// The code in QAD.
    pub code: String,
    /// A number or `team:NAME` from the tenant's `people` map.
    #[serde(default)]
    pub contact: Option<Recipient>,
}
