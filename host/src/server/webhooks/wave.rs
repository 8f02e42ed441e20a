//! `POST /webhooks/wave`: verify the signature on the raw bytes, parse, store
//! durably, and only then answer 2xx. Status codes follow Wave's retry
//! contract: 4xx for what a retry cannot fix, 5xx for what it can.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::server::AppState;
use crate::sources::wave::payload::{self, SOURCE};
use crate::sources::wave::signature::SignatureError;
use crate::store::{InsertOutcome, NewEvent};

/// The signature header Wave sends.
pub const SIGNATURE_HEADER: &str = "x-wave-signature";

fn refuse(state: &AppState, status: StatusCode, reason: &'static str, message: String) -> Response {
    state.metrics.reject(SOURCE, reason);
    tracing::info!(status = status.as_u16(), reason, "Wave webhook refused: {message}");
    (status, Json(json!({ "error": message }))).into_response()
}

/// Receives one Wave webhook.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(&state, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "request body is too large".into());
        }
        Err(rejection) => return refuse(&state, rejection.status(), "unreadable_body", rejection.body_text()),
    };
    let Some(header) = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()) else {
        return refuse(&state, StatusCode::UNAUTHORIZED, "missing_signature", format!("missing {SIGNATURE_HEADER} header"));
    };
    if let Err(e) = state.wave_secrets.verify(header, &body, Utc::now().timestamp(), state.signature_tolerance_secs) {
        let (status, reason) = match e {
            SignatureError::NoSecrets => (StatusCode::SERVICE_UNAVAILABLE, "no_secret"),
            SignatureError::Stale { .. } => (StatusCode::UNAUTHORIZED, "stale"),
            SignatureError::Missing | SignatureError::Malformed(_) => (StatusCode::UNAUTHORIZED, "malformed_signature"),
            SignatureError::Mismatch => (StatusCode::UNAUTHORIZED, "bad_signature"),
        };
        return refuse(&state, status, reason, e.to_string());
    }
    let received_at = Utc::now();
    let event = match payload::parse(&body, received_at) {
        Ok(event) => event,
        Err(e) => return refuse(&state, StatusCode::BAD_REQUEST, "invalid_body", e.to_string()),
    };
    let new = NewEvent {
        id: event.id,
        source: event.source,
        kind: event.kind,
        business_id: Some(event.business_id).filter(|b| !b.is_empty()),
        received_at,
        body: body.to_vec(),
        data: event.data,
    };
    let event_id = new.id.clone();
    match state.ingest.submit(new).await {
        Ok(outcome) => {
            state.metrics.events_received.get_or_create(&crate::metrics::SourceLabel { source: SOURCE }).inc();
            let status = match outcome {
                InsertOutcome::Inserted => "accepted",
                InsertOutcome::Duplicate => {
                    state.metrics.events_duplicate.get_or_create(&crate::metrics::SourceLabel { source: SOURCE }).inc();
                    "duplicate"
                }
            };
            (StatusCode::OK, Json(json!({ "status": status, "event_id": event_id }))).into_response()
        }
        Err(e) => {
            tracing::error!(event_id, error = %e, "Could not store a Wave event; answering 5xx so Wave retries.");
            let status = if e.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            state.metrics.reject(SOURCE, "store_unavailable");
            (status, Json(json!({ "error": "the event could not be stored; retry later" }))).into_response()
        }
    }
}
