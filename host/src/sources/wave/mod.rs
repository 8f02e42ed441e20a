//! Wave source: webhook verification and event intake for Wave accounting.

pub mod enrich;
pub mod graphql;
pub mod ids;
pub mod oauth;
pub mod payload;
pub mod reconcile;
pub mod samples;
pub mod secrets;
pub mod signature;
