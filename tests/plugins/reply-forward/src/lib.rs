//! Reacts to `message.received` (an inbound SMS reply, see `wit/PENDING.md`): a reply that asks
//! a question ("PAID?") is forwarded to the accounting team with the message and event it
//! answers, read from the event's `data`.

wit_bindgen::generate!({ path: "../../../wit/since_v0.1.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Message, Recipient};

struct ReplyForward;

impl Guest for ReplyForward {
    fn describe() -> Manifest {
        Manifest {
            name: "reply-forward".into(),
            version: "0.1.0".into(),
            description: "Forwards questions customers reply by SMS to the accounting team.".into(),
            subscribes: vec!["message.received".into()],
        }
    }

    fn handle(event: Event, _context: Context) -> Result<Vec<Action>, String> {
        let data: serde_json::Value = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
        let text = data["reply"]["body"].as_str().unwrap_or_default();
        if !text.contains('?') {
            return Ok(Vec::new());
        }
        let from = data["reply"]["from"].as_str().unwrap_or("?");
        let source = data["source_event"]["id"].as_str().unwrap_or("no event");
        let original = data["original"]["key"].as_str().unwrap_or("no message");
        Ok(vec![Action::Sms(Message {
            to: Recipient::Team("accounting".into()),
            body: format!("Reply from {from} about {source} ({original}): {text}"),
            key: format!("reply:{}", event.id),
            not_before: None,
        })])
    }
}

export!(ReplyForward);
