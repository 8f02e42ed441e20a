//! Quiet hours: when a customer message inside the configured local window may go out, in the
//! business's time zone, daylight saving included.
//!
//! The window is read on the local wall clock: a message waits while the local time is in
//! `[start, end)`. On the night the clocks spring forward past `end` (e.g. a window ending at
//! 02:30 on a day without 02:30) the window ends at the jump; when the clocks fall back and
//! `end` happens twice, it ends at the first one, unless that is already past, as when the
//! message comes in the repeated hour.

use chrono::{DateTime, Timelike as _, Utc};
use jiff::Timestamp;
use jiff::civil;
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::config::QuietHours;
use crate::timezone::{Timezone, from_timestamp, to_timestamp};

/// The end of the quiet window if `now` is inside it, else `None`.
pub fn quiet_until(window: QuietHours, tz: &Timezone, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let now = to_timestamp(now);
    let local = now.to_zoned(tz.zone().clone());
    let (start, end) = (civil_time(window.start), civil_time(window.end));
    let t = local.time();
    let inside = if start < end { t >= start && t < end } else { t >= start || t < end };
    if !inside {
        return None;
    }
    let mut day = local.date();
    if t >= end {
        day = day.tomorrow().ok()?;
    }
    first_reached(tz.zone(), day.to_datetime(end), now).map(from_timestamp)
}

/// The first instant after `now` at which the local clock reads `local` or later.
fn first_reached(zone: &TimeZone, local: civil::DateTime, now: Timestamp) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        // `local` never happens that day: the clock jumps past it at the transition.
        AmbiguousOffset::Gap { after, .. } => {
            let before_jump = after.to_timestamp(local).ok()?;
            zone.following(before_jump).next().map(|t| t.timestamp())
        }
        // `local` happens twice: the first time, unless that has passed.
        AmbiguousOffset::Fold { before, after } => {
            let first = before.to_timestamp(local).ok()?;
            if first > now { Some(first) } else { after.to_timestamp(local).ok() }
        }
    }
}

fn civil_time(t: chrono::NaiveTime) -> civil::Time {
    civil::time(t.hour() as i8, t.minute() as i8, 0, 0)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn window(start: (u32, u32), end: (u32, u32)) -> QuietHours {
        QuietHours {
            start: NaiveTime::from_hms_opt(start.0, start.1, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end.0, end.1, 0).unwrap(),
        }
    }

    fn tz(text: &str) -> Timezone {
        Timezone::parse(text).unwrap()
    }

    #[test]
    fn quiet_hours_end_at_the_local_end_of_the_window_across_daylight_saving() {
        let night = window((21, 0), (8, 0));
        let until_0230 = window((21, 0), (2, 30));
        let until_0130 = window((21, 0), (1, 30));
        // (zone, window, now, expected end): Chicago is UTC-6 in winter (CST), UTC-5 in summer
        // (CDT); 2026-03-08 02:00 CST jumps to 03:00 CDT, 2026-11-01 02:00 CDT falls back to 01:00 CST.
        let table: &[(&str, QuietHours, &str, Option<&str>)] = &[
            // Winter and summer evenings: 08:00 local is 14:00Z, then 13:00Z.
            ("America/Chicago", night, "2026-01-15T04:30:00Z", Some("2026-01-15T14:00:00Z")),
            ("America/Chicago", night, "2026-07-15T03:30:00Z", Some("2026-07-15T13:00:00Z")),
            // The same summer evening read as a fixed -06:00 offset is an hour off: 14:00Z.
            ("-06:00", night, "2026-07-15T03:30:00Z", Some("2026-07-15T14:00:00Z")),
            // Midday, and the first minute after the window: not quiet.
            ("America/Chicago", night, "2026-07-15T17:00:00Z", None),
            ("America/Chicago", night, "2026-07-15T13:00:00Z", None),
            // Spring forward: 01:30 CST waits until 08:00 CDT, five and a half real hours.
            ("America/Chicago", night, "2026-03-08T07:30:00Z", Some("2026-03-08T13:00:00Z")),
            // A window ending at 02:30, which that night never shows: it ends at the jump, 03:00 CDT.
            ("America/Chicago", until_0230, "2026-03-08T07:00:00Z", Some("2026-03-08T08:00:00Z")),
            // Fall back: 01:30 CDT (first pass) waits until 08:00 CST.
            ("America/Chicago", night, "2026-11-01T06:30:00Z", Some("2026-11-01T14:00:00Z")),
            // A window ending at 01:30, which that night shows twice: 00:30 CDT waits for the first...
            ("America/Chicago", until_0130, "2026-11-01T05:30:00Z", Some("2026-11-01T06:30:00Z")),
            // ...01:10 CST, in the repeated hour after the first 01:30, waits for the second.
            ("America/Chicago", until_0130, "2026-11-01T07:10:00Z", Some("2026-11-01T07:30:00Z")),
            // ...and 01:40 CDT, between the two, is outside the window on the wall clock.
            ("America/Chicago", until_0130, "2026-11-01T06:40:00Z", None),
            // Europe: Berlin springs forward on 2026-03-29 at 02:00 CET to 03:00 CEST.
            ("Europe/Berlin", night, "2026-03-28T23:30:00Z", Some("2026-03-29T06:00:00Z")),
            // A daytime window does not wrap midnight.
            ("UTC", window((12, 0), (14, 0)), "2026-03-31T13:00:00Z", Some("2026-03-31T14:00:00Z")),
            ("UTC", window((12, 0), (14, 0)), "2026-03-31T14:00:00Z", None),
        ];
        for (zone, window, now, expected) in table {
            let got = quiet_until(*window, &tz(zone), at(now));
            assert_eq!(got, expected.map(at), "{zone} {window:?} at {now}");
        }
    }

    #[test]
    fn a_message_in_an_overnight_quiet_window_waits_until_its_end() {
        let eastern = tz("-05:00");
        let night = window((21, 0), (8, 0));
        // 22:30 local: deferred to 08:00 the next day.
        assert_eq!(quiet_until(night, &eastern, at("2026-03-31T03:30:00Z")), Some(at("2026-03-31T13:00:00Z")));
        // 02:00 local: deferred to 08:00 the same day.
        assert_eq!(quiet_until(night, &eastern, at("2026-03-31T07:00:00Z")), Some(at("2026-03-31T13:00:00Z")));
        // 12:00 local: no wait.
        assert_eq!(quiet_until(night, &eastern, at("2026-03-31T17:00:00Z")), None);
    }
}
