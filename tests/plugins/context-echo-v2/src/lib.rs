//! The next version of `context-echo`, for shadow runs: the same answer on every event except
//! `invoice.overdue`, whose SMS starts with `OVERDUE ` and names the invoice first.

wit_bindgen::generate!({ path: "../../../wit/since_v0.1.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Message, Recipient};

struct ContextEchoV2;

impl Guest for ContextEchoV2 {
    fn describe() -> Manifest {
        Manifest {
            name: "context-echo".into(),
            version: "0.2.0".into(),
            description: "Echoes the looked-up context; overdue invoices first.".into(),
            subscribes: vec!["*".into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let customer = context.customer.as_ref();
        let field = |value: Option<&String>| value.cloned().unwrap_or_else(|| "none".into());
        let parts = [
            ("customer", field(customer.map(|c| &c.id))),
            ("mobile", field(customer.and_then(|c| c.mobile.as_ref()))),
            ("phone", field(customer.and_then(|c| c.phone.as_ref()))),
            ("invoice", field(context.invoice.as_ref().map(|i| &i.number))),
            ("business", context.business_name.clone()),
        ];
        let mut words: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if event.kind == "invoice.overdue" {
            words.rotate_right(2);
            words.insert(0, "OVERDUE".into());
        }
        Ok(vec![Action::Sms(Message { to: Recipient::Team("audit".into()), body: words.join(" "), key: format!("echo:{}", event.id), not_before: None })])
    }
}

export!(ContextEchoV2);
