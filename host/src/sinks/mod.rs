//! Sinks: where messages go out. A [`Sink`] knows one remote (Twilio today): how to resolve a
//! recipient to an address, check it, preview, send, and reconcile a send left ambiguous. The
//! [`driver`] does everything else for every sink: claiming due rows (leases), scheduling
//! (`not_before`, quiet hours), rate limiting, retries with backoff, and recording each attempt
//! and status change. A new sink (e-mail, chat) is one folder implementing [`Sink`].

pub mod driver;
pub mod quiet_hours;
pub mod retry;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::Channel;
use crate::store::{Attempt, OutboxMessage, StoreError};

/// Who is to blame for a failure: decides how it is reported and whether a replay can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Configuration or host state (missing credentials, unknown team name).
    Host,
    /// The remote or the network.
    Remote,
}

/// Why a request to the remote did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying: 429, 5xx, timeout, connection error.
    #[error("retryable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The remote's HTTP status, when it answered.
        http_status: Option<u16>,
        /// The remote's error code, when its body had one.
        code: Option<i64>,
        /// The server's `Retry-After`, when present.
        retry_after: Option<Duration>,
        /// Whether the remote may have acted on the request (a timeout after sending it).
        ambiguous: bool,
    },
    /// Retrying cannot help: a 4xx other than 429, or an unusable answer.
    #[error("permanent: {message}")]
    Permanent {
        /// The remote's HTTP status, when it answered.
        http_status: Option<u16>,
        /// The remote's error code, e.g. Twilio's 21211.
        code: Option<i64>,
        /// The remote's message.
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

    /// The HTTP status, when the remote answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Retryable { http_status, .. } | Self::Permanent { http_status, .. } => *http_status,
        }
    }

    /// The remote's error code, when known.
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

/// Where a message's recipient leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An address the message can go to (an E.164 number).
    Address(String),
    /// The message cannot be delivered there (invalid, landline for SMS, opted out); final.
    Undeliverable {
        /// The address, when it was resolved.
        to: Option<String>,
        /// The remote's code for it (Twilio 21610 for an opt-out).
        code: Option<i64>,
        /// Why.
        reason: String,
    },
    /// The host cannot resolve the recipient (no customer number, unknown team contact); final.
    Failed {
        /// Why.
        reason: String,
    },
}

/// What a sink would send for a message: the audit record of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The request's kind (`message`, `call`).
    pub kind: &'static str,
    /// The request without credentials, as kept in the audit.
    pub request: String,
}

/// A request the remote accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The remote's id for it (Twilio's SID).
    pub id: Option<String>,
    /// What the remote said, for the history line.
    pub detail: String,
}

/// What [`Sink::reconcile`] found of a send whose answer was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The remote holds a send that is this message's, unheld by any other: its id.
    Found(String),
    /// The remote holds nothing that may be this message's: it may be sent again.
    Absent,
    /// The remote holds an unheld send that may be this message's and whose own status callback
    /// may still name its message (a call not yet ended): look again later rather than adopt it.
    Unsettled,
}

/// One remote for one or more channels. Every remote request a method makes is appended to
/// `log` (its audit attempt); the driver records them with the message's next state.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The sink's name, for logs.
    fn name(&self) -> &'static str;

    /// The channels it serves.
    fn channels(&self) -> &'static [Channel];

    /// Whether requests really go out; when `false` (dry-run) the driver records the
    /// [`Sink::preview`] and sends nothing.
    fn is_live(&self) -> bool;

    /// Checks a body a plugin wants to send on `channel` (length, encoding); the reason fails
    /// that plugin for that event, before anything reaches the outbox.
    fn check_body(&self, channel: Channel, body: &str) -> Result<(), String>;

    /// The address each message's recipient resolves to, or why it has none, in order: for a
    /// claimed batch at once, so what the store knows (opt-outs) is read once for the batch.
    async fn resolve_all(&self, batch: &[OutboxMessage]) -> Result<Vec<Resolution>, StoreError>;

    /// The request that would be sent to `to`; an error when the sink cannot build it (its own
    /// configuration is incomplete).
    fn preview(&self, m: &OutboxMessage, to: &str) -> Result<Preview, SinkError>;

    /// Checks with the remote that `to` can take the message (e.g. Twilio Lookups); `Ok(None)`
    /// when it can, else why it cannot.
    async fn verify(&self, m: &OutboxMessage, to: &str, log: &mut Vec<Attempt>) -> Result<Option<String>, SinkError>;

    /// Looks for a message that an unanswered attempt begun at `since` may have delivered to
    /// `to`.
    async fn reconcile(&self, m: &OutboxMessage, to: &str, since: DateTime<Utc>, log: &mut Vec<Attempt>) -> Result<Reconciled, SinkError>;

    /// Sends once.
    async fn send(&self, m: &OutboxMessage, to: &str, log: &mut Vec<Attempt>) -> Result<Sent, SinkError>;
}

/// The sinks of a process, by channel: which one serves a message, and the body checks the
/// dispatcher applies to plugin output.
#[derive(Clone, Default)]
pub struct Sinks {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Sinks {
    /// Adds a sink; a channel served by two sinks goes to the first added.
    pub fn register(&mut self, sink: Arc<dyn Sink>) {
        self.sinks.push(sink);
    }

    /// Every sink, in registration order.
    pub fn all(&self) -> &[Arc<dyn Sink>] {
        &self.sinks
    }

    /// Checks a body for `channel` with the sink that serves it; a channel no sink serves is
    /// refused.
    pub fn check_body(&self, channel: Channel, body: &str) -> Result<(), String> {
        match self.sinks.iter().find(|s| s.channels().contains(&channel)) {
            Some(sink) => sink.check_body(channel, body),
            None => Err(format!("no sink sends {channel} messages")),
        }
    }
}
