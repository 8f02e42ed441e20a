//! `customer-welcome`: texts a new customer a welcome on `customer.created`.
//!
//! The SMS names the business (`context.business_name`) and the customer
//! (`context.customer`, else the name in the event, if any), says what they
//! will be texted about, and how to opt out (the host's Twilio number
//! handles STOP). Key `customer:{customer_id}:welcome`. No settings.

use ml_connector_sdk::wave::WaveEvent;
use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient};

/// The plugin; see the crate documentation.
pub struct CustomerWelcome;

impl Plugin for CustomerWelcome {
    fn describe() -> Manifest {
        Manifest {
            name: "customer-welcome".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Texts new customers a welcome.".into(),
            subscribes: vec!["customer.created".into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let WaveEvent::CustomerCreated(created) = WaveEvent::parse(&event)? else {
            return Err(format!("customer-welcome does not handle {}", event.kind));
        };
        let name = context
            .customer
            .as_ref()
            .map(|c| c.name.trim())
            .filter(|n| !n.is_empty())
            .or(created
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()));
        let greeting = match (context.business_name.trim(), name) {
            ("", None) => "Welcome!".to_string(),
            ("", Some(name)) => ["Welcome, ", name, "!"].concat(),
            (business, None) => ["Welcome to ", business, "!"].concat(),
            (business, Some(name)) => ["Welcome to ", business, ", ", name, "!"].concat(),
        };
        let body = [
            &greeting,
            " We'll text you here about your invoices, estimates and payments. Reply STOP to opt out.",
        ]
        .concat();
        let key = ["customer:", &created.customer_id, ":welcome"].concat();
        Ok(vec![Action::sms(Recipient::Customer, body, key)])
    }
}

ml_connector_sdk::export_plugin!(CustomerWelcome);

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_sdk::testing::{check_cases, run};

    const CREATED: &str = include_str!("../../../tests/fixtures/events/wave/customer.created.json");
    const TAIL: &str =
        "We'll text you here about your invoices, estimates and payments. Reply STOP to opt out.";

    fn welcome(greeting: &str) -> Result<Vec<Action>, String> {
        Ok(vec![Action::sms(
            Recipient::Customer,
            format!("{greeting} {TAIL}"),
            "customer:21840161:welcome",
        )])
    }

    #[test]
    fn names_business_and_customer() {
        let context = r#"{"business_name": "Acme Plumbing", "now": "2026-04-29T10:15:00-04:00",
            "customer": {"id": "21840161", "name": "Jane Doe", "mobile": "+15555550123"}}"#;
        assert_eq!(
            run::<CustomerWelcome>(CREATED, context),
            welcome("Welcome to Acme Plumbing, Jane Doe!")
        );
    }

    #[test]
    fn falls_back_gracefully() {
        let now = r#""now": "2026-04-29T10:15:00-04:00""#;
        assert_eq!(
            run::<CustomerWelcome>(CREATED, &format!("{{{now}}}")),
            welcome("Welcome!")
        );
        let business = format!(r#"{{"business_name": "Acme Plumbing", {now}}}"#);
        assert_eq!(
            run::<CustomerWelcome>(CREATED, &business),
            welcome("Welcome to Acme Plumbing!")
        );
        let unnamed = format!(r#"{{{now}, "customer": {{"id": "21840161", "name": " "}}}}"#);
        let named_in_event =
            CREATED.replace(r#""customer_id""#, r#""name": "Jane Doe", "customer_id""#);
        assert_eq!(
            run::<CustomerWelcome>(&named_in_event, &unnamed),
            welcome("Welcome, Jane Doe!")
        );
    }

    #[test]
    fn other_kinds_are_errors() {
        let paid = include_str!("../../../tests/fixtures/events/wave/invoice.paid.json");
        let context = r#"{"now": "2026-04-29T10:15:00-04:00"}"#;
        assert_eq!(
            run::<CustomerWelcome>(paid, context),
            Err("customer-welcome does not handle invoice.paid".into())
        );
    }

    #[test]
    fn describes_itself() {
        assert_eq!(CustomerWelcome::describe().subscribes, ["customer.created"]);
    }

    #[test]
    fn fixture_cases() {
        check_cases::<CustomerWelcome>(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases"),
            "customer-welcome",
        );
    }
}
