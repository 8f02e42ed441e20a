//! `POST /webhooks/wave`: the [`VerifiedWave`] extractor checks the signature on the raw bytes
//! (HMAC-SHA256 over `{t}.{body}`, ±tolerance), then the handler parses, stores through the
//! inbox, and only then answers 2xx. Status codes follow Wave's retry contract: 4xx for what a
//! retry cannot fix, 5xx for what it can.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;

use super::payload::{self, SOURCE};
use super::signature::{self, SignatureError};
use crate::inbox::Inbox;
use crate::metrics::{Metrics, SourceLabel};
use crate::secrets::SecretSet;
use crate::server::error::ApiError;
use crate::store::{InsertOutcome, NewEvent};

/// The signature header Wave sends.
pub const SIGNATURE_HEADER: &str = "x-wave-signature";
/// The route.
pub const PATH: &str = "/webhooks/wave";

/// What the route needs.
#[derive(Clone)]
pub struct WaveWebhook {
    /// Where events go.
    pub inbox: Inbox,
    /// `wave.webhook_secret[.<suffix>]`, reloaded on a mismatch.
    pub secrets: Arc<SecretSet>,
    /// Allowed clock skew, seconds.
    pub tolerance_secs: i64,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
}

/// A request body whose Wave signature checked out.
pub struct VerifiedWave(pub Bytes);

impl FromRequest<Arc<WaveWebhook>> for VerifiedWave {
    type Rejection = ApiError;

    async fn from_request(mut request: Request, state: &Arc<WaveWebhook>) -> Result<Self, ApiError> {
        // Taken out (not copied): the body extractor below consumes the request.
        let header = request.headers_mut().remove(SIGNATURE_HEADER);
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            let reason = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "unreadable_body" };
            let message = if reason == "too_large" { "request body is too large".to_owned() } else { rejection.body_text() };
            ApiError::new(SOURCE, rejection.status(), reason, message)
        })?;
        let Some(header) = header.as_ref().and_then(|h| h.to_str().ok()) else {
            return Err(ApiError::new(SOURCE, StatusCode::UNAUTHORIZED, "missing_signature", format!("missing {SIGNATURE_HEADER} header")));
        };
        let now = Utc::now().timestamp();
        let check = |secrets: &[_]| signature::verify(header, &body, secrets, now, state.tolerance_secs);
        let mut verdict = check(&state.secrets.current());
        if matches!(verdict, Err(SignatureError::Mismatch | SignatureError::NoSecrets))
            && let Some(fresh) = state.secrets.reload().await
        {
            verdict = check(&fresh);
        }
        verdict.map_err(|e| {
            let (status, reason) = match e {
                SignatureError::NoSecrets => (StatusCode::SERVICE_UNAVAILABLE, "no_secret"),
                SignatureError::Stale { .. } => (StatusCode::UNAUTHORIZED, "stale"),
                SignatureError::Missing | SignatureError::Malformed(_) => (StatusCode::UNAUTHORIZED, "malformed_signature"),
                SignatureError::Mismatch => (StatusCode::UNAUTHORIZED, "bad_signature"),
            };
            ApiError::new(SOURCE, status, reason, e.to_string())
        })?;
        Ok(VerifiedWave(body))
    }
}

/// The 200 answer (fields in this order, as a JSON object's keys were sorted before).
#[derive(Serialize)]
struct Answer<'a> {
    event_id: &'a str,
    status: &'static str,
}

/// Receives one Wave webhook. Its state is shared, not cloned for each request.
pub async fn receive(State(state): State<Arc<WaveWebhook>>, VerifiedWave(body): VerifiedWave) -> Result<Response, ApiError> {
    let received_at = Utc::now();
    let envelope = payload::envelope(&body).map_err(|e| ApiError::new(SOURCE, StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    let new = NewEvent {
        id: envelope.id,
        source: SOURCE.into(),
        kind: envelope.kind,
        business_id: Some(envelope.business_id).filter(|b| !b.is_empty()),
        record: None,
        received_at,
        body: body.into(),
        data: envelope.data,
    };
    let event_id = new.id.clone();
    let outcome = state.inbox.submit(new).await.map_err(|e| ApiError::store(SOURCE, &e))?;
    let label = SourceLabel { source: SOURCE };
    state.metrics.events_received.get_or_create(&label).inc();
    let status = match outcome {
        InsertOutcome::Inserted => "accepted",
        InsertOutcome::Duplicate => {
            state.metrics.events_duplicate.get_or_create(&label).inc();
            "duplicate"
        }
    };
    Ok(Json(Answer { event_id: &event_id, status }).into_response())
}
