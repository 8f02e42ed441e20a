//! Quiet hours: customer messages wait for the end of the business's quiet window.

use chrono::{DateTime, FixedOffset, Utc};

use crate::config::QuietHours;

/// The end of the quiet window if `now` is inside it.
pub fn quiet_until(window: QuietHours, offset: FixedOffset, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&offset);
    let t = local.time();
    let inside = if window.start < window.end { t >= window.start && t < window.end } else { t >= window.start || t < window.end };
    if !inside {
        return None;
    }
    let mut day = local.date_naive();
    if t >= window.end {
        day = day.succ_opt()?;
    }
    let end = day.and_time(window.end).and_local_timezone(offset).single()?;
    Some(end.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn window(start: u32, end: u32) -> QuietHours {
        QuietHours { start: NaiveTime::from_hms_opt(start, 0, 0).unwrap(), end: NaiveTime::from_hms_opt(end, 0, 0).unwrap() }
    }

    #[test]
    fn a_message_in_an_overnight_quiet_window_waits_until_its_end() {
        let eastern = FixedOffset::west_opt(5 * 3600).unwrap();
        // 22:30 local: deferred to 08:00 the next day.
        assert_eq!(quiet_until(window(21, 8), eastern, at("2026-03-31T03:30:00Z")), Some(at("2026-03-31T13:00:00Z")));
        // 02:00 local: deferred to 08:00 the same day.
        assert_eq!(quiet_until(window(21, 8), eastern, at("2026-03-31T07:00:00Z")), Some(at("2026-03-31T13:00:00Z")));
        // 12:00 local: no wait.
        assert_eq!(quiet_until(window(21, 8), eastern, at("2026-03-31T17:00:00Z")), None);
    }

    #[test]
    fn a_daytime_quiet_window_does_not_wrap() {
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(quiet_until(window(12, 14), utc, at("2026-03-31T13:00:00Z")), Some(at("2026-03-31T14:00:00Z")));
        assert_eq!(quiet_until(window(12, 14), utc, at("2026-03-31T14:00:00Z")), None);
    }

}
