//! Echoes what the host looked up: one SMS to `team:audit` whose body is
//! `customer=<id> mobile=<E.164|none> phone=<…> invoice=<number|none>
//! business=<name>`, so end-to-end tests can check the context a plugin saw.

// Built against the frozen WIT 0.1.0 on purpose: it shows the host still loads 0.1.0 plugins.
wit_bindgen::generate!({ path: "../../../wit/since_v0.1.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Message, Recipient};

struct ContextEcho;

impl Guest for ContextEcho {
    fn describe() -> Manifest {
        Manifest {
            name: "context-echo".into(),
            version: "0.1.0".into(),
            description: "Echoes the looked-up context into an SMS to team:audit.".into(),
            subscribes: vec!["*".into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let none = || "none".to_string();
        let (customer, mobile, phone) = match &context.customer {
            Some(c) => (c.id.clone(), c.mobile.clone().unwrap_or_else(none), c.phone.clone().unwrap_or_else(none)),
            None => (none(), none(), none()),
        };
        let invoice = context.invoice.as_ref().map_or_else(none, |i| i.number.clone());
        Ok(vec![Action::Sms(Message {
            to: Recipient::Team("audit".into()),
            body: format!("customer={customer} mobile={mobile} phone={phone} invoice={invoice} business={}", context.business_name),
            key: format!("echo:{}", event.id),
            not_before: None,
        })])
    }
}

export!(ContextEcho);
