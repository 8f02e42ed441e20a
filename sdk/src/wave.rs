//! Typed views of Wave webhook events.
//!
//! [`WaveEvent::parse`] reads `Event::data` according to `Event::kind`. The
//! structs mirror Wave's payloads field for field: ids and amounts stay
//! strings (amounts are decimals, see [`crate::money`]), dates are
//! `YYYY-MM-DD` and timestamps RFC 3339, as Wave sends them. A field shown in
//! every Wave example of a kind is required, so a payload without it is a
//! parse error that names the field; fields Wave may leave out or send as
//! `null` are `Option`s. Fields not listed here are ignored.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Error, Event};

/// One Wave event, by kind. Kinds this SDK does not know yet are
/// [`WaveEvent::Other`], so a plugin subscribed with a wildcard still sees them.
#[derive(Debug, Clone, PartialEq)]
pub enum WaveEvent {
    /// `invoice.created`: a draft invoice was created.
    InvoiceCreated(InvoiceIssued),
    /// `invoice.approved`: a draft invoice was approved, ready to send.
    InvoiceApproved(InvoiceIssued),
    /// `invoice.sent`: the invoice was sent to the customer.
    InvoiceSent(InvoiceSent),
    /// `invoice.viewed`: the customer opened the invoice.
    InvoiceViewed(InvoiceViewed),
    /// `invoice.overdue`: the due date passed with a balance left.
    InvoiceOverdue(InvoiceOverdue),
    /// `invoice.paid`: a payment settled the invoice.
    InvoicePaid(InvoicePayment),
    /// `invoice.partially_paid`: a payment left a balance.
    InvoicePartiallyPaid(InvoicePayment),
    /// `invoice.overpaid`: a payment exceeded the balance (negative remaining balance).
    InvoiceOverpaid(InvoicePayment),
    /// `customer.created`.
    CustomerCreated(CustomerChange),
    /// `customer.updated`.
    CustomerUpdated(CustomerChange),
    /// `estimate.approved`: the business approved a draft estimate.
    EstimateApproved(EstimateChange),
    /// `estimate.sent`: the estimate was sent to the customer.
    EstimateSent(EstimateChange),
    /// `estimate.viewed`: the customer opened the estimate.
    EstimateViewed(EstimateChange),
    /// `estimate.accepted`: the customer accepted (or it was marked accepted).
    EstimateAccepted(EstimateChange),
    /// `estimate.reset`: an accepted estimate was reset.
    EstimateReset(EstimateChange),
    /// `estimate.expired`: the estimate's valid-until date passed.
    EstimateExpired(EstimateChange),
    /// `estimate.paid`: the deposit was paid in full.
    EstimatePaid(EstimatePayment),
    /// `estimate.partially_paid`: part of the deposit was paid.
    EstimatePartiallyPaid(EstimatePayment),
    /// `estimate.overpaid`: more than the deposit was paid.
    EstimateOverpaid(EstimatePayment),
    /// Any other kind, with its data as JSON.
    Other {
        /// The event kind, e.g. `"bill.created"`.
        kind: String,
        /// The event's `data` object.
        data: serde_json::Value,
    },
}

impl WaveEvent {
    /// Reads `event.data` as the payload of `event.kind`; the error names the
    /// event and what is wrong with its data.
    pub fn parse(event: &Event) -> Result<WaveEvent, Error> {
        use WaveEvent::*;
        let parsed = match event.kind.as_str() {
            "invoice.created" => InvoiceCreated(data(event)?),
            "invoice.approved" => InvoiceApproved(data(event)?),
            "invoice.sent" => InvoiceSent(data(event)?),
            "invoice.viewed" => InvoiceViewed(data(event)?),
            "invoice.overdue" => InvoiceOverdue(data(event)?),
            "invoice.paid" => InvoicePaid(data(event)?),
            "invoice.partially_paid" => InvoicePartiallyPaid(data(event)?),
            "invoice.overpaid" => InvoiceOverpaid(data(event)?),
            "customer.created" => CustomerCreated(data(event)?),
            "customer.updated" => CustomerUpdated(data(event)?),
            "estimate.approved" => EstimateApproved(data(event)?),
            "estimate.sent" => EstimateSent(data(event)?),
            "estimate.viewed" => EstimateViewed(data(event)?),
            "estimate.accepted" => EstimateAccepted(data(event)?),
            "estimate.reset" => EstimateReset(data(event)?),
            "estimate.expired" => EstimateExpired(data(event)?),
            "estimate.paid" => EstimatePaid(data(event)?),
            "estimate.partially_paid" => EstimatePartiallyPaid(data(event)?),
            "estimate.overpaid" => EstimateOverpaid(data(event)?),
            kind => Other {
                kind: kind.to_string(),
                data: data(event)?,
            },
        };
        Ok(parsed)
    }
}

