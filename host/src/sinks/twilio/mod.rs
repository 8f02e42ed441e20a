//! The Twilio sink: SMS and voice calls, drained from the outbox.
//!
//! One file per piece: [`request_builder`] turns an outbox row into a form body (pure),
//! [`service`] is the `tower::Service` over reqwest, [`retry`] decides what a response means,
//! [`phone`] normalises numbers to E.164, and [`sink`] claims due rows, rate-limits, sends and
//! records every attempt.

pub mod phone;
pub mod quiet_hours;
pub mod request_builder;
pub mod retry;
pub mod service;
pub mod sink;
pub mod twiml;

use std::time::Duration;

/// Who is to blame for a failure: decides how it is reported and whether a replay can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Configuration or host state (missing credentials, unknown team name).
    Host,
    /// Twilio or the network.
    Remote,
}

/// Why a request to Twilio did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying: 429, 5xx, timeout, connection error.
    #[error("retryable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// Twilio's HTTP status, when it answered.
        http_status: Option<u16>,
        /// Twilio's error code, when its body had one.
        code: Option<i64>,
        /// The server's `Retry-After`, when present.
        retry_after: Option<Duration>,
        /// Whether Twilio may have acted on the request (a timeout after sending it).
        ambiguous: bool,
    },
    /// Retrying cannot help: a 4xx other than 429, or an unusable answer.
    #[error("permanent: {message}")]
    Permanent {
        /// Twilio's HTTP status, when it answered.
        http_status: Option<u16>,
        /// Twilio's error code, e.g. 21211.
        code: Option<i64>,
        /// Twilio's message.
        message: String,
    },
}

impl SinkError {
    /// Who is to blame.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Retryable { .. } => Blame::Remote,
            Self::Permanent { http_status: None, .. } => Blame::Host,
            Self::Permanent { .. } => Blame::Remote,
        }
    }

    /// The HTTP status, when Twilio answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Retryable { http_status, .. } | Self::Permanent { http_status, .. } => *http_status,
        }
    }

    /// Twilio's error code, when known.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Retryable { code, .. } | Self::Permanent { code, .. } => *code,
        }
    }

    /// The readable reason.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable { reason, .. } => reason,
            Self::Permanent { message, .. } => message,
        }
    }
}
