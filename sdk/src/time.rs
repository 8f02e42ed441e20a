//! Dates and times, always relative to the clock the host passes in
//! (`Context::now`), never the machine's: a replayed event gives the same
//! answer.

use chrono::{DateTime, Days, NaiveDate, NaiveTime};

use crate::Error;

/// Formats a `YYYY-MM-DD` date for people to read: `"2026-04-29"` becomes
/// `"Apr 29, 2026"`. Text that is not such a date is returned unchanged.
pub fn format_date(date: &str) -> String {
    match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(parsed) => parsed.format("%b %-d, %Y").to_string(),
        Err(_) => date.to_string(),
    }
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
    Ok((at > now).then(|| at.to_rfc3339()))
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
