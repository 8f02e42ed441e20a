//! The Twilio sink: SMS and voice calls.

pub mod twiml;
