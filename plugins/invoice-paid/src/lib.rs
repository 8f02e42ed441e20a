//! `invoice-paid`: thanks the customer by SMS when Wave records a payment.
//!
//! | event                    | SMS to the customer                              |
//! |--------------------------|--------------------------------------------------|
//! | `invoice.paid`           | amount paid; the invoice is paid in full         |
//! | `invoice.partially_paid` | amount paid and the remaining balance            |
//! | `invoice.overpaid`       | amount paid and the credit (negative remaining balance) |
//!
//! The invoice is named by its number from the host's lookup
//! (`context.invoice`), or just "your invoice" when the host has none. The
//! key is `invoice:{invoice_id}:payment:{event id}`: one thank-you per
//! payment. No settings.

use ml_connector_sdk::wave::WaveEvent;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, money, sender};

/// The plugin; see the crate documentation.
pub struct InvoicePaid;

impl Plugin for InvoicePaid {
    fn describe() -> Manifest {
        Manifest {
            name: "invoice-paid".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Thanks the customer by SMS for each invoice payment.".into(),
            subscribes: vec![
                "invoice.paid".into(),
                "invoice.partially_paid".into(),
                "invoice.overpaid".into(),
            ],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let (payment, closing) = match WaveEvent::parse(&event)? {
            WaveEvent::InvoicePaid(p) => (p, "It is now paid in full.".to_string()),
            WaveEvent::InvoicePartiallyPaid(p) => {
                let balance = money::format(&p.remaining_balance, &p.currency_code);
                (p, ["Remaining balance: ", &balance, "."].concat())
            }
            WaveEvent::InvoiceOverpaid(p) => {
                let credit = money::format(&money::abs(&p.remaining_balance), &p.currency_code);
                (
                    p,
                    ["It is paid in full, and you have a credit of ", &credit, "."].concat(),
                )
            }
            _ => return Err(format!("invoice-paid does not handle {}", event.kind)),
        };
        let number = match &context.invoice {
            Some(invoice) if !invoice.number.is_empty() => [" ", &invoice.number].concat(),
            _ => String::new(),
        };
        let body = [
            &sender(&context),
            "Thank you! We received your payment of ",
            &money::format(&payment.amount_paid, &payment.currency_code),
            " for your invoice",
            &number,
            ". ",
            &closing,
        ]
        .concat();
        let key = ["invoice:", &payment.invoice_id, ":payment:", &event.id].concat();
        Ok(vec![Action::sms(Recipient::Customer, body, key)])
    }
}


ml_connector_sdk::export_plugin!(InvoicePaid);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::{check_cases, run};

    const PAID: &str = include_str!("../../../tests/fixtures/events/wave/invoice.paid.json");
    const PARTIAL: &str =
        include_str!("../../../tests/fixtures/events/wave/invoice.partially_paid.json");
    const OVERPAID: &str =
        include_str!("../../../tests/fixtures/events/wave/invoice.overpaid.json");
    const CONTEXT: &str = r#"{"business_name": "Acme Plumbing", "now": "2026-04-29T13:00:00-04:00",
        "invoice": {"id": "2496756670638588934", "number": "INV-0042", "status": "PAID",
            "total": {"amount": "8.98", "currency": "USD"}, "amount_due": {"amount": "0.00", "currency": "USD"}}}"#;

    fn sms(body: &str, key: &str) -> Vec<Action> {
        vec![Action::sms(Recipient::Customer, body, key)]
    }

    #[test]
    fn paid_in_full() {
        assert_eq!(
            run::<InvoicePaid>(PAID, CONTEXT),
            Ok(sms(
                "Acme Plumbing: Thank you! We received your payment of $8.98 for your invoice INV-0042. It is now paid in full.",
                "invoice:2496756670638588934:payment:2f210c44-f1ab-551e-89fa-333fb8d2a5fe",
            ))
        );
    }

    #[test]
    fn partially_paid_states_the_balance() {
        assert_eq!(
            run::<InvoicePaid>(PARTIAL, CONTEXT),
            Ok(sms(
                "Acme Plumbing: Thank you! We received your payment of $10.22 for your invoice INV-0042. Remaining balance: $30.00.",
                "invoice:2496760399374844951:payment:a704a98d-2e0a-5b5e-894a-0447fd56c5fb",
            ))
        );
    }

    #[test]
    fn overpaid_states_the_credit() {
        assert_eq!(
            run::<InvoicePaid>(OVERPAID, CONTEXT),
            Ok(sms(
                "Acme Plumbing: Thank you! We received your payment of $50.22 for your invoice INV-0042. It is paid in full, and you have a credit of $10.00.",
                "invoice:2496760399374844951:payment:3783d1d5-d9e6-5ade-8d41-97da0029cf0f",
            ))
        );
    }

    #[test]
    fn without_lookup_or_business_name() {
        assert_eq!(
            run::<InvoicePaid>(PAID, r#"{"now": "2026-04-29T13:00:00-04:00"}"#),
            Ok(sms(
                "Thank you! We received your payment of $8.98 for your invoice. It is now paid in full.",
                "invoice:2496756670638588934:payment:2f210c44-f1ab-551e-89fa-333fb8d2a5fe",
            ))
        );
    }

    #[test]
    fn other_kinds_and_bad_data_are_errors() {
        let sent = include_str!("../../../tests/fixtures/events/wave/invoice.sent.json");
        assert_eq!(
            run::<InvoicePaid>(sent, CONTEXT),
            Err("invoice-paid does not handle invoice.sent".into())
        );
        let broken = PAID.replace("\"amount_paid\"", "\"amount\"");
        assert!(
            run::<InvoicePaid>(&broken, CONTEXT)
                .unwrap_err()
                .contains("missing field `amount_paid`")
        );
    }

    #[test]
    fn describes_itself() {
        let manifest = InvoicePaid::describe();
        assert_eq!(manifest.name, "invoice-paid");
        assert_eq!(
            manifest.subscribes,
            ["invoice.paid", "invoice.partially_paid", "invoice.overpaid"]
        );
    }

    #[test]
    fn fixture_cases() {
        check_cases::<InvoicePaid>(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"),
            "invoice-paid",
        );
    }
}
