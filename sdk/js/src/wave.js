//! Wave webhook events, read like the Rust SDK's `wave` module reads them:
//! `parse(event)` checks the fields every Wave example of the kind carries
//! (ids and amounts stay strings, dates `YYYY-MM-DD`, timestamps RFC 3339)
//! and returns `{kind, data}`; kinds this SDK does not know are returned with
//! their data unchecked.

import { PluginError } from "./errors.js";

const INVOICE_ISSUED = { required: ["invoice_id", "customer_id"], optional: ["currency_code", "amount", "issue_date", "due_date"] };
const INVOICE_PAYMENT = {
  required: ["invoice_id", "customer_id", "currency_code", "amount_paid", "paid_date", "remaining_balance"],
  optional: [],
};
const CUSTOMER_CHANGE = { required: ["customer_id"], optional: ["name", "email"] };
const ESTIMATE_CHANGE = {
  required: ["estimate_id", "customer_id", "currency_code", "status", "amount", "due_date"],
  optional: ["estimate_date", "deposit_amount_paid", "deposit_payment_status", "sent_at", "view_timestamp", "accepted_at", "reset_at", "expired_at"],
};
const ESTIMATE_PAYMENT = {
  required: ["estimate_id", "customer_id", "currency_code", "status", "paid_date", "due_date", "estimate_total_amount", "deposit_amount_paid", "remaining_deposit_balance"],
  optional: [],
};

/**
 * The string fields each known kind must and may carry.
 *
 * @type {Record<string, {required: string[], optional: string[]}>}
 */
const FIELDS = {
  "invoice.created": INVOICE_ISSUED,
  "invoice.approved": INVOICE_ISSUED,
  "invoice.sent": { required: ["invoice_id", "customer_id", "currency_code", "sent_at", "sent_method"], optional: [] },
  "invoice.viewed": { required: ["invoice_id", "customer_id", "currency_code", "view_timestamp", "invoice_balance"], optional: [] },
  "invoice.overdue": { required: ["invoice_id", "customer_id", "currency_code", "due_date", "invoice_balance", "issue_date"], optional: [] },
  "invoice.paid": INVOICE_PAYMENT,
  "invoice.partially_paid": INVOICE_PAYMENT,
  "invoice.overpaid": INVOICE_PAYMENT,
  "customer.created": CUSTOMER_CHANGE,
  "customer.updated": CUSTOMER_CHANGE,
  "estimate.approved": ESTIMATE_CHANGE,
  "estimate.sent": ESTIMATE_CHANGE,
  "estimate.viewed": ESTIMATE_CHANGE,
  "estimate.accepted": ESTIMATE_CHANGE,
  "estimate.reset": ESTIMATE_CHANGE,
  "estimate.expired": ESTIMATE_CHANGE,
  "estimate.paid": ESTIMATE_PAYMENT,
  "estimate.partially_paid": ESTIMATE_PAYMENT,
  "estimate.overpaid": ESTIMATE_PAYMENT,
};

/**
 * Whether this SDK knows `kind` and checks its fields.
 *
 * @param {string} kind
 * @returns {boolean}
 */
export function isKnownKind(kind) {
  return Object.hasOwn(FIELDS, kind);
}

/**
 * Reads `event.data` as the payload of `event.kind`. A {@link PluginError}
 * names the event and what is wrong with its data, e.g. ``invoice.paid event
 * evt-1: unexpected data: missing field `amount_paid` ``.
 *
 * @param {{id: string, kind: string, data: string}} event
 * @returns {{kind: string, data: any}}
 */
export function parse(event) {
  const fail = (/** @type {string} */ reason) => new PluginError(`${event.kind} event ${event.id}: unexpected data: ${reason}`);
  let data;
  try {
    data = JSON.parse(event.data);
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e));
  }
  const fields = FIELDS[event.kind];
  if (fields !== undefined) {
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw fail("expected a JSON object");
    }
    for (const name of fields.required) {
      if (!(name in data)) {
        throw fail(`missing field \`${name}\``);
      }
    }
    for (const name of [...fields.required, ...fields.optional]) {
      const value = data[name];
      const allowed = typeof value === "string" || (fields.optional.includes(name) && value == null);
      if (name in data && !allowed) {
        throw fail(`invalid type for \`${name}\`: ${JSON.stringify(value)}, expected a string`);
      }
    }
  }
  return { kind: event.kind, data };
}
