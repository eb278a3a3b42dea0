//! A small RFC 3339 parser, enough for an `ExecCredential`'s `status.expirationTimestamp`.
//!
//! Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`, with `T`/`t`/space as the separator and
//! `Z`/`z` for UTC. Fractions beyond nanoseconds are truncated. No chrono, no time crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 timestamp, or `None` when it is not one.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; it is read as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return None;
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }

    let offset_seconds: i64 = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            if b.len() < i + 6 || b[i + 3] != b':' {
                return None;
            }
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let magnitude = i64::from(oh) * 3600 + i64::from(om) * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    if i != b.len() {
        return None;
    }

    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_seconds;
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(seconds.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

/// `len` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let field = b.get(at..at + len)?;
    field.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<i128> {
        parse_rfc3339(text).map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        })
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            secs("2024-01-01T00:00:00Z"),
            Some(1_704_067_200 * 1_000_000_000)
        );
        assert_eq!(
            secs("2024-02-29t12:30:15z"),
            Some(1_709_209_815 * 1_000_000_000)
        );
        assert_eq!(secs("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(secs("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(secs("1970-01-01T00:00:00.123456789123Z"), Some(123_456_789));
        assert_eq!(secs("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(secs("1969-12-31T19:30:00-04:30"), Some(0));
        assert_eq!(
            secs("2024-01-01 00:00:00Z"),
            Some(1_704_067_200 * 1_000_000_000)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+0200",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T00:00:00+24:00",
            "2024-1-01T00:00:00Z",
            "２０２4-01-01T00:00:00Z",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }
}
