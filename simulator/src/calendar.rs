//! Civil dates for the simulator: Unix time to and from `YYYY-MM-DD` and
//! RFC 3339, weekdays, third Fridays. Proleptic Gregorian, UTC only.
//!
//! Small enough to keep here rather than add a date crate; the algorithms are
//! Howard Hinnant's `days_from_civil` / `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Wall-clock Unix milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Wall-clock Unix microseconds.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Monday = 0 … Sunday = 6.
pub(crate) fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

pub(crate) fn is_weekend(days: i64) -> bool {
    weekday(days) >= 5
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// The third Friday of a month: the standard monthly option expiration.
pub(crate) fn third_friday(year: i64, month: u32) -> i64 {
    let first = days_from_civil(year, month, 1);
    let to_friday = (4 - weekday(first)).rem_euclid(7);
    first + to_friday + 14
}

/// `2020-11-18T15:19:14Z`.
pub(crate) fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2021-12-17T00:00:00Z` for a day number.
pub(crate) fn date_rfc3339(days: i64) -> String {
    rfc3339(days * DAY_MS)
}

/// A date as TradeStation's parameters write it: `YYYY-MM-DD`,
/// `MM-DD-YYYY` or `MM/DD/YYYY`, or the date part of an RFC 3339 instant.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        if b.len() > 10 && b[10] != b'T' && b[10] != b't' {
            return None;
        }
        (num(0..4)?, num(5..7)?, num(8..10)?)
    } else if b.len() == 10 && b[2] == b[5] && (b[2] == b'-' || b[2] == b'/') {
        (num(6..10)?, num(0..2)?, num(3..5)?)
    } else {
        return None;
    };
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(day)
        .ok()
        .filter(|d| *d >= 1 && *d <= days_in_month(year, month))?;
    Some(days_from_civil(year, month, day))
}

/// An instant: a date (taken at its start, or its last millisecond when
/// `end_of_day`), or `YYYY-MM-DDTHH:MM:SS` with `Z` or no zone (UTC).
pub(crate) fn parse_instant(text: &str, end_of_day: bool) -> Option<i64> {
    let days = parse_date(text)?;
    let time = match text.get(10..) {
        None | Some("") => {
            return Some(if end_of_day {
                days * DAY_MS + DAY_MS - 1
            } else {
                days * DAY_MS
            });
        }
        Some(t) => t,
    };
    let time = time.get(1..)?.trim_end_matches(['Z', 'z']);
    let time = time.strip_suffix("+00:00").unwrap_or(time);
    let mut parts = time.split(':');
    let mut field = |max: i64| -> Option<i64> {
        let v: i64 = parts.next()?.get(..2)?.parse().ok()?;
        (0..=max).contains(&v).then_some(v)
    };
    let (h, m) = (field(23)?, field(59)?);
    let s = field(59).unwrap_or(0);
    Some(days * DAY_MS + ((h * 60 + m) * 60 + s) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        for days in [-800_000, -1, 0, 59, 11_016, 18_993, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(rfc3339(1_604_523_600_000), "2020-11-04T21:00:00Z");
        assert_eq!(weekday(days_from_civil(2021, 12, 17)), 4); // a Friday
        assert_eq!(third_friday(2021, 12), days_from_civil(2021, 12, 17));
        assert_eq!(third_friday(2024, 3), days_from_civil(2024, 3, 15));
    }

    #[test]
    fn dates_parse_in_every_written_form() {
        let dec17 = days_from_civil(2021, 12, 17);
        assert_eq!(parse_date("2021-12-17"), Some(dec17));
        assert_eq!(parse_date("12-17-2021"), Some(dec17));
        assert_eq!(parse_date("12/17/2021"), Some(dec17));
        assert_eq!(parse_date("2021-12-17T00:00:00Z"), Some(dec17));
        assert_eq!(parse_date("2021-02-30"), None);
        assert_eq!(parse_date("2021-12-1x"), None);
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(
            parse_instant("2020-11-04T21:00:00Z", false),
            Some(1_604_523_600_000)
        );
        assert_eq!(
            parse_instant("2020-11-04", true),
            Some(days_from_civil(2020, 11, 5) * DAY_MS - 1)
        );
        assert_eq!(parse_instant("2020-11-04T25:00:00Z", false), None);
    }
}
