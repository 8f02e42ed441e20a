//! [`ApiError`]: the one error type of every route. A refusal answers with its status and a short
//! message (JSON `{"error": …}` for Wave, plain text for Twilio, each as its sender expects), is
//! logged once, and carries a [`Rejection`] that the metrics layer counts as
//! `events_rejected{source,reason}`. A store failure is 503 when retrying can help, so the sender
//! of the webhook retries, else 500.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::util::MapResponseLayer;

use crate::metrics::Metrics;
use crate::store::StoreError;

/// How a source's callers expect error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `{"error": "…"}`.
    Json,
    /// The message as plain text.
    Text,
}

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    source: &'static str,
    reason: &'static str,
    message: String,
    format: BodyFormat,
}

/// `Retry-After` on every 503: the store or its queue is expected back within seconds.
pub const RETRY_AFTER_SECS: &str = "1";

/// What a refusal was, for the metrics layer: `(source, reason)`.
#[derive(Debug, Clone, Copy)]
pub struct Rejection {
    /// The event source, e.g. `wave`.
    pub source: &'static str,
    /// One of a fixed set of reasons (`bad_signature`, `stale`, `invalid_body`, …).
    pub reason: &'static str,
}

impl ApiError {
    /// A refusal of a `source` request with `status`, a bounded `reason` label and a message.
    pub fn new(source: &'static str, status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, source, reason, message: message.into(), format: BodyFormat::Json }
    }

    /// The same error with its body in `format`.
    pub fn format(mut self, format: BodyFormat) -> Self {
        self.format = format;
        self
    }

    /// The store could not take the request: 503 when it is temporary, else 500.
    pub fn store(source: &'static str, error: &StoreError) -> Self {
        tracing::error!(source, error = %error, "Could not store a webhook; answering 5xx so the sender retries.");
        let status = if error.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
        ApiError::new(source, status, "store_unavailable", "the event could not be stored; retry later")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The bounded reason label.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.reason != "store_unavailable" {
            tracing::info!(source = self.source, status = self.status.as_u16(), reason = self.reason, "Webhook refused: {}", self.message);
        }
        let mut response = match self.format {
            BodyFormat::Json => (self.status, Json(json!({ "error": self.message }))).into_response(),
            BodyFormat::Text => (self.status, self.message).into_response(),
        };
        response.extensions_mut().insert(Rejection { source: self.source, reason: self.reason });
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Wave and Twilio retry 5xx; say when.
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Layer: counts every response that carries a [`Rejection`] (a plain `tower` map of the
/// response, nothing boxed).
pub fn count_rejections(metrics: Arc<Metrics>) -> MapResponseLayer<impl FnOnce(Response) -> Response + Clone + Send + Sync + 'static> {
    MapResponseLayer::new(move |response: Response| {
        if let Some(r) = response.extensions().get::<Rejection>() {
            metrics.reject(r.source, r.reason);
        }
        response
    })
}
