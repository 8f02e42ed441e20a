//! ml-connector's JavaScript SDK: everything a plugin imports.
//!
//!     import { definePlugin, customer, sms, money, sender } from "ml-connector-sdk";
//!
//!     export const handler = definePlugin({
//!       manifest: { name: "hello", version: "0.1.0", subscribes: ["customer.created"] },
//!       handle(event, context) {
//!         return [sms(customer, `${sender(context)}Welcome!`, `hello:${event.id}`)];
//!       },
//!     });

import "./log.js";

export { definePlugin } from "./plugin.js";
export { PluginError } from "./errors.js";
export { customer, team, number, sms, call, cancel, sender, MAX_ACTIONS, MAX_CALL_BYTES, MAX_KEY_BYTES, MAX_SMS_CHARS } from "./actions.js";
export { settings, Settings } from "./settings.js";
export { WIT_VERSION } from "./host.js";
export * as money from "./money.js";
export * as time from "./time.js";
export * as wave from "./wave.js";
export * as twilio from "./twilio.js";
export * as log from "./log.js";
