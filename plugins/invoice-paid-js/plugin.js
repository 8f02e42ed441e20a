// @ts-check
//! `invoice-paid-js`: the JavaScript twin of `invoice-paid`. Thanks the
//! customer by SMS when Wave records a payment, with exactly the Rust
//! plugin's text and keys (tests/js_plugins.rs runs both on the same cases).
//!
//! | event                    | SMS to the customer                                     |
//! |--------------------------|---------------------------------------------------------|
//! | `invoice.paid`           | amount paid; the invoice is paid in full                |
//! | `invoice.partially_paid` | amount paid and the remaining balance                   |
//! | `invoice.overpaid`       | amount paid and the credit (negative remaining balance) |
//!
//! Out of the tree, import `"ml-connector-sdk"` instead of the relative path
//! (`ml-connector plugin new NAME --lang js` sets that up). No settings.

import { PluginError, customer, definePlugin, money, sender, sms, wave } from "../../sdk/js/src/index.js";

export const handler = definePlugin({
  manifest: {
    name: "invoice-paid-js",
    version: "0.2.0",
    description: "Thanks the customer by SMS for each invoice payment (JavaScript twin of invoice-paid).",
    subscribes: ["invoice.paid", "invoice.partially_paid", "invoice.overpaid"],
  },

  handle(event, context) {
    const { kind, data: payment } = wave.parse(event);
    let closing;
    switch (kind) {
      case "invoice.paid":
        closing = "It is now paid in full.";
        break;
      case "invoice.partially_paid":
        closing = `Remaining balance: ${money.format(payment.remaining_balance, payment.currency_code)}.`;
        break;
      case "invoice.overpaid":
        closing = `It is paid in full, and you have a credit of ${money.format(money.abs(payment.remaining_balance), payment.currency_code)}.`;
        break;
      default:
        throw new PluginError(`invoice-paid-js does not handle ${event.kind}`);
    }
    const invoice = context.invoice;
    const number = invoice != null && invoice.number !== "" ? ` ${invoice.number}` : "";
    const paid = money.format(payment.amount_paid, payment.currency_code);
    const body = `${sender(context)}Thank you! We received your payment of ${paid} for your invoice${number}. ${closing}`;
    return [sms(customer, body, `invoice:${payment.invoice_id}:payment:${event.id}`)];
  },
});
