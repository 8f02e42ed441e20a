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
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.3.0";

shared_conversions!(wit, wit_host, reply = reply, qad = qad);
reply_conversions!(wit);

/// `context.qad`, new in 0.3.0.
fn qad(c: &model::Context) -> Option<wit::QadContext> {
    c.qad.as_ref().map(|x| wit::QadContext {
        tenant: x.tenant.clone(),
        record: x.record.clone(),
        record_id: x.record_id.clone(),
        state: x.state.clone(),
        supplier: x.supplier.as_ref().map(|s| wit::QadSupplier { code: s.code.clone(), name: s.name.clone(), phone: s.phone.clone() }),
        purchase_order: x.purchase_order.as_ref().map(purchase_order),
        goods_receipt: x.goods_receipt.as_ref().map(|r| wit::QadGoodsReceipt {
            receiver: r.receiver.clone(),
            po_number: r.po_number.clone(),
            supplier_code: r.supplier_code.clone(),
            date: r.date.clone(),
        }),
        supplier_invoice: x.supplier_invoice.as_ref().map(supplier_invoice),
        responsible: x.responsible.as_ref().map(|p| wit::QadPerson { code: p.code.clone(), contact: p.contact.as_ref().map(recipient) }),
        waiting_invoices: x.waiting_invoices.clone(),
    })
}

fn purchase_order(p: &q::QadPurchaseOrder) -> wit::QadPurchaseOrder {
    wit::QadPurchaseOrder {
        number: p.number.clone(),
        supplier_code: p.supplier_code.clone(),
        buyer: p.buyer.clone(),
        approver: p.approver.clone(),
        status: p.status.clone(),
        total: p.total.as_ref().map(money),
        due_date: p.due_date.clone(),
    }
}

fn supplier_invoice(i: &q::QadSupplierInvoice) -> wit::QadSupplierInvoice {
    wit::QadSupplierInvoice {
        reference: i.reference.clone(),
        po_number: i.po_number.clone(),
        supplier_code: i.supplier_code.clone(),
        status: i.status.clone(),
        amount: i.amount.as_ref().map(money),
        hold: i.hold.as_ref().map(money),
        due_date: i.due_date.clone(),
    }
}
