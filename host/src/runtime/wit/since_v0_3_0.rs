//! Bindings for `ml-connector:plugin@0.3.0` (`wit/since_v0.3.0/`, the SDK's
//! version) and conversions between its generated types and the host's own:
//! 0.2.0's `context.reply`, plus `context.qad`, new in 0.3.0.

use std::collections::BTreeMap;

use crate::model::qad as q;
use crate::runtime::state::PluginState;
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.3.0",
    world: "notifier",
    // Event and context are lowered straight from borrowed host data, not cloned first.
    ownership: Borrowing { duplicate_if_necessary: true },
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.3.0";

shared_conversions!(wit, wit_host, RecipientResult, reply = reply, qad = qad);
reply_conversions!(wit);

/// `context.qad`, new in 0.3.0, borrowed from `c` (and its waiting invoices from `lists`).
fn qad<'a>(c: &'a model::Context, lists: &'a super::Lists<'a>) -> Option<wit::QadContext<'a>> {
    c.qad.as_ref().map(|x| wit::QadContext {
        tenant: &x.tenant,
        record: &x.record,
        record_id: &x.record_id,
        state: &x.state,
        supplier: x.supplier.as_ref().map(|s| wit::QadSupplier { code: &s.code, name: s.name.as_deref(), phone: s.phone.as_deref() }),
        purchase_order: x.purchase_order.as_ref().map(purchase_order),
        goods_receipt: x.goods_receipt.as_ref().map(|r| wit::QadGoodsReceipt {
            receiver: &r.receiver,
            po_number: r.po_number.as_deref(),
            supplier_code: r.supplier_code.as_deref(),
            date: r.date.as_deref(),
        }),
        supplier_invoice: x.supplier_invoice.as_ref().map(supplier_invoice),
        responsible: x.responsible.as_ref().map(|p| wit::QadPerson { code: &p.code, contact: p.contact.as_ref().map(recipient) }),
        waiting_invoices: &lists.waiting_invoices,
    })
}

fn purchase_order(p: &q::QadPurchaseOrder) -> wit::QadPurchaseOrder<'_> {
    wit::QadPurchaseOrder {
        number: &p.number,
        supplier_code: p.supplier_code.as_deref(),
        buyer: p.buyer.as_deref(),
        approver: p.approver.as_deref(),
        status: p.status.as_deref(),
        total: p.total.as_ref().map(money),
        due_date: p.due_date.as_deref(),
    }
}

fn supplier_invoice(i: &q::QadSupplierInvoice) -> wit::QadSupplierInvoice<'_> {
    wit::QadSupplierInvoice {
        reference: &i.reference,
        po_number: i.po_number.as_deref(),
        supplier_code: i.supplier_code.as_deref(),
        status: i.status.as_deref(),
        amount: i.amount.as_ref().map(money),
        hold: i.hold.as_ref().map(money),
        due_date: i.due_date.as_deref(),
    }
}
