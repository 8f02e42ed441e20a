//! `invoice-overdue`: when Wave reports an invoice overdue, reminds the
//! customer by SMS and calls the team.
//!
//! - SMS to the customer with the balance (the event's `invoice_balance`),
//!   the due date, and the view link when the host's lookup has one. Key
//!   `invoice:{id}:overdue`.
//! - A voice call to the team contact `team_contact` (default
//!   `accounting`) naming the customer, the invoice and the balance. Key
//!   `invoice:{id}:overdue:call`. Set `team_contact` to an empty string to
//!   skip the call.
//!
//! Names come from the host's lookup (`context.customer`, `context.invoice`);
//! without it the customer SMS says "your invoice" and the call falls back to
//! Wave's ids, which the team can search for.

use ml_connector_sdk::wave::WaveEvent;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient, money, sender, time};

/// The plugin; see the crate documentation.
pub struct InvoiceOverdue;

impl Plugin for InvoiceOverdue {
    fn describe() -> Manifest {
        Manifest {
            name: "invoice-overdue".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Reminds the customer of an overdue invoice by SMS and calls the team."
                .into(),
            subscribes: vec!["invoice.overdue".into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let WaveEvent::InvoiceOverdue(overdue) = WaveEvent::parse(&event)? else {
            return Err(format!("invoice-overdue does not handle {}", event.kind));
        };
        let balance = money::format(&overdue.invoice_balance, &overdue.currency_code);
        let due = time::format_date(&overdue.due_date);
        let number = context
            .invoice
            .as_ref()
            .map(|i| i.number.as_str())
            .filter(|n| !n.is_empty());
        // Texts are joined with `concat` rather than `format!`: in a fresh instance that is
        // cheaper (see the SDK's README, "Fast plugins").
        let link = match context.invoice.as_ref().and_then(|i| i.view_url.as_ref()) {
            Some(url) => [" View and pay: ", url].concat(),
            None => String::new(),
        };
        let reminder = [
            &sender(&context),
            "Reminder: your invoice",
            &number.map(|n| [" ", n].concat()).unwrap_or_default(),
            " was due ",
            &due,
            " and has a balance of ",
            &balance,
            ".",
            &link,
        ]
        .concat();
        let key = ["invoice:", &overdue.invoice_id, ":overdue"].concat();
        let mut actions = vec![Action::sms(Recipient::Customer, reminder, key.clone())];

        let team = context
            .settings()
            .get_or("team_contact", "accounting")
            .trim();
        if !team.is_empty() {
            let customer = match &context.customer {
                Some(customer) if !customer.name.is_empty() => customer.name.clone(),
                _ => ["Customer ID ", &overdue.customer_id].concat(),
            };
            let invoice = match number {
                Some(number) => ["invoice ", number].concat(),
                None => ["the invoice with ID ", &overdue.invoice_id].concat(),
            };
            let business = match context.business_name.trim() {
                "" => String::new(),
                name => [" for ", name].concat(),
            };
            let call = [
                "Overdue invoice alert",
                &business,
                ". ",
                &customer,
                " has not paid ",
                &invoice,
                ", which was due ",
                &due,
                ". The balance is ",
                &balance,
                ".",
            ]
            .concat();
            actions.push(Action::call(
                Recipient::Team(team.into()),
                call,
                [&key, ":call"].concat(),
            ));
        }
        Ok(actions)
    }
}


ml_connector_sdk::export_plugin!(InvoiceOverdue);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::{check_cases, run};

    const OVERDUE: &str = include_str!("../../../tests/fixtures/events/wave/invoice.overdue.json");
    const CONTEXT: &str = r#"{"business_name": "Acme Plumbing", "now": "2026-04-06T09:00:00-04:00",
        "customer": {"id": "123", "name": "Jane Doe", "mobile": "+15555550123"},
        "invoice": {"id": "123", "number": "INV-0042", "status": "OVERDUE",
            "total": {"amount": "200.00", "currency": "USD"}, "amount_due": {"amount": "200.00", "currency": "USD"},
            "view_url": "https://next.waveapps.com/i/123"}}"#;

    #[test]
    fn texts_the_customer_and_calls_accounting() {
        assert_eq!(
            run::<InvoiceOverdue>(OVERDUE, CONTEXT),
            Ok(vec![
                Action::sms(
                    Recipient::Customer,
                    "Acme Plumbing: Reminder: your invoice INV-0042 was due Mar 30, 2026 and has a balance of $200.00. \
                     View and pay: https://next.waveapps.com/i/123",
                    "invoice:123:overdue",
                ),
                Action::call(
                    Recipient::Team("accounting".into()),
                    "Overdue invoice alert for Acme Plumbing. Jane Doe has not paid invoice INV-0042, \
                     which was due Mar 30, 2026. The balance is $200.00.",
                    "invoice:123:overdue:call",
                ),
            ])
        );
    }

    #[test]
    fn team_contact_setting() {
        let context = CONTEXT.replace(
            r#""now""#,
            r#""settings": {"team_contact": "collections"}, "now""#,
        );
        let actions = run::<InvoiceOverdue>(OVERDUE, &context).unwrap();
        let Action::Call(call) = &actions[1] else {
            panic!("{actions:?}")
        };
        assert_eq!(call.to, Recipient::Team("collections".into()));

        let context = CONTEXT.replace(r#""now""#, r#""settings": {"team_contact": ""}, "now""#);
        assert_eq!(run::<InvoiceOverdue>(OVERDUE, &context).unwrap().len(), 1);
    }

    #[test]
    fn without_lookup() {
        assert_eq!(
            run::<InvoiceOverdue>(OVERDUE, r#"{"now": "2026-04-06T09:00:00-04:00"}"#),
            Ok(vec![
                Action::sms(
                    Recipient::Customer,
                    "Reminder: your invoice was due Mar 30, 2026 and has a balance of $200.00.",
                    "invoice:123:overdue",
                ),
                Action::call(
                    Recipient::Team("accounting".into()),
                    "Overdue invoice alert. Customer ID 123 has not paid the invoice with ID 123, \
                     which was due Mar 30, 2026. The balance is $200.00.",
                    "invoice:123:overdue:call",
                ),
            ])
        );
    }

    #[test]
    fn other_kinds_are_errors() {
        let paid = include_str!("../../../tests/fixtures/events/wave/invoice.paid.json");
        assert_eq!(
            run::<InvoiceOverdue>(paid, CONTEXT),
            Err("invoice-overdue does not handle invoice.paid".into())
        );
    }

    #[test]
    fn describes_itself() {
        assert_eq!(InvoiceOverdue::describe().subscribes, ["invoice.overdue"]);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<InvoiceOverdue>(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"),
            "invoice-overdue",
        );
    }
}