fn data<T: DeserializeOwned>(event: &Event) -> Result<T, Error> {
    serde_json::from_str(&event.data).map_err(|e| {
        Error::new(format!(
            "{} event {}: unexpected data: {e}",
            event.kind, event.id
        ))
    })
}

/// `invoice.created` and `invoice.approved`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvoiceIssued {
    /// Wave's invoice id.
    pub invoice_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of `amount`.
    pub currency_code: Option<String>,
    /// The invoice total, decimal.
    pub amount: Option<String>,
    /// `YYYY-MM-DD`.
    pub issue_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_date: Option<String>,
}

/// `invoice.sent`. It carries no amount: read it from `Context::invoice`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvoiceSent {
    /// Wave's invoice id.
    pub invoice_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of the invoice.
    pub currency_code: String,
    /// When it was sent, RFC 3339.
    pub sent_at: String,
    /// How it was sent, e.g. `"WAVE"`.
    pub sent_method: String,
}

/// `invoice.viewed`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvoiceViewed {
    /// Wave's invoice id.
    pub invoice_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of `invoice_balance`.
    pub currency_code: String,
    /// When the customer opened it, RFC 3339.
    pub view_timestamp: String,
    /// What is left to pay, decimal.
    pub invoice_balance: String,
}

/// `invoice.overdue`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvoiceOverdue {
    /// Wave's invoice id.
    pub invoice_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of `invoice_balance`.
    pub currency_code: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// What is left to pay, decimal.
    pub invoice_balance: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
}

/// `invoice.paid`, `invoice.partially_paid` and `invoice.overpaid`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InvoicePayment {
    /// Wave's invoice id.
    pub invoice_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of the amounts.
    pub currency_code: String,
    /// This payment, decimal.
    pub amount_paid: String,
    /// `YYYY-MM-DD`.
    pub paid_date: String,
    /// Left to pay after this payment, decimal; negative when overpaid (the
    /// customer's credit, see [`crate::money::abs`]).
    pub remaining_balance: String,
}

/// `customer.created` and `customer.updated`. Wave has not published this
/// payload yet; prefer the host's lookup in `Context::customer`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomerChange {
    /// Wave's customer id.
    pub customer_id: String,
    /// The customer's display name, if sent.
    pub name: Option<String>,
    /// The customer's email, if sent.
    pub email: Option<String>,
}

/// `estimate.approved`, `.sent`, `.viewed`, `.accepted`, `.reset` and
/// `.expired`; each kind sets its own timestamp field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EstimateChange {
    /// Wave's estimate id.
    pub estimate_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of `amount`.
    pub currency_code: String,
    /// Wave's status after the change, e.g. `"sent"` or `"APPROVED"` (case varies).
    pub status: String,
    /// The estimate total, decimal.
    pub amount: String,
    /// Valid until, `YYYY-MM-DD`.
    pub due_date: String,
    /// `YYYY-MM-DD` (`estimate.approved`).
    pub estimate_date: Option<String>,
    /// Deposit paid so far, decimal (`estimate.approved`).
    pub deposit_amount_paid: Option<String>,
    /// Deposit state; `null` when no deposit was asked (`estimate.approved`).
    pub deposit_payment_status: Option<String>,
    /// RFC 3339 (`estimate.sent`).
    pub sent_at: Option<String>,
    /// RFC 3339 (`estimate.viewed`).
    pub view_timestamp: Option<String>,
    /// RFC 3339 (`estimate.accepted`).
    pub accepted_at: Option<String>,
    /// RFC 3339 (`estimate.reset`).
    pub reset_at: Option<String>,
    /// RFC 3339 (`estimate.expired`).
    pub expired_at: Option<String>,
}

