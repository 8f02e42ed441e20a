//! `POST /webhooks/twilio/status` and `POST /webhooks/twilio/inbound`: the [`VerifiedTwilio`]
//! extractor checks `X-Twilio-Signature` over `{server.public_url}` + the path and query as
//! received (never the `Host` header) and every form parameter, then the handlers store durably
//! and answer. A missing or wrong signature is 403 with nothing recorded. Twilio may deliver a
//! webhook more than once, so both routes are idempotent: status callbacks are deduplicated by
//! (SID, status, SequenceNumber) and inbound messages by MessageSid. An inbound reply also
//! becomes a `message.received` event that the dispatcher hands to subscribed plugins after the
//! answer has gone out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::callbacks::{self, MESSAGE_RECEIVED, SOURCE, param};
use super::signature::{self, SIGNATURE_HEADER};
use crate::inbox::Inbox;
use crate::metrics::{Metrics, SourceLabel};
use crate::secrets::SecretSet;
use crate::server::error::{ApiError, BodyFormat};
use crate::sinks::twilio::TWILIO_AUTH_TOKEN;
use crate::sinks::twilio::message_tag::MessageTag;
use crate::sinks::twilio::state::{CallbackOutcome, InboundMessage, StatusCallback};
use crate::store::{InsertOutcome, NewEvent, Store};

/// The path of the status callback route (the sender's `StatusCallback`).
pub const STATUS_PATH: &str = "/webhooks/twilio/status";
/// The path of the inbound SMS route (the number's "A message comes in" webhook).
pub const INBOUND_PATH: &str = "/webhooks/twilio/inbound";

/// What the Twilio routes need.
#[derive(Clone)]
pub struct TwilioWebhooks {
    /// `{server.public_url}` without a trailing slash: the URL Twilio was told to call.
    pub public_url: String,
    /// The secret `twilio.auth_token`, reloaded on a mismatch (so a rotated token works without
    /// a restart). Without it every Twilio webhook gets 503.
    pub auth_token: Arc<SecretSet>,
    /// Where the store writes go.
    pub store: Arc<dyn Store>,
    /// Where reply events go.
    pub inbox: Inbox,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
}

/// The name of the one secret Twilio signs with.
pub fn is_auth_token(name: &str) -> bool {
    name == TWILIO_AUTH_TOKEN
}

fn refuse(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(SOURCE, status, reason, message).format(BodyFormat::Text)
}

fn store_failed(e: &crate::store::StoreError) -> ApiError {
    ApiError::store(SOURCE, e).format(BodyFormat::Text)
}

/// A webhook whose signature checked out: the raw body and its decoded form parameters.
pub struct VerifiedTwilio {
    /// The body as received.
    pub raw: Bytes,
    /// Its form parameters, in order.
    pub params: Vec<(String, String)>,
}

impl FromRequest<TwilioWebhooks> for VerifiedTwilio {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &TwilioWebhooks) -> Result<Self, ApiError> {
        let uri = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().clone(), |o| o.0.clone());
        let sig = request.headers().get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).filter(|s| !s.is_empty()).map(str::to_owned);
        let raw = Bytes::from_request(request, state).await.map_err(|r| refuse(r.status(), "unreadable_body", r.body_text()))?;
        let mut tokens = state.auth_token.current();
        if tokens.is_empty() {
            tokens = state.auth_token.reload().await.unwrap_or(tokens);
        }
        if tokens.is_empty() {
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "no_secret", "twilio.auth_token is not set"));
        }
        let Some(sig) = sig else {
            return Err(refuse(StatusCode::FORBIDDEN, "missing_signature", "missing X-Twilio-Signature"));
        };
        let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let url = format!("{}{}", state.public_url, path_and_query);
        let params = callbacks::parse_form(&raw);
        let valid = |tokens: &[crate::secrets::SecretString]| {
            tokens.iter().any(|token| {
                if uri.query().is_some_and(|q| q.contains("bodySHA256=")) {
                    signature::validate_json_body(token.expose(), &url, &raw, &sig)
                } else {
                    signature::validate(token.expose(), &url, &params, &sig)
                }
            })
        };
        let mut ok = valid(&tokens);
        if !ok && let Some(fresh) = state.auth_token.reload().await {
            ok = valid(&fresh);
        }
        if !ok {
            return Err(refuse(StatusCode::FORBIDDEN, "bad_signature", "X-Twilio-Signature does not match"));
        }
        Ok(VerifiedTwilio { raw, params })
    }
}

