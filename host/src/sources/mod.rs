//! Event sources: where accounting events come from before they reach the store.

pub mod qad;
pub mod twilio;
pub mod wave;
