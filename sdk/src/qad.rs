//! QAD events (`source` `qad`): supplier invoices, purchase orders and goods
//! receipts that need a person, polled by the host in the three-way-match
//! order. Read `context.qad` ([`QadContext`], WIT 0.3.0): the typed record,
//! its supplier (phone already E.164), the purchase order, and the person
//! responsible (approver, else buyer) with their number or team.
//!
//! Each QAD record has an id, `context.qad.record_id`
//! (`qad:acme:purchase_order:PO-77`); keys that start with it let a later
//! event cancel what an earlier one scheduled ([`follow_up_key`],
//! [`cancel_all`]).
//!
//! ```
//! use ml_connector_sdk::qad::{self, INVOICE_AWAITING_RECEIPT};
//! use ml_connector_sdk::{Action, Context, Event, Recipient};
//!
//! fn tell_the_buyer(event: &Event, context: &Context) -> Vec<Action> {
//!     let Some(q) = &context.qad else { return vec![] };
//!     let (Some(invoice), true) = (&q.supplier_invoice, event.kind == INVOICE_AWAITING_RECEIPT) else { return vec![] };
//!     let to = q.responsible_contact().unwrap_or(Recipient::Team("ap".into()));
//!     let body = format!("{} from {} {}", invoice.reference, q.supplier_name(), invoice.blocker());
//!     vec![Action::sms(to, body, qad::alert_key(q))]
//! }
//! ```

use chrono::DateTime;

use crate::{Error, QadContext, QadSupplierInvoice, Recipient, money};

/// The event source of QAD events.
pub const SOURCE: &str = "qad";
/// An invoice waiting on a goods receipt for its PO.
pub const INVOICE_AWAITING_RECEIPT: &str = "supplier_invoice.awaiting_receipt";
/// An invoice with a hold amount.
pub const INVOICE_ON_HOLD: &str = "supplier_invoice.on_hold";
/// An alerted invoice that has been matched.
pub const INVOICE_MATCHED: &str = "supplier_invoice.matched";
/// A PO pending approval.
pub const PO_PENDING_APPROVAL: &str = "purchase_order.pending_approval";
/// An alerted PO that left the pending statuses.
pub const PO_APPROVED: &str = "purchase_order.approved";
/// A goods receipt posted.
pub const RECEIPT_POSTED: &str = "goods_receipt.posted";

impl QadContext {
    /// Where the responsible person is reached, when the tenant's `people` map knows them.
    pub fn responsible_contact(&self) -> Option<Recipient> {
        self.responsible.as_ref()?.contact.clone()
    }

    /// The supplier's name, else its code, else "a supplier".
    pub fn supplier_name(&self) -> String {
        match &self.supplier {
            Some(s) => s.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| s.code.clone()),
            None => "a supplier".into(),
        }
    }
}

impl QadSupplierInvoice {
    /// What blocks payment, for a sentence: `is on hold for $940.00`, or
    /// `waits for a goods receipt for PO-78`.
    pub fn blocker(&self) -> String {
        if let Some(hold) = self.hold.as_ref().filter(|h| !money::is_zero(&h.amount) && !money::is_negative(&h.amount)) {
            return ["is on hold for ", &hold.display()].concat();
        }
        match &self.po_number {
            Some(po) => ["waits for a goods receipt for ", po].concat(),
            None => "waits for receiver matching".into(),
        }
    }
}

/// The key of the first alert about the event's record in its state: `{record_id}:{state}:alert`.
pub fn alert_key(q: &QadContext) -> String {
    [&q.record_id, ":", &q.state, ":alert"].concat()
}

/// The key of the follow-up to an alert key: `…:alert` becomes `…:follow-up`.
pub fn follow_up_key(alert_key: &str) -> String {
    [alert_key.strip_suffix(":alert").unwrap_or(alert_key), ":follow-up"].concat()
}

/// The prefix that cancels everything still unsent about the record (alerts and follow-ups).
pub fn cancel_all(q: &QadContext) -> String {
    [&q.record_id, ":"].concat()
}

/// `now` (RFC 3339, normally `Context::now`) plus `hours`, as RFC 3339: a follow-up's `not_before`.
pub fn hours_after(now: &str, hours: u32) -> Result<String, Error> {
    let now = DateTime::parse_from_rfc3339(now).map_err(|e| Error::new(format!("now {now:?} is not an RFC 3339 date-time: {e}")))?;
    Ok(crate::time::rfc3339(&(now + chrono::Duration::hours(hours.into()))))
}

/// Whether `amount` is above `limit` (both plain decimals); false when either does not parse.
pub fn above(amount: &str, limit: &str) -> bool {
    match (amount.trim().parse::<f64>(), limit.trim().parse::<f64>()) {
        (Ok(a), Ok(l)) => a > l,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Money, QadPerson, QadSupplier};

    fn context() -> QadContext {
        QadContext {
            tenant: "acme".into(),
            record: "supplier_invoice".into(),
            record_id: "qad:acme:supplier_invoice:SI-1".into(),
            state: "awaiting_receipt".into(),
            supplier: Some(QadSupplier { code: "S200".into(), name: None, phone: None }),
            purchase_order: None,
            goods_receipt: None,
            supplier_invoice: None,
            responsible: Some(QadPerson { code: "B02".into(), contact: Some(Recipient::Team("purchasing".into())) }),
            waiting_invoices: vec![],
        }
    }

    fn invoice(hold: Option<&str>, po: Option<&str>) -> QadSupplierInvoice {
        QadSupplierInvoice {
            reference: "SI-1".into(),
            po_number: po.map(Into::into),
            supplier_code: None,
            status: None,
            amount: None,
            hold: hold.map(|h| Money { amount: h.into(), currency: "USD".into() }),
            due_date: None,
        }
    }

    #[test]
    fn keys_start_with_the_record_id_so_one_prefix_cancels_them() {
        let q = context();
        assert_eq!(alert_key(&q), "qad:acme:supplier_invoice:SI-1:awaiting_receipt:alert");
        assert_eq!(follow_up_key(&alert_key(&q)), "qad:acme:supplier_invoice:SI-1:awaiting_receipt:follow-up");
        assert!(follow_up_key(&alert_key(&q)).starts_with(&cancel_all(&q)));
    }

    #[test]
    fn the_blocker_is_the_hold_first_then_the_missing_receipt() {
        assert_eq!(invoice(Some("940.00"), Some("PO-78")).blocker(), "is on hold for $940.00");
        assert_eq!(invoice(Some("0.00"), Some("PO-78")).blocker(), "waits for a goods receipt for PO-78");
        assert_eq!(invoice(None, None).blocker(), "waits for receiver matching");
    }

    #[test]
    fn names_contacts_and_times() {
        let q = context();
        assert_eq!(q.supplier_name(), "S200");
        assert_eq!(q.responsible_contact(), Some(Recipient::Team("purchasing".into())));
        assert_eq!(hours_after("2026-11-30T09:00:00-05:00", 4).unwrap(), "2026-11-30T13:00:00-05:00");
        assert!(above("10000.01", "10000") && !above("940.00", "10000") && !above("x", "1"));
    }
}
