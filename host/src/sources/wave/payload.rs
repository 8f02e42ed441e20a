//! Wave webhook bodies: `{event_id, event_type, business_id, data}` into an [`Event`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::Event;

/// The source name Wave events carry.
pub const SOURCE: &str = "wave";

/// Why a body is not a Wave event. Wave does not retry a 4xx, so the message
/// must be good enough for an operator to act on.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or missing/mistyped fields.
    #[error("not a Wave event: {0}")]
    Invalid(String),
    /// A field is present but unusable.
    #[error("not a Wave event: {field} {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[derive(Deserialize)]
struct WebhookBody<'a> {
    event_id: String,
    event_type: String,
    business_id: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// What a webhook body says besides its raw bytes: the parts of an [`Event`] that come from Wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `event_id`: Wave's id, the key duplicates are found by.
    pub id: String,
    /// `event_type`, e.g. `invoice.paid`.
    pub kind: String,
    /// `business_id`, possibly empty.
    pub business_id: String,
    /// `data`, verbatim (a JSON object).
    pub data: String,
}

/// Parses a webhook body exactly as Wave sent it. `data` is kept verbatim.
pub fn parse(body: &[u8], received_at: DateTime<Utc>) -> Result<Event, PayloadError> {
    let Envelope { id, kind, business_id, data } = envelope(body)?;
    Ok(Event { id, source: SOURCE.into(), kind, business_id, received_at: received_at.to_rfc3339_opts(SecondsFormat::Millis, true), data })
}

/// [`parse`] without the receipt time: what the webhook stores, checked the same way.
pub fn envelope(body: &[u8]) -> Result<Envelope, PayloadError> {
    let parsed: WebhookBody<'_> = serde_json::from_slice(body).map_err(|e| PayloadError::Invalid(e.to_string()))?;
    for (field, value) in [("event_id", &parsed.event_id), ("event_type", &parsed.event_type)] {
        if value.trim().is_empty() {
            return Err(PayloadError::Field { field, reason: "is empty" });
        }
        if value.len() > 200 {
            return Err(PayloadError::Field { field, reason: "is longer than 200 bytes" });
        }
    }
    if !parsed.data.get().trim_start().starts_with('{') {
        return Err(PayloadError::Field { field: "data", reason: "is not an object" });
    }
    Ok(Envelope { id: parsed.event_id, kind: parsed.event_type, business_id: parsed.business_id, data: parsed.data.get().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAID: &str = r#"{"business_id":"b1","data":{"amount_paid":"8.98", "invoice_id":"7"},"event_id":"e1","event_type":"invoice.paid"}"#;

    #[test]
    fn keeps_data_verbatim_and_maps_the_envelope() {
        let at = DateTime::parse_from_rfc3339("2026-04-29T12:00:00Z").unwrap().with_timezone(&Utc);
        let event = parse(PAID.as_bytes(), at).unwrap();
        assert_eq!(event.id, "e1");
        assert_eq!(event.kind, "invoice.paid");
        assert_eq!(event.business_id, "b1");
        assert_eq!(event.source, "wave");
        assert_eq!(event.received_at, "2026-04-29T12:00:00.000Z");
        assert_eq!(event.data, r#"{"amount_paid":"8.98", "invoice_id":"7"}"#);
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        for (body, needle) in [
            ("", "EOF"),
            ("[]", "expected struct WebhookBody"),
            (r#"{"event_id":"e","event_type":"x","business_id":"b"}"#, "missing field `data`"),
            (r#"{"event_id":"","event_type":"x","business_id":"b","data":{}}"#, "event_id is empty"),
            (r#"{"event_id":"e","event_type":"x","business_id":"b","data":[1]}"#, "data is not an object"),
        ] {
            let err = parse(body.as_bytes(), Utc::now()).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
