//! Wave source: webhook verification and event intake for Wave accounting.

pub mod payload;
pub mod signature;
