//! The SDK's helpers give the Rust SDK's answers: the cases of the Rust
//! SDK's unit tests for `money`, `time`, `settings` and `wave`, run with
//! `node --test` (`npm test`).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

import * as money from "../src/money.js";
import * as time from "../src/time.js";
import * as wave from "../src/wave.js";
import { Settings } from "../src/settings.js";
import { PluginError } from "../src/errors.js";

test("money formats known and unknown currencies", () => {
  assert.equal(money.format("8.98", "USD"), "$8.98");
  assert.equal(money.format("-10.00", "USD"), "-$10.00");
  assert.equal(money.format("200", "CAD"), "$200");
  assert.equal(money.format("1000.00", "GBP"), "£1,000.00");
  assert.equal(money.format("999.99", "USD"), "$999.99");
  assert.equal(money.format("123456.7", "USD"), "$123,456.7");
  assert.equal(money.format(".50", "USD"), "$0.50");
  assert.equal(money.format("-0.00", "USD"), "$0.00");
  assert.equal(money.format("12.00", "XYZ"), "12.00 XYZ");
  assert.equal(money.format("-1500.00", "JPY"), "-1,500.00 JPY");
  assert.equal(money.format("1234567.50", "EUR"), "€1,234,567.50");
  assert.equal(money.display({ amount: "8.98", currency: "USD" }), "$8.98");
});

test("money leaves non decimals alone", () => {
  assert.equal(money.format("twelve", "USD"), "twelve USD");
  assert.equal(money.format("", "USD"), " USD");
  assert.equal(money.format("1.2.3", "USD"), "1.2.3 USD");
  assert.equal(money.abs("1e3"), "1e3");
  assert.equal(money.negate("-"), "-");
  assert.equal(money.isZero("."), false);
});

test("money signs", () => {
  assert.equal(money.abs("-10.00"), "10.00");
  assert.equal(money.abs("10.00"), "10.00");
  assert.equal(money.abs("+3"), "3");
  assert.equal(money.negate("-10.00"), "10.00");
  assert.equal(money.negate("10.00"), "-10.00");
  assert.equal(money.negate("0.00"), "0.00");
  assert.equal(money.negate("-0.00"), "0.00");
  assert.equal(money.isNegative("-10.00"), true);
  assert.equal(money.isNegative("-0.00"), false);
  assert.equal(money.isNegative("30.00"), false);
  assert.equal(money.isZero("0.00"), true);
  assert.equal(money.isZero("-0"), true);
  assert.equal(money.isZero("0.01"), false);
});

test("time formats dates", () => {
  assert.equal(time.formatDate("2026-04-29"), "Apr 29, 2026");
  assert.equal(time.formatDate("2026-05-01"), "May 1, 2026");
  assert.equal(time.formatDate("next week"), "next week");
  assert.equal(time.formatDate("2026-02-30"), "2026-02-30");
});

test("time puts a reminder in the offset of now", () => {
  const now = "2026-04-29T10:15:00-04:00";
  assert.equal(time.reminderAt("2026-05-15", 3, "09:00", now), "2026-05-12T09:00:00-04:00");
  assert.equal(time.reminderAt("2026-05-15", 0, "17:30", "2026-05-01T00:00:00Z"), "2026-05-15T17:30:00+00:00");
  assert.equal(time.reminderAt("2027-01-02", 5, "08:00", now), "2026-12-28T08:00:00-04:00");
  assert.equal(time.reminderAt("2026-05-15", 1, "09:00", "2026-04-29T10:15:00.123+05:30"), "2026-05-14T09:00:00+05:30");
});

test("time says a reminder that is too late is null", () => {
  const now = "2026-04-29T10:15:00-04:00";
  assert.equal(time.reminderAt("2026-05-02", 3, "10:15", now), null);
  assert.equal(time.reminderAt("2026-05-02", 3, "10:16", now), "2026-04-29T10:16:00-04:00");
  assert.equal(time.reminderAt("2026-03-30", 3, "09:00", now), null);
});

test("time names the input that does not parse", () => {
  const now = "2026-04-29T10:15:00-04:00";
  const message = (/** @type {() => unknown} */ f) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof PluginError);
      return e.message;
    }
    assert.fail("no error");
  };
  assert.match(message(() => time.reminderAt("05/15/2026", 3, "09:00", now)), /^date "05\/15\/2026"/);
  assert.match(message(() => time.reminderAt("2026-05-15", 3, "9am", now)), /^time "9am"/);
  assert.match(message(() => time.reminderAt("2026-05-15", 3, "09:00", "today")), /^now "today"/);
});

test("settings read with defaults and the last value wins", () => {
  const settings = new Settings([
    ["team_contact", "sales"],
    ["lead_days", " 5 "],
    ["notify_on", "a, b,"],
    ["k", "1"],
    ["k", "2"],
  ]);
  assert.equal(settings.get("team_contact"), "sales");
  assert.equal(settings.get("missing"), undefined);
  assert.equal(settings.getOr("team_contact", "accounting"), "sales");
  assert.equal(settings.getOr("reminder_time", "09:00"), "09:00");
  assert.equal(settings.intOr("lead_days", 3), 5);
  assert.equal(settings.intOr("other", 3), 3);
  assert.deepEqual(settings.listOr("notify_on", "x"), ["a", "b"]);
  assert.deepEqual(settings.listOr("missing", "invoice.sent"), ["invoice.sent"]);
  assert.equal(settings.get("k"), "2");
});

test("settings name a setting that is not a number", () => {
  const settings = new Settings([["lead_days", "three"]]);
  assert.throws(() => settings.intOr("lead_days", 3), new PluginError('setting `lead_days` = "three": not an integer'));
});

/** @param {string} kind @param {string} data */
const event = (kind, data) => ({ id: "evt-1", kind, data });

test("wave parses every seed fixture as a known kind", () => {
  const dir = new URL("../../../tests/fixtures/events/wave/", import.meta.url);
  const files = readdirSync(dir);
  assert.ok(files.length >= 18, `only ${files.length} fixtures`);
  for (const file of files) {
    const body = JSON.parse(readFileSync(new URL(file, dir), "utf8"));
    const parsed = wave.parse(event(body.event_type, JSON.stringify(body.data)));
    assert.equal(parsed.kind, body.event_type);
    assert.ok(wave.isKnownKind(parsed.kind), file);
  }
});

test("wave keeps null optional fields and returns unknown kinds unchecked", () => {
  const data = `{"estimate_id":"123","customer_id":"1","currency_code":"USD","status":"approved",
    "amount":"200.00","estimate_date":"2026-03-30","due_date":"2026-04-30",
    "deposit_amount_paid":"0.00","deposit_payment_status":null}`;
  assert.equal(wave.parse(event("estimate.approved", data)).data.deposit_payment_status, null);
  assert.deepEqual(wave.parse(event("bill.created", '{"bill_id":"9"}')), { kind: "bill.created", data: { bill_id: "9" } });
});

test("wave names a missing or mistyped field", () => {
  assert.throws(
    () => wave.parse(event("invoice.paid", '{"invoice_id":"1"}')),
    new PluginError("invoice.paid event evt-1: unexpected data: missing field `customer_id`"),
  );
  const numeric = '{"invoice_id":"1","customer_id":"2","currency_code":"USD","amount_paid":8.98,"paid_date":"d","remaining_balance":"0"}';
  assert.throws(() => wave.parse(event("invoice.paid", numeric)), /invalid type for `amount_paid`: 8.98, expected a string/);
  assert.throws(() => wave.parse(event("invoice.paid", "not json")), /^PluginError: invoice.paid event evt-1: unexpected data: /);
});
