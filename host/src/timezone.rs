//! Business time zones: an IANA name (`America/Chicago`, daylight saving included) or a fixed
//! offset (`-05:00`, `UTC`), as configured in `[twilio] timezone` or reported by Wave for a
//! connected business. Used for the plugins' clock (`context.now`) and for quiet hours.
//!
//! Built on `jiff`, which resolves skipped and repeated local hours explicitly; the system's
//! time zone database is used when present, the one bundled in the binary otherwise.

use std::fmt;

use chrono::{DateTime, Utc};
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde::Deserialize;

/// A time zone as written by an operator or a source: an IANA name or a fixed UTC offset.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Timezone {
    text: String,
    zone: TimeZone,
}

impl Timezone {
    /// UTC, the default when nothing is configured.
    pub fn utc() -> Self {
        Timezone { text: "UTC".into(), zone: TimeZone::UTC }
    }

    /// Parses `UTC`, `Z`, `±HH:MM` (from -12:00 to +14:00) or an IANA time zone name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let zone = match text {
            "UTC" | "Z" => TimeZone::UTC,
            _ if text.starts_with(['+', '-']) => TimeZone::fixed(parse_offset(text).ok_or_else(|| {
                format!("{text:?} is not an offset like \"-05:00\" (from -12:00 to +14:00)")
            })?),
            _ => TimeZone::get(text).map_err(|_| {
                format!("{text:?} is not an IANA time zone like \"America/Chicago\" or an offset like \"-05:00\" or \"UTC\"")
            })?,
        };
        Ok(Timezone { text: text.to_owned(), zone })
    }

    /// The text as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The zone, for local-time arithmetic.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// `at` as local time in this zone, RFC 3339 with its offset, to the second
    /// (`2026-07-15T22:30:00-05:00`): the form of `context.now`.
    pub fn rfc3339(&self, at: DateTime<Utc>) -> String {
        let zoned = to_timestamp(at).to_zoned(self.zone.clone());
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// `±HH:MM` as an offset, within the real range -12:00 to +14:00.
fn parse_offset(text: &str) -> Option<Offset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    if m >= 60 || (sign > 0 && minutes > 14 * 60) || (sign < 0 && minutes > 12 * 60) {
        return None;
    }
    Offset::from_seconds(sign * minutes * 60).ok()
}

impl TryFrom<String> for Timezone {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Timezone::parse(&text)
    }
}

impl PartialEq for Timezone {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Timezone {}

impl fmt::Debug for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timezone({:?})", self.text)
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A chrono instant as a jiff one (both count from the Unix epoch).
pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos() as i32).expect("chrono's range fits jiff's")
}

/// A jiff instant as a chrono one.
pub fn from_timestamp(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond() as u32).expect("jiff's range fits chrono's")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn names_and_offsets_parse_and_everything_else_is_refused() {
        for ok in ["UTC", "Z", "-05:00", "+14:00", "-12:00", "+05:30", "America/Chicago", "Europe/Berlin", "Asia/Kolkata"] {
            assert_eq!(Timezone::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "-5", "05:00", "+14:30", "-12:30", "+01:60", "EST5EDT6", "America/Chicgo", "Mars/Olympus"] {
            let err = Timezone::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn the_local_clock_follows_daylight_saving_in_a_named_zone_but_not_in_an_offset() {
        let chicago = Timezone::parse("America/Chicago").unwrap();
        let fixed = Timezone::parse("-06:00").unwrap();
        let winter = at("2026-01-15T18:00:00Z");
        let summer = at("2026-07-15T18:00:00Z");
        let table = [
            (&chicago, winter, "2026-01-15T12:00:00-06:00"),
            (&chicago, summer, "2026-07-15T13:00:00-05:00"),
            (&fixed, winter, "2026-01-15T12:00:00-06:00"),
            (&fixed, summer, "2026-07-15T12:00:00-06:00"),
            (&Timezone::utc(), summer, "2026-07-15T18:00:00+00:00"),
            // The first instant after the spring-forward jump, and the repeated hour in the fall.
            (&chicago, at("2026-03-08T08:00:00Z"), "2026-03-08T03:00:00-05:00"),
            (&chicago, at("2026-11-01T06:30:00Z"), "2026-11-01T01:30:00-05:00"),
            (&chicago, at("2026-11-01T07:30:00Z"), "2026-11-01T01:30:00-06:00"),
        ];
        for (tz, instant, expected) in table {
            assert_eq!(tz.rfc3339(instant), expected, "{tz} at {instant}");
        }
    }
}
