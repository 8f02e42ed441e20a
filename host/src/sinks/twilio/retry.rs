//! What a Twilio answer means for the message: [`TwilioRetryLogic::action`] maps (HTTP status,
//! Twilio code) to a [`RetryAction`], `Retry-After` is read as seconds or a date, and the error
//! body parser reads both Twilio's classic body and RFC 9457 problem details. When to retry is
//! the sink driver's ([`crate::sinks::retry`]).

use std::time::Duration;

use crate::sinks::retry::MAX_DELAY;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Twilio error 21610: the recipient replied STOP; blocked until they reply START.
pub const OPTED_OUT: i64 = 21610;

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// 2xx: done.
    Success,
    /// 429, 5xx, timeout, connection error: try again later (within the retry budget).
    Retry,
    /// Any other 4xx (or 3xx/1xx): failed for good, Twilio's code and message kept.
    Permanent,
}

/// The one decision function for Twilio answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct TwilioRetryLogic;

impl TwilioRetryLogic {
    /// `status` is `None` when no answer came (timeout, connection error).
    pub fn action(status: Option<u16>, code: Option<i64>) -> RetryAction {
        match (status, code) {
            (None, _) => RetryAction::Retry,
            (Some(200..=299), _) => RetryAction::Success,
            // 20429 is "too many requests" whatever status carries it; never processed.
            (Some(429), _) | (_, Some(20429)) => RetryAction::Retry,
            (Some(500..=599), _) => RetryAction::Retry,
            _ => RetryAction::Permanent,
        }
    }
}

/// Reads `Retry-After`: delay seconds or an HTTP date, capped at [`MAX_DELAY`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
        (at - now).to_std().unwrap_or_default()
    };
    Some(wait.min(MAX_DELAY))
}

/// Twilio's error, from either body shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioErrorBody {
    /// Twilio's error code, e.g. 21211.
    pub code: Option<i64>,
    /// The readable message.
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    code: Option<serde_json::Value>,
    message: Option<String>,
    // RFC 9457 problem details.
    title: Option<String>,
    detail: Option<String>,
}

/// Parses `{code, message, more_info, status}` or an RFC 9457 body
/// (`{type, title, status, code, detail, …}`); unknown shapes give an empty result.
pub fn parse_error_body(body: &[u8]) -> TwilioErrorBody {
    let Ok(raw) = serde_json::from_slice::<RawError>(body) else {
        return TwilioErrorBody::default();
    };
    let code = match raw.code {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let message = raw.message.or(match (raw.title, raw.detail) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (t, d) => t.or(d),
    });
    TwilioErrorBody { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_server_errors_and_silence_are_retried_and_other_4xx_are_not() {
        use RetryAction::*;
        let cases = [
            (Some(201), None, Success),
            (Some(429), Some(20429), Retry),
            (Some(500), None, Retry),
            (Some(503), None, Retry),
            (None, None, Retry),
            (Some(400), Some(21211), Permanent),
            (Some(400), Some(21610), Permanent),
            (Some(401), Some(20003), Permanent),
            (Some(404), None, Permanent),
        ];
        for (status, code, want) in cases {
            assert_eq!(TwilioRetryLogic::action(status, code), want, "{status:?} {code:?}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:58Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_DELAY));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn both_twilio_error_body_shapes_are_understood() {
        let classic = br#"{"code":21211,"message":"The 'To' number 5551234567 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        assert_eq!(
            parse_error_body(classic),
            TwilioErrorBody { code: Some(21211), message: Some("The 'To' number 5551234567 is not a valid phone number.".into()) }
        );
        let problem = br#"{"type":"https://www.twilio.com/docs/errors/21610","title":"Unsubscribed recipient","status":400,"code":21610,"detail":"Attempt to send to unsubscribed recipient"}"#;
        assert_eq!(
            parse_error_body(problem),
            TwilioErrorBody { code: Some(21610), message: Some("Unsubscribed recipient: Attempt to send to unsubscribed recipient".into()) }
        );
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), TwilioErrorBody::default());
    }
}
