//! Decimal amounts as strings, the way sources send them: never floats.
//!
//! Every function here works on the text of the amount (`"8.98"`,
//! `"-10.00"`, `"1234.5"`), so no rounding can creep in. A string that is
//! not a plain decimal is returned unchanged rather than guessed at.

/// Formats an amount with its currency for people to read.
///
/// Known currencies get their symbol and thousands separators, others keep
/// the ISO code after the number:
///
/// ```
/// use ml_connector_sdk::money::format;
/// assert_eq!(format("8.98", "USD"), "$8.98");
/// assert_eq!(format("-10.00", "USD"), "-$10.00");
/// assert_eq!(format("1234567.50", "EUR"), "€1,234,567.50");
/// assert_eq!(format("12.00", "XYZ"), "12.00 XYZ");
/// ```
pub fn format(amount: &str, currency: &str) -> String {
    // Built with `push_str`, not `format!`: in a fresh instance every `fmt` call also pays for
    // the guest's first indirect calls (see the README, "Fast plugins").
    let Some((negative, magnitude)) = split(amount) else {
        return [amount, " ", currency].concat();
    };
    let (whole, fraction) = magnitude
        .split_once('.')
        .map_or((magnitude, None), |(w, f)| (w, Some(f)));
    let whole = if whole.is_empty() { "0" } else { whole };
    let symbol = symbol(currency);
    let mut text = String::with_capacity(amount.len() + whole.len() / 3 + currency.len() + 3);
    if negative && !is_zero(amount) {
        text.push('-');
    }
    text.push_str(symbol.unwrap_or(""));
    for (i, digit) in whole.char_indices() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    if let Some(fraction) = fraction {
        text.push('.');
        text.push_str(fraction);
    }
    if symbol.is_none() {
        text.push(' ');
        text.push_str(currency);
    }
    text
}

/// The amount without its sign: `"-10.00"` becomes `"10.00"`.
pub fn abs(amount: &str) -> String {
    match split(amount) {
        Some((_, magnitude)) => magnitude.to_string(),
        None => amount.to_string(),
    }
}

/// The amount with its sign flipped: `"-10.00"` becomes `"10.00"` and
/// `"10.00"` becomes `"-10.00"`; zero stays unsigned.
pub fn negate(amount: &str) -> String {
    match split(amount) {
        Some((false, magnitude)) if !is_zero(amount) => ["-", magnitude].concat(),
        Some((_, magnitude)) => magnitude.to_string(),
        None => amount.to_string(),
    }
}

/// Whether the amount is below zero (`"-0.00"` is not).
pub fn is_negative(amount: &str) -> bool {
    matches!(split(amount), Some((true, _))) && !is_zero(amount)
}

/// Whether the amount is zero, whatever its sign or number of decimals.
pub fn is_zero(amount: &str) -> bool {
    split(amount).is_some_and(|(_, magnitude)| magnitude.bytes().all(|b| b == b'0' || b == b'.'))
}

/// Splits a decimal into (is negative, unsigned digits), or `None` when the
/// text is not a plain decimal like `-1234.56`.
fn split(amount: &str) -> Option<(bool, &str)> {
    let amount = amount.trim();
    let (negative, magnitude) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount.strip_prefix('+').unwrap_or(amount)),
    };
    let (whole, fraction) = magnitude.split_once('.').unwrap_or((magnitude, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    valid.then_some((negative, magnitude))
}

/// The symbol written before amounts in `currency`, for the currencies
/// whose symbol is unambiguous to the businesses ml-connector serves.
fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "USD" | "CAD" | "AUD" | "NZD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_and_unknown_currencies() {
        assert_eq!(format("8.98", "USD"), "$8.98");
        assert_eq!(format("-10.00", "USD"), "-$10.00");
        assert_eq!(format("200", "CAD"), "$200");
        assert_eq!(format("1000.00", "GBP"), "£1,000.00");
        assert_eq!(format("999.99", "USD"), "$999.99");
        assert_eq!(format("123456.7", "USD"), "$123,456.7");
        assert_eq!(format(".50", "USD"), "$0.50");
        assert_eq!(format("-0.00", "USD"), "$0.00");
        assert_eq!(format("12.00", "XYZ"), "12.00 XYZ");
        assert_eq!(format("-1500.00", "JPY"), "-1,500.00 JPY");
    }

    #[test]
    fn leaves_non_decimals_alone() {
        assert_eq!(format("twelve", "USD"), "twelve USD");
        assert_eq!(format("", "USD"), " USD");
        assert_eq!(abs("1e3"), "1e3");
        assert_eq!(negate("-"), "-");
        assert!(!is_zero("."));
    }

    #[test]
    fn signs() {
        assert_eq!(abs("-10.00"), "10.00");
        assert_eq!(abs("10.00"), "10.00");
        assert_eq!(abs("+3"), "3");
        assert_eq!(negate("-10.00"), "10.00");
        assert_eq!(negate("10.00"), "-10.00");
        assert_eq!(negate("0.00"), "0.00");
        assert_eq!(negate("-0.00"), "0.00");
        assert!(is_negative("-10.00"));
        assert!(!is_negative("-0.00"));
        assert!(!is_negative("30.00"));
        assert!(is_zero("0.00"));
        assert!(is_zero("-0"));
        assert!(!is_zero("0.01"));
    }
}