/// `estimate.paid`, `estimate.partially_paid` and `estimate.overpaid`: a
/// deposit payment. Total deposit = `deposit_amount_paid` +
/// `remaining_deposit_balance`; a negative remaining balance is a credit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EstimatePayment {
    /// Wave's estimate id.
    pub estimate_id: String,
    /// Wave's customer id.
    pub customer_id: String,
    /// ISO 4217 code of the amounts.
    pub currency_code: String,
    /// Wave's estimate status, e.g. `"ACCEPTED"`.
    pub status: String,
    /// `YYYY-MM-DD`.
    pub paid_date: String,
    /// Valid until, `YYYY-MM-DD`.
    pub due_date: String,
    /// The estimate total, decimal.
    pub estimate_total_amount: String,
    /// Deposit paid so far, decimal.
    pub deposit_amount_paid: String,
    /// Deposit still to pay, decimal; negative when overpaid.
    pub remaining_deposit_balance: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, data: &str) -> Event {
        Event {
            id: "evt-1".into(),
            source: "wave".into(),
            kind: kind.into(),
            business_id: "biz".into(),
            received_at: "2026-04-29T14:15:00Z".into(),
            data: data.into(),
        }
    }

    /// Every seed fixture parses into its own variant.
    #[test]
    fn parses_every_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events/wave");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let kind = json["event_type"].as_str().unwrap();
            let parsed = WaveEvent::parse(&event(kind, &json["data"].to_string()))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !matches!(parsed, WaveEvent::Other { .. }),
                "{kind} parsed as Other"
            );
            seen += 1;
        }
        assert!(seen >= 18, "only {seen} fixtures found in {dir}");
    }

    #[test]
    fn payment_fields() {
        let data = r#"{"amount_paid":"50.22","currency_code":"USD","customer_id":"21840161",
            "invoice_id":"2496760399374844951","paid_date":"2026-04-29","remaining_balance":"-10.00"}"#;
        let WaveEvent::InvoiceOverpaid(p) =
            WaveEvent::parse(&event("invoice.overpaid", data)).unwrap()
        else {
            panic!("wrong variant");
        };
        assert_eq!(p.amount_paid, "50.22");
        assert_eq!(p.remaining_balance, "-10.00");
    }

    #[test]
    fn null_deposit_status_is_none() {
        let data = r#"{"estimate_id":"123","customer_id":"1","currency_code":"USD","status":"approved",
            "amount":"200.00","estimate_date":"2026-03-30","due_date":"2026-04-30",
            "deposit_amount_paid":"0.00","deposit_payment_status":null}"#;
        let WaveEvent::EstimateApproved(e) =
            WaveEvent::parse(&event("estimate.approved", data)).unwrap()
        else {
            panic!("wrong variant");
        };
        assert_eq!(e.deposit_payment_status, None);
        assert_eq!(e.deposit_amount_paid.as_deref(), Some("0.00"));
    }

    #[test]
    fn unknown_kind_is_other() {
        let parsed = WaveEvent::parse(&event("bill.created", r#"{"bill_id":"9"}"#)).unwrap();
        assert_eq!(
            parsed,
            WaveEvent::Other {
                kind: "bill.created".into(),
                data: serde_json::json!({"bill_id": "9"})
            }
        );
    }

    #[test]
    fn missing_field_is_a_clear_error() {
        let err = WaveEvent::parse(&event("invoice.paid", r#"{"invoice_id":"1"}"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invoice.paid event evt-1: unexpected data: missing field `customer_id` at line 1 column 18"
        );
        assert!(WaveEvent::parse(&event("invoice.paid", "not json")).is_err());
    }
}
