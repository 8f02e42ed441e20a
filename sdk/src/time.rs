//! Dates and times, always relative to the clock the host passes in
//! (`Context::now`), never the machine's: a replayed event gives the same
//! answer.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, Timelike};

use crate::Error;

/// Formats a `YYYY-MM-DD` date for people to read: `"2026-04-29"` becomes
/// `"Apr 29, 2026"`. Text that is not such a date is returned unchanged.
pub fn format_date(date: &str) -> String {
    // Read and written by hand rather than with chrono's `%`-formats: this runs on most events,
    // and the format machinery costs more than the rest of a plugin's text (in a fresh
    // instance, every `fmt` call also pays for the guest's first indirect calls).
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |range: std::ops::Range<usize>| {
        date.get(range)
            .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
    };
    let dashes = date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
    let (true, Some(year), Some(month), Some(day)) =
        (dashes, digits(0..4), digits(5..7), digits(8..10))
    else {
        return date.to_string();
    };
    let number = |text: &str| text.parse::<u32>().unwrap_or_default();
    let Some(parsed) = NaiveDate::from_ymd_opt(number(year) as i32, number(month), number(day))
    else {
        return date.to_string();
    };
    let day = day.strip_prefix('0').unwrap_or(day);
    [MONTHS[parsed.month0() as usize], " ", day, ", ", year].concat()
}

/// The moment `days_before` days before `date` (`YYYY-MM-DD`) at
/// `time_of_day` (`HH:MM`), in the UTC offset of `now` (RFC 3339, normally
/// `Context::now`), as RFC 3339: what `Action::not_before` wants.
///
/// Returns `Ok(None)` when that moment is not after `now`, i.e. too late to
/// schedule, and an error naming the input that does not parse.
///
/// ```
/// use ml_connector_sdk::time::reminder_at;
/// let at = reminder_at("2026-05-15", 3, "09:00", "2026-04-29T10:15:00-04:00");
/// assert_eq!(at, Ok(Some("2026-05-12T09:00:00-04:00".to_string())));
/// let late = reminder_at("2026-05-01", 3, "09:00", "2026-04-29T10:15:00-04:00");
/// assert_eq!(late, Ok(None));
/// ```
///
/// The offset is the one `now` has, so a reminder across a daylight-saving
/// change lands an hour off local time; the host's quiet hours still apply.
pub fn reminder_at(
    date: &str,
    days_before: u32,
    time_of_day: &str,
    now: &str,
) -> Result<Option<String>, Error> {
    let now = DateTime::parse_from_rfc3339(now)
        .map_err(|e| Error::new(format!("now {now:?} is not an RFC 3339 date-time: {e}")))?;
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|e| Error::new(format!("date {date:?} is not YYYY-MM-DD: {e}")))?
        .checked_sub_days(Days::new(days_before.into()))
        .ok_or_else(|| Error::new(format!("{days_before} days before {date} is out of range")))?;
    let time = NaiveTime::parse_from_str(time_of_day, "%H:%M")
        .map_err(|e| Error::new(format!("time {time_of_day:?} is not HH:MM: {e}")))?;
    let at = day
        .and_time(time)
        .and_local_timezone(*now.offset())
        .single()
        .ok_or_else(|| {
            Error::new(format!(
                "{date} {time_of_day} does not exist in {}",
                now.offset()
            ))
        })?;
    Ok((at > now).then(|| rfc3339(&at)))
}

