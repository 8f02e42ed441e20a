//! Wave source: webhook verification and event intake for Wave accounting.

pub mod payload;
pub mod samples;
pub mod secrets;
pub mod signature;
