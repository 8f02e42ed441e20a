//! Counts its calls in a static. The host gives every event a fresh instance,
//! so the count it reports must be 1 every time.

use std::sync::atomic::{AtomicU32, Ordering};

// Built against the frozen WIT 0.1.0 on purpose: it shows the host still loads 0.1.0 plugins.
wit_bindgen::generate!({ path: "../../../wit/since_v0.1.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Message, Recipient};

static CALLS: AtomicU32 = AtomicU32::new(0);

struct Counter;

impl Guest for Counter {
    fn describe() -> Manifest {
        Manifest {
            name: "counter".into(),
            version: "0.1.0".into(),
            description: "Reports how many times this instance was called.".into(),
            subscribes: vec!["*".into()],
        }
    }

    fn handle(event: Event, _context: Context) -> Result<Vec<Action>, String> {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(vec![Action::Sms(Message {
            to: Recipient::Team("audit".into()),
            body: format!("call {calls}"),
            key: format!("count:{}", event.id),
            not_before: None,
        })])
    }
}

export!(Counter);
