//! Typed view of Twilio events: an inbound SMS reply (`source` `twilio`, `kind`
//! `message.received`).
//!
//! The released WIT has no field for "the message this answers", so the host
//! carries the reply, the original outbox message and that message's source
//! event as JSON in `Event::data` (see `wit/PENDING.md`, the candidate for a
//! future `context.reply` field). [`MessageReceived::parse`] reads it:
//!
//! ```
//! use ml_connector_sdk::{Error, Event, twilio};
//!
//! /// Whether a reply asks something the team should answer.
//! fn is_question(event: &Event) -> Result<bool, Error> {
//!     Ok(match twilio::MessageReceived::parse(event)? {
//!         Some(reply) => reply.reply.body.contains('?'),
//!         None => false,
//!     })
//! }
//! ```

use serde::Deserialize;

use crate::{Error, Event};

/// The event source of Twilio events.
pub const SOURCE: &str = "twilio";
/// The kind of an inbound SMS event.
pub const MESSAGE_RECEIVED: &str = "message.received";

/// A `message.received` event's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageReceived {
    /// The inbound SMS.
    pub reply: Reply,
    /// The most recent message the host sent to the reply's sender, if any.
    pub original: Option<OriginalMessage>,
    /// The event that produced `original`.
    pub source_event: Option<SourceEvent>,
}

/// An inbound SMS as Twilio posted it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reply {
    /// Twilio's `MessageSid`.
    pub sid: String,
    /// The sender, E.164.
    pub from: String,
    /// The number it was sent to (ours), E.164.
    pub to: String,
    /// The text.
    pub body: String,
    /// `STOP`, `START` or `HELP` when Twilio's Advanced Opt-Out recognised a keyword.
    pub opt_out_type: Option<String>,
    /// When the host received it, RFC 3339.
    pub received_at: String,
}

/// The outbox message a reply answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OriginalMessage {
    /// The host's outbox id.
    pub id: i64,
    /// The idempotency key the plugin gave it.
    pub key: String,
    /// The plugin that asked for it.
    pub plugin: String,
    /// Its text.
    pub body: String,
    /// The abstract recipient: `customer`, `team:NAME` or a number.
    pub to: String,
    /// The number it went to, E.164.
    pub to_number: Option<String>,
    /// Twilio's SID for it.
    pub sid: Option<String>,
}

/// The event behind the original message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SourceEvent {
    /// Its id, e.g. Wave's `event_id`.
    pub id: String,
    /// Its kind, e.g. `invoice.overdue`.
    pub kind: String,
}

impl MessageReceived {
    /// The reply carried by `event`; `Ok(None)` for any other source or kind, an error when a
    /// `message.received` event's data does not have this shape.
    pub fn parse(event: &Event) -> Result<Option<MessageReceived>, Error> {
        if event.source != SOURCE || event.kind != MESSAGE_RECEIVED {
            return Ok(None);
        }
        serde_json::from_str(&event.data).map(Some).map_err(|e| {
            Error::new(format!("{} event {}: unexpected data: {e}", event.kind, event.id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(source: &str, kind: &str, data: &str) -> Event {
        Event {
            id: "twilio:SM1".into(),
            source: source.into(),
            kind: kind.into(),
            business_id: String::new(),
            received_at: "2026-04-29T14:15:00Z".into(),
            data: data.into(),
        }
    }

    #[test]
    fn a_reply_parses_with_its_original_message_and_source_event() {
        let data = r#"{"reply":{"sid":"SM1","from":"+14155550100","to":"+15005550006","body":"PAID?",
            "opt_out_type":null,"received_at":"2026-04-29T14:15:00Z"},
            "original":{"id":7,"key":"overdue:inv-1","plugin":"invoice-overdue","body":"Invoice 12 is overdue",
            "to":"customer","to_number":"+14155550100","sid":"SM0"},
            "source_event":{"id":"evt-1","kind":"invoice.overdue"}}"#;
        let parsed = MessageReceived::parse(&event("twilio", "message.received", data)).unwrap().unwrap();
        assert_eq!(parsed.reply.body, "PAID?");
        assert_eq!(parsed.original.unwrap().plugin, "invoice-overdue");
        assert_eq!(parsed.source_event.unwrap().kind, "invoice.overdue");
    }

    #[test]
    fn a_reply_to_no_known_message_has_neither_original_nor_source() {
        let data = r#"{"reply":{"sid":"SM1","from":"+1","to":"+2","body":"hi","opt_out_type":null,
            "received_at":"2026-04-29T14:15:00Z"},"original":null,"source_event":null}"#;
        let parsed = MessageReceived::parse(&event("twilio", "message.received", data)).unwrap().unwrap();
        assert!(parsed.original.is_none() && parsed.source_event.is_none());
    }

    #[test]
    fn other_events_are_not_replies_and_bad_data_is_an_error() {
        assert_eq!(MessageReceived::parse(&event("wave", "invoice.paid", "{}")).unwrap(), None);
        assert!(MessageReceived::parse(&event("twilio", "message.received", "{}")).is_err());
    }
}
