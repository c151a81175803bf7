//! UTC timestamps with millisecond precision, written as RFC 3339
//! (`2026-11-28T10:27:00.123Z`).
//!
//! The queue needs only "now", a sortable compact form for ids and a
//! human-readable form in files, so this is a few lines of civil-calendar
//! arithmetic (Howard Hinnant's `days_from_civil`) rather than a date crate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

/// A timestamp string that is not `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 UTC timestamp (want YYYY-MM-DDTHH:MM:SS.mmmZ): {text:?}")]
pub struct TimestampError {
    pub text: String,
}

impl Timestamp {
    /// The current time (the system clock; a clock before 1970 reads as the epoch).
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self { millis }
    }

    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.millis
    }

    /// How long ago this was, measured against `now` (zero if in the future).
    pub fn age_at(self, now: Self) -> Duration {
        Duration::from_millis(u64::try_from(now.millis - self.millis).unwrap_or(0))
    }

    fn parts(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let days = self.millis.div_euclid(MILLIS_PER_DAY);
        let in_day = self.millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let seconds = in_day / 1000;
        (
            year,
            month,
            day,
            (seconds / 3600) as u32,
            (seconds / 60 % 60) as u32,
            (seconds % 60) as u32,
            (in_day % 1000) as u32,
        )
    }

    /// `20261128T102700123Z`: fixed width for years 0–9999, sorts as time does.
    pub fn compact(self) -> String {
        let (year, month, day, hour, minute, second, milli) = self.parts();
        format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}{milli:03}Z")
    }

    /// `2026-11-28T10:27:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let (year, month, day, hour, minute, second, milli) = self.parts();
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
    }

    /// Parse `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only; the fraction is cut
    /// to milliseconds).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let error = || TimestampError {
            text: text.to_string(),
        };
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't')
            || bytes[13] != b':'
            || bytes[16] != b':'
            || !matches!(bytes[bytes.len() - 1], b'Z' | b'z')
        {
            return Err(error());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u32, TimestampError> {
            let digits = text.get(range).ok_or_else(error)?;
            if digits.bytes().all(|byte| byte.is_ascii_digit()) {
                digits.parse().map_err(|_| error())
            } else {
                Err(error())
            }
        };
        let year = number(0..4)?;
        let month = number(5..7)?;
        let day = number(8..10)?;
        let hour = number(11..13)?;
        let minute = number(14..16)?;
        let second = number(17..19)?;
        let rest = &text[19..text.len() - 1];
        let milli = if rest.is_empty() {
            0
        } else {
            let fraction = rest.strip_prefix('.').ok_or_else(error)?;
            if fraction.is_empty() || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(error());
            }
            let padded = format!("{fraction:0<3}");
            padded[..3].parse::<u32>().map_err(|_| error())?
        };
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(i64::from(year), month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(error());
        }
        let days = days_from_civil(i64::from(year), month, day);
        let seconds =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Ok(Self {
            millis: seconds * 1000 + i64::from(milli),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants_format_and_parse() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z", "19700101T000000000Z"),
            (
                1_795_861_620_123,
                "2026-11-28T10:27:00.123Z",
                "20261128T102700123Z",
            ),
            (
                951_782_400_000,
                "2000-02-29T00:00:00.000Z",
                "20000229T000000000Z",
            ),
        ];
        for (millis, text, compact) in cases {
            let stamp = Timestamp::from_millis(millis);
            assert_eq!(stamp.to_rfc3339(), text);
            assert_eq!(stamp.compact(), compact);
            assert_eq!(Timestamp::parse_rfc3339(text), Ok(stamp));
        }
    }

    #[test]
    fn parse_accepts_no_fraction_and_long_fractions() {
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T10:27:00Z").map(Timestamp::as_millis),
            Ok(1_795_861_620_000)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T10:27:00.123456Z").map(Timestamp::as_millis),
            Ok(1_795_861_620_123)
        );
    }

    #[test]
    fn parse_refuses_malformed_text() {
        for text in [
            "",
            "2026-11-28",
            "2026-11-28T10:27:00.123",
            "2026-11-28T10:27:00.123+01:00",
            "2026-13-28T10:27:00Z",
            "2026-02-30T10:27:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T10:27:00.Z",
            "2026-11-28T10:27:0xZ",
            "२०२६-11-28T10:27:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(text).is_err(), "{text:?} parsed");
        }
    }

    proptest! {
        #[test]
        fn round_trips_through_text(millis in 0_i64..253_402_300_799_999) {
            let stamp = Timestamp::from_millis(millis);
            prop_assert_eq!(Timestamp::parse_rfc3339(&stamp.to_rfc3339()), Ok(stamp));
        }

        #[test]
        fn compact_form_sorts_like_time(first in 0_i64..253_402_300_799_999, second in 0_i64..253_402_300_799_999) {
            let (a, b) = (Timestamp::from_millis(first), Timestamp::from_millis(second));
            prop_assert_eq!(a.cmp(&b), a.compact().cmp(&b.compact()));
        }
    }
}
