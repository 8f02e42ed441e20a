//! Inbound SMS replies: events with `source` `twilio` and `kind`
//! `message.received`.
//!
//! Subscribe to [`MESSAGE_RECEIVED`] and read `context.reply`: the [`Reply`]
//! (sender, text, Twilio's `OptOutType`), the [`SentMessage`] it answers (the
//! most recent message the host sent to that number: plugin, key, body,
//! status) and that message's source event. When the source event is known,
//! the rest of the context (business, customer, invoice) is the one looked up
//! for it, so a reply can be handled next to the invoice it is about.
//!
//! STOP and START are applied to the opt-out list by the host before any
//! plugin runs; a plugin does not need to handle them.
//!
//! ```
//! use ml_connector_sdk::{Action, Context, Event, Recipient};
//!
//! /// Forwards a question asked in reply to an overdue reminder to the accounting team.
//! fn forward_questions(event: &Event, context: &Context) -> Vec<Action> {
//!     let Some(reply) = &context.reply else { return vec![] };
//!     if !reply.body.contains('?') || reply.answers("invoice-overdue").is_none() {
//!         return vec![];
//!     }
//!     let invoice = context.invoice.as_ref().map_or("an invoice", |i| i.number.as_str());
//!     let body = format!("{} asks about {invoice}: {}", reply.from, reply.body);
//!     vec![Action::sms(Recipient::Team("accounting".into()), body, format!("reply:{}", event.id))]
//! }
//! ```

use crate::{Reply, SentMessage};

/// The event source of Twilio events.
pub const SOURCE: &str = "twilio";
/// The kind of an inbound SMS event.
pub const MESSAGE_RECEIVED: &str = "message.received";

impl Reply {
    /// The message this reply answers, if `plugin` sent it.
    pub fn answers(&self, plugin: &str) -> Option<&SentMessage> {
        self.original.as_ref().filter(|m| m.plugin == plugin)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Channel, Recipient, Reply, SentMessage};

    fn reply(original: Option<SentMessage>) -> Reply {
        Reply {
            sid: "SM1".into(),
            from: "+14155550100".into(),
            to: "+15005550006".into(),
            body: "PAID?".into(),
            opt_out_type: None,
            received_at: "2026-04-29T14:15:00.000Z".into(),
            original,
            source_event: None,
        }
    }

    #[test]
    fn a_reply_answers_only_the_plugin_that_sent_its_original() {
        let original = SentMessage {
            plugin: "invoice-overdue".into(),
            key: "overdue:inv-1".into(),
            channel: Channel::Sms,
            to: Recipient::Customer,
            to_number: Some("+14155550100".into()),
            body: "Invoice 12 is overdue".into(),
            sid: Some("SM0".into()),
            status: "sent".into(),
            delivery_status: Some("delivered".into()),
        };
        let r = reply(Some(original.clone()));
        assert_eq!(r.answers("invoice-overdue"), Some(&original));
        assert_eq!(r.answers("invoice-sent"), None);
        assert_eq!(reply(None).answers("invoice-overdue"), None);
    }
}
