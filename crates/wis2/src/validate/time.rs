//! RFC 3339 date-times, parsed without allocation.
//!
//! The grammar is the one JSON Schema's `date-time` format asserts (RFC 3339 section
//! 5.6, `T`/`t` separator, `Z`/`z` or a numeric offset, leap second only at 23:59:60
//! UTC), so that the built-in check and the authoritative schema agree.

use chrono::{DateTime, Utc};

/// A parsed RFC 3339 date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    /// Seconds since 1970-01-01T00:00:00Z (UTC instant).
    pub unix_seconds: i64,
    /// Fraction of the second, in nanoseconds (digits beyond the ninth are ignored).
    pub nanos: u32,
    /// Offset from UTC in minutes (`Z` is 0).
    pub offset_minutes: i32,
    /// The zone was written `Z`/`z` or `+00:00`: UTC as the WNM requires.
    pub is_utc: bool,
}

impl Rfc3339 {
    /// The UTC instant, for comparisons.
    pub fn instant(&self) -> (i64, u32) {
        (self.unix_seconds, self.nanos)
    }

    /// The same instant written in UTC with a `Z` (for fix texts).
    pub fn to_utc_string(&self) -> String {
        // A leap second (second 60) is folded onto the next second by from_timestamp.
        match DateTime::<Utc>::from_timestamp(self.unix_seconds, self.nanos) {
            Some(t) => crate::message::rfc3339(&t),
            None => String::from("an RFC 3339 UTC time such as 2024-05-01T12:00:00Z"),
        }
    }
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    let (a, c) = (*b.get(i)?, *b.get(i + 1)?);
    if a.is_ascii_digit() && c.is_ascii_digit() {
        Some(u32::from(a - b'0') * 10 + u32::from(c - b'0'))
    } else {
        None
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an RFC 3339 date-time; `None` when it is not one.
pub fn parse(s: &str) -> Option<Rfc3339> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    // YYYY-MM-DD
    let year = i64::from(two(b, 0)? * 100 + two(b, 2)?);
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let month = two(b, 5)?;
    let day = two(b, 8)?;
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let max_day = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    };
    if day > max_day {
        return None;
    }
    if b[10] != b'T' && b[10] != b't' {
        return None;
    }
    // HH:MM:SS
    let hour = two(b, 11)?;
    let minute = two(b, 14)?;
    let second = two(b, 17)?;
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let (offset_minutes, is_utc) = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => (0i32, true),
        sign @ (b'+' | b'-') if b.len() - i == 6 && b[i + 3] == b':' => {
            let oh = two(b, i + 1)?;
            let om = two(b, i + 4)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) as i32;
            if *sign == b'+' {
                (off, off == 0)
            } else {
                // `-00:00` means "offset unknown" in RFC 3339: not UTC.
                (-off, false)
            }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    let unix_seconds = local - i64::from(offset_minutes) * 60;
    if second == 60 {
        // A leap second is only valid at 23:59:60 UTC.
        let utc_minute =
            (i64::from(hour * 60 + minute) - i64::from(offset_minutes)).rem_euclid(1440);
        if utc_minute != 23 * 60 + 59 {
            return None;
        }
    }
    Some(Rfc3339 {
        unix_seconds,
        nanos,
        offset_minutes,
        is_utc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let a = parse("2024-05-01T12:00:00Z").expect("valid");
        let b = parse("2024-05-01T14:00:00+02:00").expect("valid");
        assert_eq!(a.instant(), b.instant());
        assert!(a.is_utc && !b.is_utc);
        assert!(parse("2024-05-01T12:00:00+00:00").is_some_and(|t| t.is_utc));
        assert!(parse("2024-05-01T12:00:00-00:00").is_some_and(|t| !t.is_utc));
        assert_eq!(b.to_utc_string(), "2024-05-01T12:00:00Z");
        assert_eq!(
            parse("1970-01-01T00:00:01.5Z").map(|t| t.nanos),
            Some(500_000_000)
        );
        assert_eq!(
            parse("1969-12-31T23:59:59Z").map(|t| t.unix_seconds),
            Some(-1)
        );
        for bad in [
            "2024-05-01 12:00:00Z",
            "2024-05-01T12:00:00",
            "2024-02-30T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:60Z",
            "20240501T120000Z",
            "2024-05-01",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("2016-12-31T23:59:60Z").is_some());
        assert!(parse("2016-12-31T18:59:60-05:00").is_some());
        assert!(parse("2024-02-29T00:00:00Z").is_some());
    }
}
