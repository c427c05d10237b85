//! The line's time zone: the one place a stored instant (always UTC) becomes the time the
//! operators' room reads, and where the wall board's days and hours begin.
//!
//! The database and the JSON API keep UTC (RFC 3339 with `Z`); the console, the wall board and
//! the command line show times through [`LineZone::show`]. "Today" on the wall board starts at
//! the line's local midnight, and its hourly buckets are the line's local hours, so a day in
//! which summer time starts has 23 of them and one in which it ends has 25.

use std::fmt;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::dashboard::Period;

/// The longest zone name echoed back in an error: a hostile value is not repeated whole.
const ECHO_CHARS: usize = 64;

/// The line's time zone, an IANA name such as `Europe/Kyiv`; UTC by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LineZone(Tz);

/// A name that is no IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a time zone; use an IANA name such as \"Europe/Kyiv\" or \"UTC\" \
     (the list is in `timedatectl list-timezones`)"
)]
pub struct UnknownZone(String);

/// How much of a time a screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `2026-03-29 14:05`: a time in a list.
    Minute,
    /// `2026-03-29 14:05:09`: a time an audit or a version is known by.
    Second,
    /// `14:05:09`: a moment of today (a timeline, a refresh).
    Clock,
    /// `14:05`: when something ends today (a lock).
    HourMinute,
    /// `14:00`: an hour's bucket on a chart.
    Hour,
    /// `03-29`: a day's bucket on a chart.
    Day,
    /// `2026-03-29 14:05:09 EEST`: a line of the command line, which has no footer to name
    /// the zone once.
    Labelled,
}

impl Stamp {
    fn pattern(self) -> &'static str {
        match self {
            Stamp::Minute => "%Y-%m-%d %H:%M",
            Stamp::Second => "%Y-%m-%d %H:%M:%S",
            Stamp::Clock => "%H:%M:%S",
            Stamp::HourMinute => "%H:%M",
            Stamp::Hour => "%H:00",
            Stamp::Day => "%m-%d",
            Stamp::Labelled => "%Y-%m-%d %H:%M:%S %Z",
        }
    }
}

impl Default for LineZone {
    fn default() -> Self {
        LineZone(Tz::UTC)
    }
}

impl LineZone {
    /// UTC, the default.
    pub const UTC: LineZone = LineZone(Tz::UTC);

    /// The zone named `name` (IANA, e.g. `Europe/Kyiv`; exact spelling, as in the tz
    /// database).
    pub fn parse(name: &str) -> Result<LineZone, UnknownZone> {
        name.parse::<Tz>().map(LineZone).map_err(|_| {
            let mut echo: String = name.chars().take(ECHO_CHARS).collect();
            if name.chars().nth(ECHO_CHARS).is_some() {
                echo.push('…');
            }
            UnknownZone(echo)
        })
    }

    /// Its IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The place a screen names it by: the last part of the IANA name (`Europe/Kyiv`:
    /// `Kyiv`, `America/New_York`: `New York`), or `UTC`.
    pub fn place(self) -> String {
        let name = self.name();
        name.rsplit('/').next().unwrap_or(name).replace('_', " ")
    }

    /// `at` in the line's local time, as much of it as `stamp` shows.
    pub fn show(self, at: DateTime<Utc>, stamp: Stamp) -> String {
        at.with_timezone(&self.0).format(stamp.pattern()).to_string()
    }

    /// The start of the local hour or day `at` falls in, as a UTC instant.
    pub fn floor(self, period: Period, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&self.0);
        match period {
            // Offsets change on the hour in every zone a line is likely run from; taking the
            // local minutes off the instant is right across a change of offset.
            Period::Hour => {
                at - Duration::minutes(i64::from(local.minute()))
                    - Duration::seconds(i64::from(local.second()))
                    - Duration::nanoseconds(i64::from(local.nanosecond()))
            }
            Period::Day => self.midnight(local.date_naive()).unwrap_or(at),
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, period: Period, start: DateTime<Utc>) -> DateTime<Utc> {
        match period {
            Period::Hour => self.floor(period, start + Duration::hours(1)),
            Period::Day => {
                let day = start.with_timezone(&self.0).date_naive();
                day.succ_opt()
                    .and_then(|next| self.midnight(next))
                    .unwrap_or(start + Duration::days(1))
            }
        }
    }

    /// The bounds of the last `count` buckets of `period` up to the one `now` is in: `count + 1`
    /// instants, oldest first, the last the end of `now`'s bucket. Bucket `i` is
    /// `[bounds[i], bounds[i + 1])`.
    pub fn buckets(self, period: Period, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let current = self.floor(period, now);
        let mut bounds = vec![self.next(period, current), current];
        for _ in 1..count {
            let Some(&start) = bounds.last() else { break };
            bounds.push(self.floor(period, start - Duration::seconds(1)));
        }
        bounds.reverse();
        bounds
    }

    /// The first instant of local day `day`: its midnight, or, where the clocks skip midnight
    /// (summer time starting at 00:00), the first local time after the gap.
    fn midnight(self, day: NaiveDate) -> Option<DateTime<Utc>> {
        (0..=8).find_map(|quarter| {
            let time = NaiveTime::MIN + Duration::minutes(15 * quarter);
            match self.0.from_local_datetime(&day.and_time(time)) {
                LocalResult::Single(t) => Some(t.to_utc()),
                LocalResult::Ambiguous(earliest, _) => Some(earliest.to_utc()),
                LocalResult::None => None,
            }
        })
    }
}

impl TryFrom<String> for LineZone {
    type Error = UnknownZone;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        LineZone::parse(&name)
    }
}

