//! Twilio webhook payloads: form parsing, status ranks (a status never moves a message
//! backwards), opt-out keywords, and the `message.received` event an inbound reply becomes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::sinks::twilio::state::{InboundRecord, OptChange};
use crate::store::{OutboxMessage, StoredEvent};

/// The source name of events built from Twilio webhooks.
pub const SOURCE: &str = "twilio";

/// The event kind of an inbound SMS.
pub const MESSAGE_RECEIVED: &str = "message.received";

/// Decodes an `application/x-www-form-urlencoded` body into (name, value) pairs, in order,
/// repeated names kept.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The first value of `name`, if present and not empty.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Every parameter as a JSON object (repeated names become arrays), for storage.
pub fn params_json(params: &[(String, String)]) -> String {
    let mut map = Map::new();
    for (name, value) in params {
        match map.get_mut(name) {
            None => {
                map.insert(name.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value.clone())]);
            }
        }
    }
    Value::Object(map).to_string()
}

/// The rank of a message status: queued/accepted/scheduled < sending < sent <
/// delivered/undelivered/failed/read/canceled. `None` for statuses outside that lifecycle.
pub fn message_rank(status: &str) -> Option<u8> {
    match status {
        "queued" | "accepted" | "scheduled" => Some(0),
        "sending" => Some(1),
        "sent" => Some(2),
        "delivered" | "undelivered" | "failed" | "read" | "canceled" | "partially_delivered" => Some(3),
        _ => None,
    }
}

/// The rank of a call status: queued/initiated < ringing < in-progress <
/// completed/busy/no-answer/failed/canceled. `None` for statuses outside that lifecycle.
pub fn call_rank(status: &str) -> Option<u8> {
    match status {
        "queued" | "initiated" => Some(0),
        "ringing" => Some(1),
        "in-progress" | "answered" => Some(2),
        "completed" | "busy" | "no-answer" | "failed" | "canceled" => Some(CALL_ENDED_RANK),
        _ => None,
    }
}

/// The rank of a call's final statuses (`completed`, `busy`, `no-answer`, `failed`, `canceled`).
pub const CALL_ENDED_RANK: u8 = 3;

/// Whether a call status is progress (`initiated`, `ringing`, `in-progress`): kept in the
/// message's history and shown as its current delivery status until a final one arrives, never
/// taken as how the call ended.
pub fn is_call_progress(status: &str) -> bool {
    call_rank(status).is_some_and(|rank| rank < CALL_ENDED_RANK)
}

/// What an inbound SMS does to the sender's opt-out list: Twilio's `OptOutType` (Advanced
/// Opt-Out) wins; otherwise a body that is exactly one of the standard keywords.
pub fn opt_change(body: &str, opt_out_type: Option<&str>) -> Option<OptChange> {
    match opt_out_type.map(str::to_ascii_uppercase).as_deref() {
        Some("STOP") => return Some(OptChange::OptOut),
        Some("START") => return Some(OptChange::OptIn),
        _ => {}
    }
    match body.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(OptChange::OptOut),
        "START" | "UNSTOP" | "YES" => Some(OptChange::OptIn),
        _ => None,
    }
}

/// The id of the event an inbound SMS becomes.
pub fn event_id(message_sid: &str) -> String {
    format!("{SOURCE}:{message_sid}")
}

/// The `data` of a `message.received` event, as written at ingest: the reply, and which
/// message it answers and that message's source event (`null` when it matched no sent message).
/// Plugins built for WIT 0.2.0 get the full records in `context.reply` (see
/// [`super::replies`]); 0.1.0 plugins read this JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedData {
    /// The inbound SMS.
    pub reply: ReplyData,
    /// The message it answers, as it was when the reply arrived.
    pub original: Option<OriginalData>,
    /// That message's source event.
    pub source_event: Option<SourceEventRef>,
}

/// An inbound SMS in [`ReceivedData`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyData {
    /// `MessageSid`.
    pub sid: String,
    /// `From`.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `Body`.
    pub body: String,
    /// `OptOutType`.
    pub opt_out_type: Option<String>,
    /// When the host received it, RFC 3339.
    pub received_at: String,
}

