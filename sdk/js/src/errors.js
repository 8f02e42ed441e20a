//! The one error type plugins throw on purpose.

/**
 * An error a plugin throws on purpose: the host records exactly its message
 * as the plugin's failure for this event (like `Err(String)` in Rust). Any
 * other exception is a bug and is recorded with its type, message and stack.
 */
export class PluginError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "PluginError";
  }
}
