//! Which records need a person, and the events they become. Pure: the
//! poller reads, this decides.
//!
//! One cycle is planned in the three-way-match order: goods receipts (each
//! `posted`, naming the invoices that were waiting on its PO), purchase
//! orders (`pending_approval`; `approved` once an alerted PO leaves the
//! pending statuses), supplier invoices: `on_hold` when a hold amount is
//! set, `awaiting_receipt` when its status waits on receiver matching and no
//! receipt for its PO exists (one that posted earlier in the same cycle
//! counts, so no stale alert), `matched` when an alerted invoice reaches a
//! matched status. An invoice without a PO never awaits a receipt.
//!
//! The event id is `qad:{tenant}:{record}:{key}:{state}`: the same record in
//! the same state never alerts twice, across restarts and rescans.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sources::qad::config::Statuses;
use crate::sources::qad::cursor::{Alerted, Cursor};
use crate::sources::qad::record_of;
use crate::sources::qad::records::{GoodsReceipt, PurchaseOrder, RecordKind, SupplierInvoice, is_positive};

/// A state that needs (or answers) a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A goods receipt posted.
    Posted,
    /// A PO waits for approval.
    PendingApproval,
    /// An alerted PO left the pending statuses.
    Approved,
    /// An invoice waits on a receipt for its PO.
    AwaitingReceipt,
    /// An invoice has a hold amount.
    OnHold,
    /// An alerted invoice was matched.
    Matched,
}

impl State {
    /// The id and kind segment, e.g. `awaiting_receipt`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Posted => "posted",
            State::PendingApproval => "pending_approval",
            State::Approved => "approved",
            State::AwaitingReceipt => "awaiting_receipt",
            State::OnHold => "on_hold",
            State::Matched => "matched",
        }
    }
}

/// The event kind, e.g. `supplier_invoice.awaiting_receipt`.
pub fn kind(record: RecordKind, state: State) -> String {
    format!("{record}.{}", state.as_str())
}

/// The event id, e.g. `qad:acme:supplier_invoice:SI-1042:awaiting_receipt`.
pub fn event_id(tenant: &str, record: RecordKind, key: &str, state: State) -> String {
    format!("{}:{}", record_of(tenant, record, key), state.as_str())
}

/// A record as read: typed, and its browse row exactly as QAD sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The typed record.
    pub record: T,
    /// The row.
    pub row: Value,
}

/// One cycle's reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads {
    /// Goods receipts, in browse order.
    pub receipts: Vec<Read<GoodsReceipt>>,
    /// Purchase orders.
    pub orders: Vec<Read<PurchaseOrder>>,
    /// Supplier invoices.
    pub invoices: Vec<Read<SupplierInvoice>>,
    /// POs known to have a receipt: this cycle's receipts and the poller's lookups.
    pub received_orders: BTreeSet<String>,
    /// Whether every browse was read in full (then alerts not seen again are forgotten).
    pub full_scan: bool,
}

/// An event to submit.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The event id.
    pub id: String,
    /// The event kind.
    pub kind: String,
    /// The `data` object: tenant, record, record id, key, state, the typed record and the row.
    pub data: Value,
}

fn planned<T: Serialize>(tenant: &str, record: RecordKind, read: &Read<T>, key: &str, state: State, extra: Value) -> Planned {
    let mut data = json!({
        "tenant": tenant,
        "record": record.as_str(),
        "record_id": record_of(tenant, record, key),
        "key": key,
        "state": state.as_str(),
        record.as_str(): read.record,
        "row": read.row,
    });
    if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
        data.extend(extra);
    }
    Planned { id: event_id(tenant, record, key, state), kind: kind(record, state), data }
}

/// Whether an invoice's status waits on receiver matching.
fn waits(invoice: &SupplierInvoice, statuses: &Statuses) -> bool {
    invoice.status.as_ref().is_some_and(|s| statuses.invoice_awaiting_receipt.contains(s))
}

/// The state an invoice needs a person for, before the cursor's memory is applied.
pub fn invoice_state(invoice: &SupplierInvoice, statuses: &Statuses, received: bool) -> Option<State> {
    if is_positive(invoice.hold.as_deref()) {
        return Some(State::OnHold);
    }
    if waits(invoice, statuses) {
        return (invoice.po.is_some() && !received).then_some(State::AwaitingReceipt);
    }
    invoice.status.as_ref().filter(|s| statuses.invoice_matched.contains(*s)).map(|_| State::Matched)
}

