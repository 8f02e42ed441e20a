//! Webhook receivers, one module per source.

pub mod wave;
