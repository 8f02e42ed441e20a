//! Inbound SMS replies: events with `source` `twilio` and `kind`
//! `message.received`. Subscribe to {@link MESSAGE_RECEIVED} and read
//! `context.reply`: the reply, the message it answers (`original`) and that
//! message's source event. STOP and START are applied by the host before any
//! plugin runs.

/** @typedef {import("ml-connector:plugin/types@0.2.0").Reply} Reply */
/** @typedef {import("ml-connector:plugin/types@0.2.0").SentMessage} SentMessage */

/** The event source of Twilio events. */
export const SOURCE = "twilio";
/** The kind of an inbound SMS event. */
export const MESSAGE_RECEIVED = "message.received";

/**
 * The message `reply` answers, if `plugin` sent it.
 *
 * @param {Reply} reply
 * @param {string} plugin
 * @returns {SentMessage | undefined}
 */
export function answers(reply, plugin) {
  const original = reply.original;
  return original != null && original.plugin === plugin ? original : undefined;
}