/// `at` as RFC 3339, exactly as chrono's `to_rfc3339` writes it (`2026-05-12T09:00:00-04:00`),
/// but without the format machinery for the usual case: whole seconds in years 0–9999.
pub(crate) fn rfc3339(at: &DateTime<FixedOffset>) -> String {
    let year = at.year();
    if !(0..=9999).contains(&year) || at.nanosecond() != 0 {
        return at.to_rfc3339();
    }
    let offset = at.offset().local_minus_utc();
    let (offset_hours, offset_minutes) = (
        offset.unsigned_abs() / 3600,
        offset.unsigned_abs() / 60 % 60,
    );
    let sign = if offset < 0 { b'-' } else { b'+' };
    let fields = [
        (b'-', at.month()),
        (b'-', at.day()),
        (b'T', at.hour()),
        (b':', at.minute()),
        (b':', at.second()),
        (sign, offset_hours),
        (b':', offset_minutes),
    ];
    let mut text = Vec::with_capacity(25);
    let digits = |text: &mut Vec<u8>, value: u32, width: u32| {
        for place in (0..width).rev() {
            text.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    };
    digits(&mut text, year as u32, 4);
    for (separator, value) in fields {
        text.push(separator);
        digits(&mut text, value, 2);
    }
    String::from_utf8(text).expect("ASCII digits and separators")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_date("2026-04-29"), "Apr 29, 2026");
        assert_eq!(format_date("2026-05-01"), "May 1, 2026");
        assert_eq!(format_date("next week"), "next week");
        assert_eq!(format_date("2026-02-30"), "2026-02-30");
        assert_eq!(format_date("2026-12-31"), "Dec 31, 2026");
        assert_eq!(format_date("0999-01-10"), "Jan 10, 0999");
        assert_eq!(format_date("2026-00-10"), "2026-00-10");
        assert_eq!(format_date("2026-4-29"), "2026-4-29");
        assert_eq!(format_date("2026-04-29T10:00:00Z"), "2026-04-29T10:00:00Z");
        assert_eq!(format_date("2026-04-2x"), "2026-04-2x");
        assert_eq!(format_date(""), "");
    }

    #[test]
    fn reminder_in_the_offset_of_now() {
        let now = "2026-04-29T10:15:00-04:00";
        assert_eq!(
            reminder_at("2026-05-15", 3, "09:00", now),
            Ok(Some("2026-05-12T09:00:00-04:00".into()))
        );
        assert_eq!(
            reminder_at("2026-05-15", 0, "17:30", "2026-05-01T00:00:00Z"),
            Ok(Some("2026-05-15T17:30:00+00:00".into()))
        );
        // Crossing a month and a year boundary.
        assert_eq!(
            reminder_at("2027-01-02", 5, "08:00", now),
            Ok(Some("2026-12-28T08:00:00-04:00".into()))
        );
    }

    #[test]
    fn writes_rfc3339_as_chrono_does() {
        for text in [
            "2026-04-29T10:15:00-04:00",
            "2026-04-29T10:15:07Z",
            "0001-01-01T00:00:00+05:30",
            "9999-12-31T23:59:59-09:30",
            "2026-04-29T10:15:00.250+02:00",
            "2026-04-29T10:15:00.000001+02:00",
        ] {
            let at = DateTime::parse_from_rfc3339(text).unwrap();
            assert_eq!(rfc3339(&at), at.to_rfc3339(), "{text}");
        }
    }

    #[test]
    fn too_late_is_none() {
        let now = "2026-04-29T10:15:00-04:00";
        assert_eq!(reminder_at("2026-05-02", 3, "10:15", now), Ok(None));
        assert_eq!(
            reminder_at("2026-05-02", 3, "10:16", now),
            Ok(Some("2026-04-29T10:16:00-04:00".into()))
        );
        assert_eq!(reminder_at("2026-03-30", 3, "09:00", now), Ok(None));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let now = "2026-04-29T10:15:00-04:00";
        let err = |r: Result<Option<String>, Error>| r.unwrap_err().to_string();
        assert!(err(reminder_at("05/15/2026", 3, "09:00", now)).starts_with("date \"05/15/2026\""));
        assert!(err(reminder_at("2026-05-15", 3, "9am", now)).starts_with("time \"9am\""));
        assert!(err(reminder_at("2026-05-15", 3, "09:00", "today")).starts_with("now \"today\""));
    }
}
