//! Logging to the host's log, tagged by the host with plugin and event id.
//!
//! In a component these call the host's `log` import; in native builds (a
//! plugin's `cargo test`) they print to stderr instead, so plugin code can log
//! freely and still be unit-tested without a host.

use crate::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::wit::ml_connector::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        eprintln!("[{level}] {message}");
    }
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
