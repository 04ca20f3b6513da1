//! The four date formats S3 speaks, without a date-time dependency.
//!
//! All times are UTC; S3 never sends or expects another zone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day count since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    millis: u32,
    weekday: usize,
}

fn parts(t: SystemTime) -> Parts {
    // Times before 1970 do not occur here; clamp rather than fail.
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        millis: d.subsec_millis(),
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// `20130524T000000Z`, the SigV4 `x-amz-date` format.
#[cfg(test)]
pub(crate) fn amz_date(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        p.year, p.month, p.day, p.hour, p.min, p.sec
    )
}

/// Parses `20130524T000000Z`.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `Fri, 24 May 2013 00:00:00 GMT`, for `Last-Modified`.
pub(crate) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[p.weekday],
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.min,
        p.sec
    )
}

/// `2013-05-24T00:00:00.000Z`, for XML timestamps.
pub(crate) fn iso8601_millis(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.min, p.sec, p.millis
    )
}

/// `2013-05-24T00:00:00Z`, the session expiration format the SDK parses.
pub(crate) fn iso8601_secs(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.min, p.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_known_instant() {
        // 2013-05-24T00:00:00Z, the date of the AWS SigV4 examples.
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        assert_eq!(amz_date(t), "20130524T000000Z");
        assert_eq!(http_date(t), "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(iso8601_millis(t), "2013-05-24T00:00:00.000Z");
        assert_eq!(iso8601_secs(t), "2013-05-24T00:00:00Z");
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(t));
    }

    #[test]
    fn round_trips_across_leap_years_and_month_ends() {
        for secs in [0u64, 951_782_399, 951_868_800, 1_709_251_199, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_amz_date(&amz_date(t)), Some(t), "secs {secs}");
        }
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601_secs(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "20130524T000000",
            "2013052AT000000Z",
            "20131324T000000Z",
            "２0130524T00000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
