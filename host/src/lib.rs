//! ml-connector: a host for WebAssembly notification plugins.
//!
//! The pipeline, in the order an event travels through it:
//! [`sources`] (Wave webhooks in) → [`store`] (durable inbox and outbox) →
//! [`dispatch`] (context, plugins, outbox rows) → [`runtime`] (sandboxed wasm
//! plugins) → [`sinks`] (Twilio out). [`server`] and [`cli`] are the two
//! ways in for operators; [`harness`] runs one plugin against fixtures.

pub mod builtin;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod harness;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod scaffold;
pub mod secrets;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod store;