impl From<LineZone> for String {
    fn from(zone: LineZone) -> String {
        zone.name().to_owned()
    }
}

impl fmt::Display for LineZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn kyiv() -> LineZone {
        LineZone::parse("Europe/Kyiv").unwrap()
    }

    #[test]
    fn names_are_checked_and_hostile_ones_not_echoed_whole() {
        assert_eq!(kyiv().name(), "Europe/Kyiv");
        assert_eq!(kyiv().place(), "Kyiv");
        assert_eq!(LineZone::parse("America/New_York").unwrap().place(), "New York");
        assert_eq!(LineZone::parse("UTC").unwrap(), LineZone::UTC);
        assert_eq!(LineZone::default().place(), "UTC");
        for bad in
            ["", " ", "Europe/Kiev2", "europe/kyiv ", "Mars/Olympus", "../../etc/passwd", "\0"]
        {
            assert!(LineZone::parse(bad).is_err(), "{bad:?}");
        }
        let huge = "Europe/".repeat(100_000);
        let message = LineZone::parse(&huge).unwrap_err().to_string();
        assert!(message.len() < 400, "{}", message.len());
        assert!(message.contains("IANA"), "{message}");
    }

    #[test]
    fn a_late_utc_evening_is_tomorrow_in_kyiv() {
        let late = at("2026-11-27T22:30:00Z");
        assert_eq!(kyiv().show(late, Stamp::Minute), "2026-11-28 00:30");
        assert_eq!(LineZone::UTC.show(late, Stamp::Minute), "2026-11-27 22:30");
        assert_eq!(kyiv().show(late, Stamp::Labelled), "2026-11-28 00:30:00 EET");
        assert_eq!(
            kyiv().show(at("2026-07-01T12:00:00Z"), Stamp::Labelled),
            "2026-07-01 15:00:00 EEST"
        );
        assert_eq!(kyiv().floor(Period::Day, late), at("2026-11-27T22:00:00Z"));
        assert_eq!(LineZone::UTC.floor(Period::Day, late), at("2026-11-27T00:00:00Z"));
    }

    #[test]
    fn the_day_summer_time_starts_has_23_local_hours() {
        // 2026-03-29: Kyiv's clocks go from 03:00 to 04:00 (01:00 UTC).
        let noon = at("2026-03-29T10:00:00Z");
        let day = kyiv().floor(Period::Day, noon);
        assert_eq!(day, at("2026-03-28T22:00:00Z"));
        assert_eq!(kyiv().next(Period::Day, day), at("2026-03-29T21:00:00Z"));
        let hours = kyiv().buckets(Period::Hour, at("2026-03-29T20:59:59Z"), 23);
        assert_eq!(hours.first(), Some(&day));
        assert_eq!(hours.last(), Some(&at("2026-03-29T21:00:00Z")));
        let labels: Vec<_> = hours[..23].iter().map(|h| kyiv().show(*h, Stamp::Hour)).collect();
        assert_eq!(labels[..5], ["00:00", "01:00", "02:00", "04:00", "05:00"]);
        assert_eq!(labels.last().map(String::as_str), Some("23:00"));
    }

    #[test]
    fn the_day_summer_time_ends_has_25_local_hours() {
        // 2026-10-25: Kyiv's clocks go from 04:00 back to 03:00 (01:00 UTC).
        let day = kyiv().floor(Period::Day, at("2026-10-25T12:00:00Z"));
        assert_eq!(day, at("2026-10-24T21:00:00Z"));
        let end = kyiv().next(Period::Day, day);
        assert_eq!(end, at("2026-10-25T22:00:00Z"));
        assert_eq!((end - day).num_hours(), 25);
        let hours = kyiv().buckets(Period::Hour, at("2026-10-25T21:30:00Z"), 25);
        assert_eq!(hours[0], day);
        let labels: Vec<_> = hours[..25].iter().map(|h| kyiv().show(*h, Stamp::Hour)).collect();
        assert_eq!(labels.iter().filter(|l| *l == "03:00").count(), 2, "{labels:?}");
    }

    #[test]
    fn days_are_local_days_whatever_their_length() {
        let days = kyiv().buckets(Period::Day, at("2026-03-30T08:00:00Z"), 3);
        assert_eq!(
            days,
            [
                at("2026-03-27T22:00:00Z"),
                at("2026-03-28T22:00:00Z"),
                at("2026-03-29T21:00:00Z"),
                at("2026-03-30T21:00:00Z"),
            ]
        );
        // A zone whose clocks skip midnight itself: the day starts after the gap.
        let santiago = LineZone::parse("America/Santiago").unwrap();
        let start = santiago.floor(Period::Day, at("2026-09-06T15:00:00Z"));
        assert_eq!(santiago.show(start, Stamp::Minute), "2026-09-06 01:00");
        // Half-hour offsets: the local hour, not the UTC one.
        let kolkata = LineZone::parse("Asia/Kolkata").unwrap();
        assert_eq!(
            kolkata.floor(Period::Hour, at("2026-11-27T05:10:00Z")),
            at("2026-11-27T04:30:00Z")
        );
    }

    #[test]
    fn the_zone_reads_and_writes_as_its_name() {
        #[derive(Deserialize, Serialize)]
        struct Section {
            time_zone: LineZone,
        }
        let section: Section = toml::from_str("time_zone = \"Europe/Kyiv\"").unwrap();
        assert_eq!(section.time_zone, kyiv());
        assert_eq!(toml::to_string(&section).unwrap().trim(), "time_zone = \"Europe/Kyiv\"");
        assert!(toml::from_str::<Section>("time_zone = \"Kyiv\"").is_err());
        assert!(toml::from_str::<Section>("time_zone = 3").is_err());
    }
}
