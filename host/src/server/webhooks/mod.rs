//! Webhook receivers, one module per source.

pub mod twilio;
pub mod wave;
