//! Reacts to `message.received` (an inbound SMS reply) through WIT 0.2.0's `context.reply`: a
//! reply that asks a question ("PAID?") is forwarded to the accounting team with the message it
//! answers (channel, key, delivery status) and that message's source event.

// Built against the frozen WIT 0.2.0 on purpose (the SDK has moved on): it shows the host still
// loads 0.2.0 plugins and gives them the reply.
wit_bindgen::generate!({ path: "../../../wit/since_v0.2.0", world: "notifier" });

use exports::ml_connector::plugin::handler::{Action, Context, Event, Guest, Manifest};
use ml_connector::plugin::types::{Channel, Message, Recipient};

struct ReplyForward;

impl Guest for ReplyForward {
    fn describe() -> Manifest {
        Manifest {
            name: "reply-forward".into(),
            version: "0.2.0".into(),
            description: "Forwards questions customers reply by SMS to the accounting team.".into(),
            subscribes: vec!["message.received".into()],
        }
    }

    fn handle(event: Event, context: Context) -> Result<Vec<Action>, String> {
        let reply = context.reply.ok_or("a message.received event without context.reply")?;
        if !reply.body.contains('?') {
            return Ok(Vec::new());
        }
        let about = match &reply.source_event {
            Some(source) => format!("{} {}", source.kind, source.id),
            None => "no event".into(),
        };
        let answers = match &reply.original {
            Some(m) => {
                let channel = match m.channel {
                    Channel::Sms => "sms",
                    Channel::Call => "call",
                };
                format!("{channel} {} by {}, {}", m.key, m.plugin, m.delivery_status.as_deref().unwrap_or(&m.status))
            }
            None => "no message".into(),
        };
        let body = format!("Reply from {} about {about} ({answers}): {}", reply.from, reply.body);
        Ok(vec![Action::Sms(Message { to: Recipient::Team("accounting".into()), body, key: format!("reply:{}", event.id), not_before: None })])
    }
}

export!(ReplyForward);
