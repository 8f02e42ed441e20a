//! The neutral model every stage shares: what goes into a plugin ([`Event`],
//! [`Context`]) and what comes out ([`Action`], [`Message`], [`Recipient`]),
//! independent of any WIT version, source or sink, with the JSON form used by
//! the CLI, fixtures and the store. `runtime` converts these to and from each
//! contract version's bindings; nothing here knows about wasm.

pub mod grants;
pub mod qad;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A verified event from a source system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per source (Wave's `event_id`).
    pub id: String,
    /// "wave", "qad", "twilio".
    pub source: String,
    /// The source's own event type, e.g. "invoice.paid".
    pub kind: String,
    /// The source's tenant id, raw.
    pub business_id: String,
    /// When the host accepted it, RFC 3339 UTC.
    pub received_at: String,
    /// The event's `data` object exactly as received, JSON text.
    pub data: String,
}

/// A decimal amount with its currency; amounts stay strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Decimal string, e.g. "8.98".
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

/// The event's customer as looked up by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The source's customer id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email address, if known.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile number in E.164, if dialable.
    #[serde(default)]
    pub mobile: Option<String>,
    /// Phone number in E.164, if dialable.
    #[serde(default)]
    pub phone: Option<String>,
}

/// The event's invoice as looked up by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    /// The source's invoice id.
    pub id: String,
    /// The human invoice number.
    pub number: String,
    /// The source's status, e.g. "PAID".
    pub status: String,
    /// Invoice total.
    pub total: Money,
    /// What is still owed.
    pub amount_due: Money,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub due_date: Option<String>,
    /// Link the customer can open.
    #[serde(default)]
    pub view_url: Option<String>,
}

/// The event's estimate as looked up by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    /// The source's estimate id.
    pub id: String,
    /// The human estimate number.
    pub number: String,
    /// The source's status.
    pub status: String,
    /// Estimate total.
    pub total: Money,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub due_date: Option<String>,
    /// Link the customer can open.
    #[serde(default)]
    pub view_url: Option<String>,
}

/// What the host looked up for an event before calling a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The business's display name; empty when unknown.
    #[serde(default)]
    pub business_name: String,
    /// The customer, when the event has one and it was found.
    #[serde(default)]
    pub customer: Option<Customer>,
    /// The invoice, when the event has one and it was found.
    #[serde(default)]
    pub invoice: Option<Invoice>,
    /// The estimate, when the event has one and it was found.
    #[serde(default)]
    pub estimate: Option<Estimate>,
    /// The business's local date and time, RFC 3339 with offset.
    pub now: String,
    /// The plugin's settings from the host configuration.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// For an inbound SMS: the reply, the message it answers and that message's
    /// source event. Plugins built for WIT 0.1.0 do not see it.
    #[serde(default)]
    pub reply: Option<Reply>,
    /// The business's own time zone (an IANA name) when the source reported one, which `now`
    /// is given in. Host only, not part of the plugin contract: the sender reads quiet hours
    /// in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// For a QAD event: the typed record, its supplier and the person responsible.
    /// Plugins built for WIT 0.1.0 or 0.2.0 do not see it.
    #[serde(default)]
    pub qad: Option<qad::QadContext>,
}

/// An inbound SMS and what the host sent that it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Twilio's `MessageSid`.
    pub sid: String,
    /// The sender's number.
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// Twilio's `OptOutType`, when it recognised a keyword.
    #[serde(default)]
    pub opt_out_type: Option<String>,
    /// When the host received it, RFC 3339 UTC.
    pub received_at: String,
    /// The most recent message sent to the sender's number before the reply.
    #[serde(default)]
    pub original: Option<SentMessage>,
    /// The event that produced `original`.
    #[serde(default)]
    pub source_event: Option<Event>,
}

/// How a message goes out. Stored as its text form; the store does not fix
/// the set, so a sink for another channel needs no migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message.
    Sms,
    /// A voice call reading the body.
    Call,
}

