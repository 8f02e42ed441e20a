//! Sinks: where decided messages leave the host.

pub mod twilio;
