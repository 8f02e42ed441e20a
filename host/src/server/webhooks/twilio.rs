//! `POST /webhooks/twilio/status` and `POST /webhooks/twilio/inbound`: verify
//! `X-Twilio-Signature` over `{server.public_url}` + the path and query as received (never the
//! `Host` header) and every form parameter, store durably, then answer. A missing or wrong
//! signature is 403 with nothing recorded. Twilio may deliver a webhook more than once, so both
//! routes are idempotent: status callbacks are deduplicated by (SID, status, SequenceNumber) and
//! inbound messages by MessageSid. An inbound reply also becomes a `message.received` event that
//! the dispatcher hands to subscribed plugins after the answer has gone out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::secrets::SecretString;
use crate::server::AppState;
use crate::sources::twilio::callbacks::{self, MESSAGE_RECEIVED, SOURCE, param};
use crate::sources::twilio::signature::{self, SIGNATURE_HEADER};
use crate::store::{CallbackOutcome, InboundMessage, InsertOutcome, NewEvent, StatusCallback, Store, StoreError};

/// The path of the status callback route (the sender's `StatusCallback`).
pub const STATUS_PATH: &str = "/webhooks/twilio/status";
/// The path of the inbound SMS route (the number's "A message comes in" webhook).
pub const INBOUND_PATH: &str = "/webhooks/twilio/inbound";

/// What the Twilio routes need to check signatures.
#[derive(Clone, Default)]
pub struct TwilioWebhooks {
    /// `{server.public_url}` without a trailing slash: the URL Twilio was told to call.
    pub public_url: String,
    /// The secret `twilio.auth_token` (also needed with API-key auth: Twilio signs webhooks
    /// with the account's auth token). Without it every Twilio webhook gets 503.
    pub auth_token: Option<Arc<SecretString>>,
}

fn refuse(state: &AppState, status: StatusCode, reason: &'static str, message: &str) -> Response {
    state.metrics.reject(SOURCE, reason);
    tracing::info!(status = status.as_u16(), reason, "Twilio webhook refused: {message}");
    (status, message.to_owned()).into_response()
}

/// Checks the signature; returns the decoded form parameters when it is valid.
#[allow(clippy::result_large_err)]
fn verify(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Bytes, Vec<(String, String)>), Response> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Err(refuse(state, rejection.status(), "unreadable_body", &rejection.body_text())),
    };
    let Some(token) = &state.twilio.auth_token else {
        return Err(refuse(state, StatusCode::SERVICE_UNAVAILABLE, "no_secret", "twilio.auth_token is not set"));
    };
    let Some(sig) = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).filter(|s| !s.is_empty()) else {
        return Err(refuse(state, StatusCode::FORBIDDEN, "missing_signature", "missing X-Twilio-Signature"));
    };
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let url = format!("{}{}", state.twilio.public_url, path_and_query);
    let params = callbacks::parse_form(&body);
    let valid = if uri.query().is_some_and(|q| q.contains("bodySHA256=")) {
        signature::validate_json_body(token.expose(), &url, &body, sig)
    } else {
        signature::validate(token.expose(), &url, &params, sig)
    };
    if !valid {
        return Err(refuse(state, StatusCode::FORBIDDEN, "bad_signature", "X-Twilio-Signature does not match"));
    }
    Ok((body, params))
}

/// Runs a blocking store call off the async workers.
async fn blocking<T: Send + 'static>(
    store: Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(move || f(store.as_ref())).await.unwrap_or_else(|e| {
        Err(StoreError::Backend { op: "twilio webhook", cause: Arc::new(std::io::Error::other(e.to_string())) })
    })
}

fn store_failed(state: &AppState, e: &StoreError) -> Response {
    tracing::error!(error = %e, "Could not store a Twilio webhook; answering 5xx so Twilio retries.");
    state.metrics.reject(SOURCE, "store_unavailable");
    let status = if e.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
    (status, "could not store the webhook; retry later").into_response()
}

