//! The four date formats S3 speaks, on humantime (RFC 3339) and httpdate
//! (RFC 7231), both already compiled into s3bench through its HTTP stack.
//!
//! All times are UTC; S3 never sends or expects another zone.

use std::time::SystemTime;

/// `20130524T000000Z`, the `x-amz-date` format of SigV4 (tests sign with it).
#[cfg(test)]
pub(crate) fn amz_date(t: SystemTime) -> String {
    // 2013-05-24T00:00:00Z -> 20130524T000000Z
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(['-', ':'], "")
}

/// Parses `x-amz-date`; None unless it is exactly `YYYYMMDDTHHMMSSZ`.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 16 || !digits(0..8) || b[8] != b'T' || !digits(9..15) || b[15] != b'Z' {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    humantime::parse_rfc3339(&rfc).ok()
}

/// `Fri, 24 May 2013 00:00:00 GMT`, for `Last-Modified` and `Date`.
pub(crate) fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// `2013-05-24T00:00:00.000Z`, the XML timestamp format of S3 listings.
pub(crate) fn iso8601_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `2013-05-24T00:00:00Z`, the session expiration format the SDK parses.
pub(crate) fn iso8601_secs(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

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
