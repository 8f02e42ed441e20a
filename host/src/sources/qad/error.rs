//! What can go wrong talking to a QAD tenant, in the two classes the poll
//! driver acts on: try again later, or wait for an operator.

use std::time::Duration;

/// Why a poll (or a lookup, or a write-back) did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// 429, 5xx, a timeout, a connection error, or a 401 after a refresh and a re-login:
    /// retrying later may work. `retry_after` is QAD's `Retry-After`, when it sent one.
    #[error("QAD unavailable: {reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// How long QAD asked us to wait.
        retry_after: Option<Duration>,
    },
    /// 403, refused credentials, a browse that does not fit its field map, bad configuration:
    /// an operator must act; retrying the same thing will fail the same way.
    #[error("QAD tenant broken: {reason}")]
    Broken {
        /// What the operator must fix.
        reason: String,
    },
}

impl PollError {
    /// A retryable error without a `Retry-After`.
    pub fn retryable(reason: impl Into<String>) -> Self {
        PollError::Retryable { reason: reason.into(), retry_after: None }
    }

    /// A broken error.
    pub fn broken(reason: impl Into<String>) -> Self {
        PollError::Broken { reason: reason.into() }
    }

    /// Whether retrying may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PollError::Retryable { .. })
    }
}
