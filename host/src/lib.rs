//! ml-connector: a host for WebAssembly notification plugins.
//!
//! The pipeline, in the order an event travels through it:
//! [`sources`] (Wave and Twilio webhooks, pollers) → [`inbox`] (the one way into the
//! [`store`]) → [`dispatch`] (context, plugins, outbox rows) → [`runtime`] (sandboxed wasm
//! plugins, over the neutral [`model`]) → [`sinks`] (the driver and Twilio out). [`app`] wires
//! them; [`server`] and [`cli`] are the edges; [`harness`] runs one plugin against fixtures.

pub mod app;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod harness;
pub mod inbox;
pub mod metrics;
pub mod model;
pub mod plugin_plan;
pub mod replay;
pub mod runtime;
pub mod scaffold;
pub mod secrets;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod timezone;
