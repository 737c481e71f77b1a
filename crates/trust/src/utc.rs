//! UTC instants as RFC 3339 text (`2026-10-11T00:00:00Z`), whole seconds.
//!
//! The state file and the operator listing print absolute times (ROLLOVER.md
//! §4: persist absolute UTC times, never time left); this is the one place
//! that turns them into text and back.
//!
//! # Limitations
//! Only the `Z` form of RFC 3339 §5.6, whole seconds, years 1970 to 9999.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds in one day.
const DAY: u64 = 86_400;

/// Why a text is not a UTC instant this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ")]
pub struct UtcError {
    /// The text refused.
    pub text: String,
}

/// Formats `at` as `YYYY-MM-DDTHH:MM:SSZ`; instants before 1970 print as the epoch.
pub fn format_utc(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / DAY;
    let rest = secs % DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC) into an instant.
pub fn parse_utc(text: &str) -> Result<SystemTime, UtcError> {
    let fail = || UtcError {
        text: text.to_owned(),
    };
    let bytes = text.as_bytes();
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        b'Z',
    ] = bytes
    else {
        return Err(fail());
    };
    let num = |digits: &[u8]| -> Option<u64> {
        digits.iter().try_fold(0u64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    };
    let year = num(&[*y0, *y1, *y2, *y3]).ok_or_else(fail)?;
    let month = num(&[*m0, *m1]).ok_or_else(fail)?;
    let day = num(&[*d0, *d1]).ok_or_else(fail)?;
    let hour = num(&[*h0, *h1]).ok_or_else(fail)?;
    let minute = num(&[*n0, *n1]).ok_or_else(fail)?;
    let second = num(&[*s0, *s1]).ok_or_else(fail)?;
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(fail());
    }
    let days = days_from_civil(year, month, day);
    Ok(UNIX_EPOCH + Duration::from_secs(days * DAY + hour * 3600 + minute * 60 + second))
}

/// Seconds since 1970 of `at`, 0 before the epoch.
pub fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The instant `secs` seconds after 1970.
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let leap_days = |y: u64| y / 4 - y / 100 + y / 400;
    let years = year - 1970;
    let mut days = years * 365 + leap_days(year - 1) - leap_days(1969);
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + day - 1
}

/// The date `days` days after 1970-01-01.
fn civil_from_days(mut days: u64) -> (u64, u64, u64) {
    let mut year = 1970;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let mut month = 1;
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
    }
    (year, month, days + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_round_trip() {
        // 2026-10-11T00:00:00Z is 1_791_676_800 (date -d ... +%s).
        let at = parse_utc("2026-10-11T00:00:00Z").unwrap();
        assert_eq!(unix_secs(at), 1_791_676_800);
        assert_eq!(format_utc(at), "2026-10-11T00:00:00Z");
        assert_eq!(
            format_utc(from_unix_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-10-11T24:00:00Z",
            "2026-10-11 00:00:00Z",
            "2026-10-11T00:00:00+00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_second_until_9999_round_trips(secs in 0u64..253_402_300_799) {
            let at = from_unix_secs(secs);
            proptest::prop_assert_eq!(parse_utc(&format_utc(at)).unwrap(), at);
        }
    }
}
