//! The Twilio sink's own state, kept by every store backend: opted-out numbers, the Lookups
//! cache, status callbacks (with the delivery status they move, never backwards) and inbound
//! replies linked to the message they answer.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::message_tag::MessageTag;
use crate::store::{InsertOutcome, Result};

/// Whether an inbound SMS changes the sender's opt-out state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptChange {
    /// STOP and its synonyms: the number is opted out.
    OptOut,
    /// START and its synonyms: the opt-out is cleared.
    OptIn,
}

/// A Twilio status callback (message or call) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// `MessageSid` or `CallSid`.
    pub sid: String,
    /// `MessageStatus` or `CallStatus`.
    pub status: String,
    /// `SequenceNumber`, when Twilio sent one (part of the dedupe key).
    pub sequence: Option<String>,
    /// The status's place in its lifecycle: the current delivery status only moves to a higher
    /// rank; `None` for a status with no place (kept in history, never current).
    pub rank: Option<u8>,
    /// `ErrorCode`, when present.
    pub error_code: Option<i64>,
    /// A readable summary for the history line, e.g. `ErrorCode=30003`.
    pub detail: Option<String>,
    /// Every received parameter, as a JSON object.
    pub params: String,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
    /// The message the request was made for, from the callback URL's query.
    pub tag: Option<MessageTag>,
}

/// What [`TwilioStore::record_status_callback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The same (SID, status, sequence) was already recorded; nothing changed.
    Duplicate,
    /// Stored. `outbox_id` is the message with that SID (none for an unknown SID); `advanced`
    /// says whether it became the message's current delivery status.
    Recorded {
        /// The outbox row holding the SID.
        outbox_id: Option<i64>,
        /// Whether the current delivery status changed.
        advanced: bool,
    },
    /// Stored, and the SID moved to the message the callback's tag names from `from`, which had
    /// adopted it from Twilio's list and is now `sending` again, to be reconciled (see
    /// [`TwilioStore::record_status_callback`]).
    Moved {
        /// The message that now holds the SID (the tag's).
        outbox_id: i64,
        /// The message that held it.
        from: i64,
        /// Whether the current delivery status changed.
        advanced: bool,
    },
}

/// An inbound SMS as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// `MessageSid`, the dedupe key.
    pub sid: String,
    /// `From`: the customer's (or staff member's) number.
    pub from: String,
    /// `To`: our Twilio number.
    pub to: String,
    /// `Body`.
    pub body: String,
    /// `OptOutType` when Twilio sent one (STOP, START, HELP).
    pub opt_out_type: Option<String>,
    /// The opt-out change to apply with it, atomically.
    pub opt_change: Option<OptChange>,
    /// Every received parameter, as a JSON object.
    pub params: String,
    /// When the host received it.
    pub received_at: DateTime<Utc>,
}

/// A stored inbound SMS with what it was linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// The message as received.
    pub message: InboundMessage,
    /// The most recent message sent to its sender when it arrived.
    pub outbox_id: Option<i64>,
    /// That message's source event.
    pub event_id: Option<String>,
}

/// A cached Lookups v2 answer for one E.164 number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRecord {
    /// The E.164 number.
    pub number: String,
    /// Lookups' `valid`.
    pub valid: bool,
    /// `line_type_intelligence.type`, e.g. `mobile`, `landline`.
    pub line_type: Option<String>,
    /// Validation errors or other detail worth showing.
    pub detail: Option<String>,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

/// An opted-out number (a STOP reply, or Twilio's 21610).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// The E.164 number.
    pub number: String,
    /// When it opted out.
    pub at: DateTime<Utc>,
    /// Why, e.g. the reply that opted it out.
    pub reason: String,
}

/// An opt-out cleared by an operator (`ml-connector optouts clear`), kept for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutClearance {
    /// The E.164 number.
    pub number: String,
    /// Who cleared it (`--by`, else the OS user).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The opt-out that was cleared.
    pub cleared: OptOut,
}

/// What the Twilio sink keeps beside the outbox. Every backend implements it.
#[async_trait]
pub trait TwilioStore: Send + Sync {
    /// Records that `number` opted out (Twilio 21610); later messages to it are not sent.
    async fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()>;

    /// Which of `numbers` opted out: one read for a whole claimed batch of messages.
    async fn opted_out(&self, numbers: &[&str]) -> Result<HashSet<String>>;

    /// Clears an opt-out (the number replied START). `false` if it was not opted out.
    async fn clear_opt_out(&self, number: &str) -> Result<bool>;

    /// Records a status callback in one transaction: the dedupe row (also for unknown SIDs), and
    /// for a known SID a history line, and the delivery status when the callback's rank is above
    /// the current one (a late status never moves a message backwards). A SID no message holds,
    /// with a tag naming a message still `sending` in the tag's series with no SID, is first
    /// linked to that message (the host died, or timed out, before recording Twilio's answer).
    /// A SID another message holds while the tag names a message whose latest attempt (same
    /// series and attempt) it is moves to the tagged one: the holder can only have adopted it
    /// from Twilio's list (one request has one SID), so the tag is the truth. The holder goes
    /// back to `sending`, due at once and holding no SID, to be reconciled again; a SID the
    /// tagged message held before (likewise from the list) is released for its owner to adopt.
    async fn record_status_callback(&self, callback: &StatusCallback) -> Result<CallbackOutcome>;

    /// Records an inbound SMS in one transaction, linked to the most recent message sent to its
    /// sender, applying its opt-out change. A repeated MessageSid changes nothing and returns
    /// `Duplicate`. Also returns the linked record as stored.
    async fn record_inbound(&self, message: &InboundMessage) -> Result<(InsertOutcome, InboundRecord)>;

    /// The message holding `sid`, if any (one SID is never held by two messages).
    async fn sid_holder(&self, sid: &str) -> Result<Option<i64>>;

    /// Inbound replies linked to a message, oldest first.
    async fn list_replies(&self, outbox_id: i64) -> Result<Vec<InboundRecord>>;

    /// The current delivery status Twilio reported for a message, if any.
    async fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>>;

    /// The cached Lookups answer for `number`.
    async fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>>;

    /// Caches a Lookups answer (replacing an older one).
    async fn put_lookup(&self, record: &LookupRecord) -> Result<()>;

    /// Every opted-out number, most recent first.
    async fn list_opt_outs(&self) -> Result<Vec<OptOut>>;

    /// Clears `number`'s opt-out on an operator's word and records who and when, in one
    /// transaction. `None` (and nothing recorded) if the number was not opted out.
    async fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>>;

    /// Opt-outs cleared by hand, newest first, for one number or all; at most `limit`.
    async fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>>;
}