/// Receives a message or call status callback.
pub async fn status(State(state): State<TwilioWebhooks>, RawQuery(query): RawQuery, VerifiedTwilio { params, .. }: VerifiedTwilio) -> Result<StatusCode, ApiError> {
    let (sid, status, rank) = if let (Some(sid), Some(status)) = (param(&params, "MessageSid"), param(&params, "MessageStatus")) {
        (sid, status, callbacks::message_rank(status))
    } else if let (Some(sid), Some(status)) = (param(&params, "CallSid"), param(&params, "CallStatus")) {
        (sid, status, callbacks::call_rank(status))
    } else {
        return Err(refuse(StatusCode::BAD_REQUEST, "invalid_body", "neither MessageSid/MessageStatus nor CallSid/CallStatus"));
    };
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
        error_code: param(&params, "ErrorCode").and_then(|c| c.parse::<i64>().ok()),
        detail: Some(detail.join(", ")).filter(|d| !d.is_empty()),
        params: callbacks::params_json(&params),
        received_at: Utc::now(),
        tag: query.as_deref().and_then(MessageTag::from_query),
    };
    let outcome = state.store.record_status_callback(&callback).await.map_err(|e| store_failed(&e))?;
    if let CallbackOutcome::Moved { outbox_id, from, .. } = outcome {
        tracing::warn!(sid, status, outbox_id, from, "A status callback named the message of a call another had adopted from Twilio's list; moved, and that one is reconciled again.");
    }
    let label = match outcome {
        CallbackOutcome::Duplicate => "duplicate",
        CallbackOutcome::Moved { .. } => "moved",
        CallbackOutcome::Recorded { outbox_id: None, .. } => "unknown sid",
        CallbackOutcome::Recorded { advanced: true, .. } => "advanced",
        CallbackOutcome::Recorded { advanced: false, .. } => "kept in history",
    };
    tracing::debug!(sid, status, outcome = label, "Twilio status callback.");
    Ok(StatusCode::NO_CONTENT)
}

/// Receives an inbound SMS: records it (with its opt-out change), turns it into a
/// `message.received` event, and answers with empty TwiML.
pub async fn inbound(State(state): State<TwilioWebhooks>, VerifiedTwilio { raw, params }: VerifiedTwilio) -> Result<Response, ApiError> {
    let (Some(sid), Some(from)) = (param(&params, "MessageSid"), param(&params, "From")) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "invalid_body", "MessageSid and From are required"));
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
    let store = &state.store;
    let (_, record) = store.record_inbound(&message).await.map_err(|e| store_failed(&e))?;
    let original = match record.outbox_id {
        Some(id) => store.get_message(id).await.map_err(|e| store_failed(&e))?,
        None => None,
    };
    let source = match record.event_id.as_deref() {
        Some(id) => store.get_event(id).await.map_err(|e| store_failed(&e))?,
        None => None,
    };
    // Always submitted, also for a repeated MessageSid: the event id dedupes, and a crash between
    // the two writes is repaired by Twilio's retry.
    let event = NewEvent {
        id: callbacks::event_id(&record.message.sid),
        source: SOURCE.to_owned(),
        kind: MESSAGE_RECEIVED.to_owned(),
        business_id: source.as_ref().and_then(|e| e.business_id.clone()),
        record: source.as_ref().and_then(|e| e.record.clone()),
        received_at: record.message.received_at,
        body: raw.to_vec(),
        data: callbacks::ReceivedData::new(&record, original.as_ref(), source.as_ref()).to_json(),
    };
    let outcome = state.inbox.submit(event).await.map_err(|e| store_failed(&e))?;
    let label = SourceLabel { source: SOURCE };
    state.metrics.events_received.get_or_create(&label).inc();
    if outcome == InsertOutcome::Duplicate {
        state.metrics.events_duplicate.get_or_create(&label).inc();
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], "<Response/>").into_response())
}