/// The events of one cycle, in dispatch order, updating the cursor's memory of alerts.
pub fn plan(tenant: &str, statuses: &Statuses, reads: &Reads, cursor: &mut Cursor) -> Vec<Planned> {
    let mut events = Vec::new();
    for read in &reads.receipts {
        let r = &read.record;
        let mut waiting: BTreeSet<&str> = BTreeSet::new();
        if let Some(po) = &r.po {
            let remembered = cursor.alerted_invoices.iter().filter(|(_, a)| a.state == State::AwaitingReceipt && a.po.as_ref() == Some(po));
            waiting.extend(remembered.map(|(key, _)| key.as_str()));
            let current = reads.invoices.iter().map(|i| &i.record).filter(|i| i.po.as_ref() == Some(po) && waits(i, statuses));
            waiting.extend(current.map(|i| i.key.as_str()));
        }
        events.push(planned(tenant, RecordKind::GoodsReceipt, read, &r.key, State::Posted, json!({"waiting_invoices": waiting})));
    }
    for read in &reads.orders {
        let po = &read.record;
        let pending = po.status.as_ref().is_some_and(|s| statuses.po_pending_approval.contains(s));
        if pending {
            cursor.pending_orders.insert(po.key.clone());
            events.push(planned(tenant, RecordKind::PurchaseOrder, read, &po.key, State::PendingApproval, json!({})));
        } else if cursor.pending_orders.remove(&po.key) {
            events.push(planned(tenant, RecordKind::PurchaseOrder, read, &po.key, State::Approved, json!({})));
        }
    }
    for read in &reads.invoices {
        let invoice = &read.record;
        let received = invoice.po.as_ref().is_some_and(|po| reads.received_orders.contains(po));
        match invoice_state(invoice, statuses, received) {
            Some(state @ (State::OnHold | State::AwaitingReceipt)) => {
                cursor.alerted_invoices.insert(invoice.key.clone(), Alerted { po: invoice.po.clone(), state });
                events.push(planned(tenant, RecordKind::SupplierInvoice, read, &invoice.key, state, json!({})));
            }
            Some(State::Matched) => {
                if cursor.alerted_invoices.remove(&invoice.key).is_some() {
                    events.push(planned(tenant, RecordKind::SupplierInvoice, read, &invoice.key, State::Matched, json!({})));
                }
            }
            // Waiting, but its receipt has posted: AP matches it; the receipt's event said so.
            None if waits(invoice, statuses) => {}
            _ => {
                cursor.alerted_invoices.remove(&invoice.key);
            }
        }
    }
    if reads.full_scan {
        let seen_invoices: BTreeSet<&str> = reads.invoices.iter().map(|i| i.record.key.as_str()).collect();
        cursor.alerted_invoices.retain(|key, _| seen_invoices.contains(key.as_str()));
        let seen_orders: BTreeSet<&str> = reads.orders.iter().map(|o| o.record.key.as_str()).collect();
        cursor.pending_orders.retain(|key| seen_orders.contains(key.as_str()));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(key: &str, po: Option<&str>, status: &str, hold: &str) -> Read<SupplierInvoice> {
        let record = SupplierInvoice {
            key: key.into(),
            po: po.map(Into::into),
            supplier: Some("S100".into()),
            status: Some(status.into()),
            hold: Some(hold.into()),
            amount: Some("1200.00".into()),
            currency: Some("USD".into()),
            due_date: None,
            modified: None,
        };
        Read { record, row: json!({"key": key}) }
    }

    fn receipt(key: &str, po: &str) -> Read<GoodsReceipt> {
        let record = GoodsReceipt { key: key.into(), po: Some(po.into()), supplier: None, date: None, modified: None };
        Read { record, row: json!({}) }
    }

    fn order(key: &str, status: &str) -> Read<PurchaseOrder> {
        let record = PurchaseOrder {
            key: key.into(),
            supplier: None,
            buyer: Some("B01".into()),
            approver: None,
            status: Some(status.into()),
            amount: None,
            currency: None,
            due_date: None,
            modified: None,
        };
        Read { record, row: json!({}) }
    }

    fn ids(events: &[Planned]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn invoice_states_follow_hold_then_status_then_receipts() {
        let s = Statuses::default();
        let table = [
            (invoice("I", Some("PO"), "AP-INITIAL", "0.00"), false, Some(State::AwaitingReceipt)),
            (invoice("I", Some("PO"), "AP-INITIAL", "0.00"), true, None),
            (invoice("I", None, "AP-INITIAL", "0"), false, None),
            (invoice("I", Some("PO"), "AP-INITIAL", "50.00"), false, Some(State::OnHold)),
            (invoice("I", Some("PO"), "AP-RMALLOC", "0"), true, Some(State::Matched)),
            (invoice("I", Some("PO"), "AP-GLALLOC", "0"), true, None),
        ];
        for (read, received, expected) in table {
            assert_eq!(invoice_state(&read.record, &s, received), expected, "{read:?} received={received}");
        }
    }

    #[test]
    fn ids_and_kinds_follow_the_issue() {
        assert_eq!(event_id("acme", RecordKind::SupplierInvoice, "SI-1042", State::AwaitingReceipt), "qad:acme:supplier_invoice:SI-1042:awaiting_receipt");
        assert_eq!(kind(RecordKind::PurchaseOrder, State::PendingApproval), "purchase_order.pending_approval");
        assert_eq!(kind(RecordKind::GoodsReceipt, State::Posted), "goods_receipt.posted");
    }

    #[test]
    fn a_receipt_read_in_the_same_cycle_stops_the_awaiting_receipt_alert_and_names_the_invoice() {
        let mut cursor = Cursor::default();
        let reads = Reads {
            receipts: vec![receipt("RCV-1", "PO-77")],
            invoices: vec![invoice("SI-1", Some("PO-77"), "AP-INITIAL", "0")],
            received_orders: BTreeSet::from(["PO-77".to_string()]),
            ..Reads::default()
        };
        let events = plan("acme", &Statuses::default(), &reads, &mut cursor);
        assert_eq!(ids(&events), ["qad:acme:goods_receipt:RCV-1:posted"]);
        assert_eq!(events[0].data["waiting_invoices"], json!(["SI-1"]));
        assert_eq!(events[0].data["goods_receipt"]["po"], "PO-77");
    }

    #[test]
    fn an_invoice_that_waited_is_matched_after_its_receipt_posts_in_cycle_order() {
        let s = Statuses::default();
        let mut cursor = Cursor::default();
        let first = Reads { invoices: vec![invoice("SI-1", Some("PO-77"), "AP-INITIAL", "0")], ..Reads::default() };
        assert_eq!(ids(&plan("acme", &s, &first, &mut cursor)), ["qad:acme:supplier_invoice:SI-1:awaiting_receipt"]);
        let second = Reads {
            receipts: vec![receipt("RCV-1", "PO-77")],
            invoices: vec![invoice("SI-1", Some("PO-77"), "AP-RMALLOC", "0")],
            received_orders: BTreeSet::from(["PO-77".to_string()]),
            ..Reads::default()
        };
        let events = plan("acme", &s, &second, &mut cursor);
        assert_eq!(ids(&events), ["qad:acme:goods_receipt:RCV-1:posted", "qad:acme:supplier_invoice:SI-1:matched"]);
        assert_eq!(events[0].data["waiting_invoices"], json!(["SI-1"]), "remembered from the first cycle");
        assert!(cursor.alerted_invoices.is_empty());
    }

    #[test]
    fn a_matched_invoice_never_alerted_gives_no_event() {
        let reads = Reads { invoices: vec![invoice("SI-9", Some("PO-1"), "AP-RMALLOC", "0")], ..Reads::default() };
        assert!(plan("acme", &Statuses::default(), &reads, &mut Cursor::default()).is_empty());
    }

    #[test]
    fn a_pending_order_alerts_once_per_state_and_its_approval_follows() {
        let s = Statuses::default();
        let mut cursor = Cursor::default();
        let pending = Reads { orders: vec![order("PO-77", "P"), order("PO-78", "O")], ..Reads::default() };
        assert_eq!(ids(&plan("acme", &s, &pending, &mut cursor)), ["qad:acme:purchase_order:PO-77:pending_approval"]);
        let approved = Reads { orders: vec![order("PO-77", "O")], ..Reads::default() };
        assert_eq!(ids(&plan("acme", &s, &approved, &mut cursor)), ["qad:acme:purchase_order:PO-77:approved"]);
        assert!(plan("acme", &s, &approved, &mut cursor).is_empty(), "approved is told once");
    }

    #[test]
    fn a_full_scan_forgets_alerts_whose_records_are_gone() {
        let s = Statuses::default();
        let mut cursor = Cursor::default();
        plan("acme", &s, &Reads { orders: vec![order("PO-1", "P")], ..Reads::default() }, &mut cursor);
        plan("acme", &s, &Reads { full_scan: true, ..Reads::default() }, &mut cursor);
        assert!(cursor.pending_orders.is_empty());
    }
}