impl Channel {
    /// Every channel, in a fixed order.
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Call];

    /// The text form: `sms`, `call`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
        }
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Option<Self> {
        Channel::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message a plugin asked for, as the host holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentMessage {
    /// The plugin that asked for it.
    pub plugin: String,
    /// The key that plugin gave it.
    pub key: String,
    /// SMS or call.
    pub channel: Channel,
    /// The recipient as the plugin named it.
    pub to: Recipient,
    /// The number it went to, E.164.
    #[serde(default)]
    pub to_number: Option<String>,
    /// The text.
    pub body: String,
    /// Twilio's SID.
    #[serde(default)]
    pub sid: Option<String>,
    /// The host's outbox status, e.g. "sent".
    pub status: String,
    /// The latest status Twilio reported, e.g. "delivered".
    #[serde(default)]
    pub delivery_status: Option<String>,
}

impl Context {
    /// A context that carries only the clock: what the host has before enrichment.
    pub fn bare(now: String) -> Self {
        Context {
            business_name: String::new(),
            customer: None,
            invoice: None,
            estimate: None,
            now,
            settings: BTreeMap::new(),
            reply: None,
            timezone: None,
            qad: None,
        }
    }
}

/// Who a message goes to. Its one text form (JSON, store, CLI) is `customer`,
/// `team:NAME` or the literal number; [`Recipient::parse`] is the one parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Recipient {
    /// The event's customer.
    Customer,
    /// A named contact from the `[team]` configuration.
    Team(String),
    /// A literal number, normalized and validated by the sender.
    Number(String),
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Customer => f.write_str("customer"),
            Recipient::Team(name) => write!(f, "team:{name}"),
            Recipient::Number(number) => f.write_str(number),
        }
    }
}

impl From<Recipient> for String {
    fn from(r: Recipient) -> String {
        r.to_string()
    }
}

impl Recipient {
    /// Parses the text form; anything that is not `customer` or `team:NAME` is a number.
    pub fn parse(text: &str) -> Recipient {
        if text == "customer" {
            Recipient::Customer
        } else if let Some(name) = text.strip_prefix("team:") {
            Recipient::Team(name.to_string())
        } else {
            Recipient::Number(text.to_string())
        }
    }
}

impl From<String> for Recipient {
    fn from(s: String) -> Recipient {
        Recipient::parse(&s)
    }
}

impl From<&str> for Recipient {
    fn from(s: &str) -> Recipient {
        Recipient::parse(s)
    }
}

/// An SMS or a call a plugin asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The recipient.
    pub to: Recipient,
    /// SMS text or the text a call speaks.
    pub body: String,
    /// Idempotency key within the plugin, and the handle for `cancel`.
    pub key: String,
    /// Earliest send time, RFC 3339; `null` = now.
    pub not_before: Option<String>,
}

/// One decision of a plugin. JSON form:
/// `{"action":"sms"|"call","to":…,"body":…,"key":…,"not_before":…}` or `{"action":"cancel","prefix":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Send an SMS.
    Sms(Message),
    /// Place a voice call that speaks the body.
    Call(Message),
    /// Cancel this plugin's not-yet-sent messages whose key starts with `prefix`.
    Cancel {
        /// Key prefix.
        prefix: String,
    },
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One line about what it does.
    pub description: String,
    /// Event kinds, exact or with a trailing `*` wildcard.
    pub subscribes: Vec<String>,
}

impl Manifest {
    /// Whether this plugin wants events of `kind`.
    pub fn subscribes_to(&self, kind: &str) -> bool {
        self.subscribes.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => pattern == kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_round_trip_through_their_json_strings() {
        for (r, s) in [
            (Recipient::Customer, "customer"),
            (Recipient::Team("accounting".into()), "team:accounting"),
            (Recipient::Number("+15555550100".into()), "+15555550100"),
        ] {
            assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::json!(s));
            assert_eq!(serde_json::from_value::<Recipient>(serde_json::json!(s)).unwrap(), r);
        }
    }

    #[test]
    fn actions_serialize_in_the_cli_shape() {
        let sms = Action::Sms(Message {
            to: Recipient::Team("ops".into()),
            body: "hi".into(),
            key: "k".into(),
            not_before: None,
        });
        assert_eq!(
            serde_json::to_value(&sms).unwrap(),
            serde_json::json!({"action":"sms","to":"team:ops","body":"hi","key":"k","not_before":null})
        );
        let cancel = Action::Cancel { prefix: "invoice:1:".into() };
        assert_eq!(serde_json::to_value(&cancel).unwrap(), serde_json::json!({"action":"cancel","prefix":"invoice:1:"}));
    }

    #[test]
    fn subscriptions_match_exact_kinds_and_trailing_wildcards() {
        let m = Manifest {
            name: "p".into(),
            version: "1".into(),
            description: String::new(),
            subscribes: vec!["invoice.*".into(), "customer.created".into()],
        };
        assert!(m.subscribes_to("invoice.paid"));
        assert!(m.subscribes_to("customer.created"));
        assert!(!m.subscribes_to("customer.updated"));
        assert!(!m.subscribes_to("estimate.sent"));
    }
}
