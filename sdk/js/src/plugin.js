//! `definePlugin`: the one export a JavaScript plugin needs, and what turns
//! its exceptions into plugin failures the host can report.

import { PluginError } from "./errors.js";

/** @typedef {import("ml-connector:plugin/types@0.2.0").Manifest} Manifest */
/** @typedef {import("ml-connector:plugin/types@0.2.0").Event} Event */
/** @typedef {import("ml-connector:plugin/types@0.2.0").Context} Context */
/** @typedef {import("ml-connector:plugin/types@0.2.0").Action} Action */

/**
 * What a plugin module defines: its manifest and its decision for one event.
 *
 * @typedef {object} PluginDefinition
 * @property {{name: string, version: string, description?: string, subscribes: string[]}} manifest
 *   Name, version, what it does, and the event kinds it wants (exact, or with
 *   a trailing wildcard: `"invoice.*"`).
 * @property {(event: Event, context: Context) => Action[]} handle
 *   The actions for one event (at most 20). Throw a {@link PluginError} to
 *   fail this event with exactly its message; any other exception fails it
 *   with the exception's type, message and stack.
 */

/**
 * Turns a plugin definition into the contract's `handler` export:
 *
 *     export const handler = definePlugin({ manifest: {...}, handle(event, context) {...} });
 *
 * The manifest is checked when the component is built, so a plugin with a
 * bad manifest does not build.
 *
 * @param {PluginDefinition} plugin
 * @returns {{describe(): Manifest, handle(event: Event, context: Context): Action[]}}
 */
export function definePlugin(plugin) {
  const manifest = checkManifest(plugin?.manifest);
  if (typeof plugin.handle !== "function") {
    throw new TypeError("definePlugin: `handle(event, context)` must be a function");
  }
  return {
    describe() {
      return manifest;
    },
    handle(event, context) {
      let actions;
      try {
        actions = plugin.handle(event, context);
      } catch (e) {
        // A thrown string becomes the `err` of `handle`'s result.
        throw failure(e);
      }
      if (!Array.isArray(actions)) {
        throw `handle returned ${actions === null ? "null" : typeof actions}, not an array of actions`;
      }
      return actions;
    },
  };
}

/**
 * The failure text for a thrown value: a {@link PluginError}'s or a thrown
 * string's message as is, anything else as `uncaught <type>: <message>` and
 * its stack.
 *
 * @param {unknown} e
 * @returns {string}
 */
function failure(e) {
  if (e instanceof PluginError) {
    return e.message;
  }
  if (typeof e === "string") {
    return e;
  }
  if (e instanceof Error) {
    const stack = typeof e.stack === "string" ? e.stack.trimEnd() : "";
    return `uncaught ${e.name}: ${e.message}${stack === "" ? "" : `\n${stack}`}`;
  }
  let text;
  try {
    text = JSON.stringify(e) ?? String(e);
  } catch {
    text = String(e);
  }
  return `uncaught exception: ${text}`;
}

/**
 * The manifest as the contract wants it, or a `TypeError` saying what is wrong.
 *
 * @param {unknown} m
 * @returns {Manifest}
 */
function checkManifest(m) {
  if (m === null || typeof m !== "object") {
    throw new TypeError("definePlugin: `manifest` must be an object");
  }
  const { name, version, description = "", subscribes } = /** @type {Record<string, unknown>} */ (m);
  for (const [field, value] of Object.entries({ name, version, description })) {
    if (typeof value !== "string") {
      throw new TypeError(`definePlugin: manifest.${field} must be a string`);
    }
  }
  if (String(name).trim() === "") {
    throw new TypeError("definePlugin: manifest.name must not be empty");
  }
  if (!Array.isArray(subscribes) || subscribes.length === 0 || !subscribes.every((s) => typeof s === "string")) {
    throw new TypeError("definePlugin: manifest.subscribes must be a non-empty array of event kinds");
  }
  return {
    name: /** @type {string} */ (name),
    version: /** @type {string} */ (version),
    description: /** @type {string} */ (description),
    subscribes: [...subscribes],
  };
}
