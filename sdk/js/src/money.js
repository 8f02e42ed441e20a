//! Decimal amounts as strings, the way sources send them: never floats. The
//! same rules as the Rust SDK's `money` module, so a plugin's text does not
//! depend on the language it is written in.

/**
 * Formats an amount with its currency for people to read. Known currencies
 * get their symbol and thousands separators, others keep the ISO code after
 * the number; text that is not a plain decimal is returned as is.
 *
 *     format("8.98", "USD")        // "$8.98"
 *     format("-10.00", "USD")      // "-$10.00"
 *     format("1234567.50", "EUR")  // "€1,234,567.50"
 *     format("12.00", "XYZ")       // "12.00 XYZ"
 *
 * @param {string} amount
 * @param {string} currency
 * @returns {string}
 */
export function format(amount, currency) {
  const parts = split(amount);
  if (parts === null) {
    return `${amount} ${currency}`;
  }
  const [negative, magnitude] = parts;
  const dot = magnitude.indexOf(".");
  const whole = dot < 0 ? magnitude : magnitude.slice(0, dot);
  let number = groupThousands(whole === "" ? "0" : whole);
  if (dot >= 0) {
    number = `${number}.${magnitude.slice(dot + 1)}`;
  }
  const sign = negative && !isZero(amount) ? "-" : "";
  const sym = symbol(currency);
  return sym === null ? `${sign}${number} ${currency}` : `${sign}${sym}${number}`;
}

/**
 * A `Money` value (`{amount, currency}`) formatted with {@link format}.
 *
 * @param {{amount: string, currency: string}} money
 * @returns {string}
 */
export function display(money) {
  return format(money.amount, money.currency);
}

/**
 * The amount without its sign: `"-10.00"` becomes `"10.00"`.
 *
 * @param {string} amount
 * @returns {string}
 */
export function abs(amount) {
  const parts = split(amount);
  return parts === null ? amount : parts[1];
}

/**
 * The amount with its sign flipped; zero stays unsigned.
 *
 * @param {string} amount
 * @returns {string}
 */
export function negate(amount) {
  const parts = split(amount);
  if (parts === null) {
    return amount;
  }
  const [negative, magnitude] = parts;
  return !negative && !isZero(amount) ? `-${magnitude}` : magnitude;
}

/**
 * Whether the amount is below zero (`"-0.00"` is not).
 *
 * @param {string} amount
 * @returns {boolean}
 */
export function isNegative(amount) {
  const parts = split(amount);
  return parts !== null && parts[0] && !isZero(amount);
}

/**
 * Whether the amount is zero, whatever its sign or number of decimals.
 *
 * @param {string} amount
 * @returns {boolean}
 */
export function isZero(amount) {
  const parts = split(amount);
  return parts !== null && /^[0.]*$/.test(parts[1]);
}

/**
 * `[is negative, unsigned digits]`, or `null` when the text is not a plain
 * decimal like `-1234.56`.
 *
 * @param {string} amount
 * @returns {[boolean, string] | null}
 */
function split(amount) {
  const trimmed = amount.trim();
  let negative = false;
  let magnitude = trimmed;
  if (trimmed.startsWith("-")) {
    negative = true;
    magnitude = trimmed.slice(1);
  } else if (trimmed.startsWith("+")) {
    magnitude = trimmed.slice(1);
  }
  const dot = magnitude.indexOf(".");
  const whole = dot < 0 ? magnitude : magnitude.slice(0, dot);
  const fraction = dot < 0 ? "" : magnitude.slice(dot + 1);
  const digits = (/** @type {string} */ s) => /^[0-9]*$/.test(s);
  const valid = digits(whole) && digits(fraction) && !(whole === "" && fraction === "");
  return valid ? [negative, magnitude] : null;
}

/**
 * `"1234567"` becomes `"1,234,567"`.
 *
 * @param {string} whole
 * @returns {string}
 */
function groupThousands(whole) {
  let grouped = "";
  for (let i = 0; i < whole.length; i++) {
    if (i > 0 && (whole.length - i) % 3 === 0) {
      grouped += ",";
    }
    grouped += whole[i];
  }
  return grouped;
}

/**
 * The symbol written before amounts in `currency`, for the currencies whose
 * symbol is unambiguous to the businesses ml-connector serves.
 *
 * @param {string} currency
 * @returns {string | null}
 */
function symbol(currency) {
  switch (currency) {
    case "USD":
    case "CAD":
    case "AUD":
    case "NZD":
      return "$";
    case "EUR":
      return "€";
    case "GBP":
      return "£";
    default:
      return null;
  }
}
