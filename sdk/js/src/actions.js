//! Building actions and recipients, and the host's bounds on them.

/** @typedef {import("ml-connector:plugin/types@0.2.0").Action} Action */
/** @typedef {import("ml-connector:plugin/types@0.2.0").Recipient} Recipient */
/** @typedef {import("ml-connector:plugin/types@0.2.0").Context} Context */

/** Most characters an SMS body may have. */
export const MAX_SMS_CHARS = 1600;
/** Most bytes a voice call's text may have once escaped into TwiML. */
export const MAX_CALL_BYTES = 4000;
/** Most bytes a message key may have. */
export const MAX_KEY_BYTES = 128;
/** Most actions one `handle` call may return. */
export const MAX_ACTIONS = 20;

/**
 * The event's customer; the host picks their mobile for SMS, then phone.
 *
 * @type {Recipient}
 */
export const customer = Object.freeze({ tag: "customer" });

/**
 * A named contact from the host configuration (`[team]`), e.g. `"accounting"`.
 *
 * @param {string} name
 * @returns {Recipient}
 */
export function team(name) {
  return { tag: "team", val: name };
}

/**
 * A literal phone number; the host normalizes and validates it.
 *
 * @param {string} phone
 * @returns {Recipient}
 */
export function number(phone) {
  return { tag: "number", val: phone };
}

/**
 * An SMS to `to`, sent as soon as possible or not before `options.notBefore`
 * (RFC 3339).
 *
 * @param {Recipient} to
 * @param {string} body
 * @param {string} key
 * @param {{notBefore?: string | null}} [options]
 * @returns {Action}
 */
export function sms(to, body, key, options = {}) {
  return { tag: "sms", val: { to, body, key, notBefore: options.notBefore ?? undefined } };
}

/**
 * A voice call to `to` that speaks `body`, placed as soon as possible or not
 * before `options.notBefore` (RFC 3339).
 *
 * @param {Recipient} to
 * @param {string} body
 * @param {string} key
 * @param {{notBefore?: string | null}} [options]
 * @returns {Action}
 */
export function call(to, body, key, options = {}) {
  return { tag: "call", val: { to, body, key, notBefore: options.notBefore ?? undefined } };
}

/**
 * Cancels this plugin's unsent messages whose key starts with `prefix`.
 *
 * @param {string} prefix
 * @returns {Action}
 */
export function cancel(prefix) {
  return { tag: "cancel", val: prefix };
}

/**
 * `"Acme Plumbing: "`, to start a message with so the recipient knows who is
 * writing; empty when the host knows no business name.
 *
 * @param {Context} context
 * @returns {string}
 */
export function sender(context) {
  const name = context.businessName.trim();
  return name === "" ? "" : `${name}: `;
}
