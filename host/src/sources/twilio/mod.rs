//! Twilio as a source: signed status callbacks and inbound SMS replies.

pub mod callbacks;
pub mod signature;
