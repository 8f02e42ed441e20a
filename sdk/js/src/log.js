//! Logging to the host's log, tagged by the host with plugin and event id.
//! Importing the SDK also defines `console` (QuickJS has none) so that
//! `console.log` and friends reach the same log.

import host from "./host.js";

/** @typedef {import("ml-connector:plugin/host@0.2.0").Level} Level */

/**
 * Logs `message` at `level`.
 *
 * @param {Level} level
 * @param {string} message
 */
export function log(level, message) {
  host.log(level, message);
}

/** @param {string} message */
export function debug(message) {
  host.log("debug", message);
}

/** @param {string} message */
export function info(message) {
  host.log("info", message);
}

/** @param {string} message */
export function warn(message) {
  host.log("warn", message);
}

/** @param {string} message */
export function error(message) {
  host.log("error", message);
}

/**
 * `console.log(...)` arguments as one line: strings as they are, everything
 * else as JSON where it can be.
 *
 * @param {unknown[]} args
 * @returns {string}
 */
function line(args) {
  return args
    .map((arg) => {
      if (typeof arg === "string") return arg;
      if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
      try {
        return JSON.stringify(arg) ?? String(arg);
      } catch {
        return String(arg);
      }
    })
    .join(" ");
}

if (globalThis.console === undefined) {
  /** @param {Level} level */
  const to = (level) => (/** @type {unknown[]} */ ...args) => host.log(level, line(args));
  globalThis.console = {
    debug: to("debug"),
    log: to("info"),
    info: to("info"),
    warn: to("warn"),
    error: to("error"),
  };
}