/// The answered message in [`ReceivedData`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalData {
    /// Outbox row id.
    pub id: i64,
    /// The plugin's key.
    pub key: String,
    /// The plugin.
    pub plugin: String,
    /// The text.
    pub body: String,
    /// The abstract recipient.
    pub to: String,
    /// The number it went to.
    pub to_number: Option<String>,
    /// Twilio's SID.
    pub sid: Option<String>,
}

/// The source event in [`ReceivedData`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEventRef {
    /// Event id.
    pub id: String,
    /// Event kind.
    pub kind: String,
}

impl ReceivedData {
    /// The data for `reply`, linked to `original` and its `source` event.
    pub fn new(reply: &InboundRecord, original: Option<&OutboxMessage>, source: Option<&StoredEvent>) -> Self {
        let m = &reply.message;
        ReceivedData {
            reply: ReplyData {
                sid: m.sid.clone(),
                from: m.from.clone(),
                to: m.to.clone(),
                body: m.body.clone(),
                opt_out_type: m.opt_out_type.clone(),
                received_at: m.received_at.to_rfc3339(),
            },
            original: original.map(|o| OriginalData {
                id: o.row.id,
                key: o.row.key.clone(),
                plugin: o.row.plugin.clone(),
                body: o.row.body.clone(),
                to: o.row.to.to_string(),
                to_number: o.to_number.clone(),
                sid: o.sid.clone(),
            }),
            source_event: source.map(|e| SourceEventRef { id: e.id.clone(), kind: e.kind.clone() }),
        }
    }

    /// The JSON text stored as the event's `data`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn statuses_rank_in_lifecycle_order() {
        assert!(message_rank("queued") < message_rank("sending"));
        assert!(message_rank("sending") < message_rank("sent"));
        assert!(message_rank("sent") < message_rank("delivered"));
        assert_eq!(message_rank("delivered"), message_rank("undelivered"));
        assert!(call_rank("initiated") < call_rank("ringing"));
        assert!(call_rank("ringing") < call_rank("in-progress"));
        assert!(call_rank("in-progress") < call_rank("completed"));
        assert_eq!(call_rank("answered"), call_rank("in-progress"));
        for status in ["queued", "initiated", "ringing", "in-progress"] {
            assert!(is_call_progress(status), "{status}");
        }
        for status in ["completed", "busy", "no-answer", "failed", "canceled", "bogus"] {
            assert!(!is_call_progress(status), "{status}");
            if status != "bogus" {
                assert_eq!(call_rank(status), Some(CALL_ENDED_RANK), "{status}");
            }
        }
        assert_eq!(message_rank("bogus"), None);
    }

    #[test]
    fn opt_out_keywords_and_opt_out_type_are_recognised() {
        for word in ["STOP", "stop ", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit"] {
            assert_eq!(opt_change(word, None), Some(OptChange::OptOut), "{word}");
        }
        for word in ["START", "unstop", "Yes"] {
            assert_eq!(opt_change(word, None), Some(OptChange::OptIn), "{word}");
        }
        assert_eq!(opt_change("please stop calling", None), None);
        assert_eq!(opt_change("arrêt", Some("STOP")), Some(OptChange::OptOut));
        assert_eq!(opt_change("go", Some("START")), Some(OptChange::OptIn));
        assert_eq!(opt_change("HELP", Some("HELP")), None);
    }

    #[test]
    fn repeated_form_names_are_kept_and_stored_as_arrays() {
        let params = parse_form(b"A=1&B=x+y&A=2&C=%F0%9F%91%8D");
        assert_eq!(param(&params, "B"), Some("x y"));
        assert_eq!(param(&params, "C"), Some("\u{1f44d}"));
        let json: Value = serde_json::from_str(&params_json(&params)).unwrap();
        assert_eq!(json["A"], json!(["1", "2"]));
    }
}
