//! Twilio as a source: signed status callbacks and inbound SMS replies, and the
//! context a reply gives plugins.

pub mod callbacks;
pub mod replies;
pub mod signature;
