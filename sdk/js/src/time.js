//! Dates and times, always relative to the clock the host passes in
//! (`context.now`), never the machine's: a replayed event gives the same
//! answer. The same rules and output as the Rust SDK's `time` module.

import { PluginError } from "./errors.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Formats a `YYYY-MM-DD` date for people to read: `"2026-04-29"` becomes
 * `"Apr 29, 2026"`. Text that is not such a date is returned unchanged.
 *
 * @param {string} date
 * @returns {string}
 */
export function formatDate(date) {
  const day = parseDate(date);
  return day === null ? date : `${MONTHS[day.getUTCMonth()]} ${day.getUTCDate()}, ${day.getUTCFullYear()}`;
}

/**
 * The moment `daysBefore` days before `date` (`YYYY-MM-DD`) at `timeOfDay`
 * (`HH:MM`), in the UTC offset of `now` (RFC 3339, normally `context.now`),
 * as RFC 3339: what `notBefore` wants. `null` when that moment is not after
 * `now` (too late to schedule); a {@link PluginError} naming the input that
 * does not parse.
 *
 *     reminderAt("2026-05-15", 3, "09:00", "2026-04-29T10:15:00-04:00")  // "2026-05-12T09:00:00-04:00"
 *     reminderAt("2026-05-01", 3, "09:00", "2026-04-29T10:15:00-04:00")  // null
 *
 * @param {string} date
 * @param {number} daysBefore
 * @param {string} timeOfDay
 * @param {string} now
 * @returns {string | null}
 */
export function reminderAt(date, daysBefore, timeOfDay, now) {
  const clock = DATE_TIME.exec(now);
  const nowMs = clock === null ? NaN : instant(clock);
  if (clock === null || Number.isNaN(nowMs)) {
    throw new PluginError(`now ${JSON.stringify(now)} is not an RFC 3339 date-time`);
  }
  const day = parseDate(date);
  if (day === null) {
    throw new PluginError(`date ${JSON.stringify(date)} is not YYYY-MM-DD`);
  }
  const time = TIME.exec(timeOfDay);
  if (time === null || Number(time[1]) > 23 || Number(time[2]) > 59) {
    throw new PluginError(`time ${JSON.stringify(timeOfDay)} is not HH:MM`);
  }
  const offsetMinutes = offsetOf(clock);
  day.setUTCDate(day.getUTCDate() - daysBefore);
  day.setUTCHours(Number(time[1]), Number(time[2]));
  const atMs = day.getTime() - offsetMinutes * 60_000;
  if (atMs <= nowMs) {
    return null;
  }
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const ymd = `${String(day.getUTCFullYear()).padStart(4, "0")}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())}`;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const offset = `${sign}${pad(Math.floor(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
  return `${ymd}T${pad(day.getUTCHours())}:${pad(day.getUTCMinutes())}:00${offset}`;
}

/**
 * A `YYYY-MM-DD` date as a `Date` at midnight UTC, or `null` when it is not
 * a real date (`2026-02-30` is not).
 *
 * @param {string} text
 * @returns {Date | null}
 */
function parseDate(text) {
  const m = DATE.exec(text);
  if (m === null) {
    return null;
  }
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return real ? date : null;
}

/**
 * Milliseconds since the epoch of a matched RFC 3339 date-time, or `NaN`
 * when a field is out of range.
 *
 * @param {RegExpExecArray} m
 * @returns {number}
 */
function instant(m) {
  const [month, day, hours, minutes, seconds] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hours > 23 || minutes > 59 || seconds > 60) {
    return NaN;
  }
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), month - 1, day);
  date.setUTCHours(hours, minutes, Math.min(seconds, 59), Math.floor(Number(m[7] ?? 0) * 1000));
  return date.getTime() - offsetOf(m) * 60_000;
}

/**
 * The UTC offset of a matched RFC 3339 date-time, in minutes east of UTC.
 *
 * @param {RegExpExecArray} m
 * @returns {number}
 */
function offsetOf(m) {
  if (m[9] === undefined) {
    return 0;
  }
  const minutes = Number(m[10]) * 60 + Number(m[11]);
  return m[9] === "-" ? -minutes : minutes;
}