/// Receives a message or call status callback.
pub async fn status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (_, params) = match verify(&state, &uri, &headers, body) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let (sid, status, rank) = if let (Some(sid), Some(status)) = (param(&params, "MessageSid"), param(&params, "MessageStatus")) {
        (sid, status, callbacks::message_rank(status))
    } else if let (Some(sid), Some(status)) = (param(&params, "CallSid"), param(&params, "CallStatus")) {
        (sid, status, callbacks::call_rank(status))
    } else {
        return refuse(&state, StatusCode::BAD_REQUEST, "invalid_body", "neither MessageSid/MessageStatus nor CallSid/CallStatus");
    };
    let error_code = param(&params, "ErrorCode").and_then(|c| c.parse::<i64>().ok());
    let mut detail = Vec::new();
    if let Some(code) = param(&params, "ErrorCode") {
        detail.push(format!("ErrorCode={code}"));
    }
    if let Some(duration) = param(&params, "CallDuration") {
        detail.push(format!("CallDuration={duration}s"));
    }
    let callback = StatusCallback {
        sid: sid.to_owned(),
        status: status.to_owned(),
        sequence: param(&params, "SequenceNumber").map(str::to_owned),
        rank,
        error_code,
        detail: Some(detail.join(", ")).filter(|d| !d.is_empty()),
        params: callbacks::params_json(&params),
        received_at: Utc::now(),
    };
    match blocking(state.store.clone(), move |store| store.record_status_callback(&callback)).await {
        Ok(outcome) => {
            let label = match outcome {
                CallbackOutcome::Duplicate => "duplicate",
                CallbackOutcome::Recorded { outbox_id: None, .. } => "unknown sid",
                CallbackOutcome::Recorded { advanced: true, .. } => "advanced",
                CallbackOutcome::Recorded { advanced: false, .. } => "kept in history",
            };
            tracing::debug!(sid, status, outcome = label, "Twilio status callback.");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => store_failed(&state, &e),
    }
}

/// Receives an inbound SMS: records it (with its opt-out change), turns it into a
/// `message.received` event, and answers with empty TwiML.
pub async fn inbound(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (raw, params) = match verify(&state, &uri, &headers, body) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let (Some(sid), Some(from)) = (param(&params, "MessageSid"), param(&params, "From")) else {
        return refuse(&state, StatusCode::BAD_REQUEST, "invalid_body", "MessageSid and From are required");
    };
    let text = param(&params, "Body").unwrap_or_default().to_owned();
    let opt_out_type = param(&params, "OptOutType").map(str::to_owned);
    let message = InboundMessage {
        sid: sid.to_owned(),
        from: from.to_owned(),
        to: param(&params, "To").unwrap_or_default().to_owned(),
        opt_change: callbacks::opt_change(&text, opt_out_type.as_deref()),
        body: text,
        opt_out_type,
        params: callbacks::params_json(&params),
        received_at: Utc::now(),
    };
    let stored = blocking(state.store.clone(), move |store| {
        let (_, record) = store.record_inbound(&message)?;
        let original = record.outbox_id.map(|id| store.get_message(id)).transpose()?.flatten();
        let source = record.event_id.as_deref().map(|id| store.get_event(id)).transpose()?.flatten();
        Ok((record, original, source))
    })
    .await;
    let (record, original, source) = match stored {
        Ok(stored) => stored,
        Err(e) => return store_failed(&state, &e),
    };
    // Always submitted, also for a repeated MessageSid: the event id dedupes, and a crash
    // between the two writes is repaired by Twilio's retry.
    let event = NewEvent {
        id: callbacks::event_id(&record.message.sid),
        source: SOURCE.to_owned(),
        kind: MESSAGE_RECEIVED.to_owned(),
        business_id: source.as_ref().and_then(|e| e.business_id.clone()),
        received_at: record.message.received_at,
        body: raw.to_vec(),
        data: callbacks::ReceivedData::new(&record, original.as_ref(), source.as_ref()).to_json(),
    };
    match state.ingest.submit(event).await {
        Ok(outcome) => {
            let label = crate::metrics::SourceLabel { source: SOURCE };
            state.metrics.events_received.get_or_create(&label).inc();
            if outcome == InsertOutcome::Duplicate {
                state.metrics.events_duplicate.get_or_create(&label).inc();
            }
        }
        Err(e) => return store_failed(&state, &e),
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], "<Response/>").into_response()
}
