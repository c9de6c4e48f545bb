//! Dates, times and ISO 8601 durations as WCMP2 writes them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// An ISO 8601 duration (`P1D`, `PT1H`, `P1Y2M`, `PT0.5S`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IsoDuration {
    pub negative: bool,
    pub years: u64,
    pub months: u64,
    pub weeks: u64,
    pub days: u64,
    pub hours: u64,
    pub minutes: u64,
    pub seconds: f64,
}

impl IsoDuration {
    /// True when every component is zero (`PT0S`).
    pub fn is_zero(&self) -> bool {
        self.years == 0
            && self.months == 0
            && self.weeks == 0
            && self.days == 0
            && self.hours == 0
            && self.minutes == 0
            && self.seconds == 0.0
    }
}

/// Why a duration is invalid, with the corrected form when one can be derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    pub message: String,
    pub fix: String,
}

const DURATION_HELP: &str = "write an ISO 8601 duration: P then date parts nY nM nW|nD, then T and time parts nH nM nS, e.g. PT1H (one hour), PT10M, P1D, P1M";

fn unit_name(designator: char, n: &str) -> String {
    let unit = match designator {
        'H' => "hour",
        'S' => "second",
        _ => "unit",
    };
    if n == "1" {
        format!("one {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Parses an ISO 8601 duration as the WCMP2 schema allows it (`resolution`).
///
/// `P1H` (a time part without `T`) gets the message
/// "P1H is not a valid duration for one hour: write PT1H".
pub fn parse_duration(s: &str) -> Result<IsoDuration, DurationError> {
    let fail = |message: String, fix: String| Err(DurationError { message, fix });
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut d = IsoDuration::default();
    if bytes.first() == Some(&b'-') {
        d.negative = true;
        i = 1;
    }
    match bytes.get(i) {
        Some(b'P') => i += 1,
        Some(b'p') => {
            return fail(
                format!("{s:?} is not a valid ISO 8601 duration: designators are upper case"),
                format!("write {}", s.to_ascii_uppercase()),
            );
        }
        _ => {
            return fail(
                format!("{s:?} is not a valid ISO 8601 duration: it must start with P"),
                DURATION_HELP.to_string(),
            );
        }
    }
    // Order ranks: date part Y=1 M=2 W|D=3; time part H=4 M=5 S=6.
    let mut rank = 0u8;
    let mut in_time = false;
    let mut time_components = 0;
    let mut components = 0;
    let mut t_insert_at: Option<usize> = None;
    while i < bytes.len() {
        if bytes[i] == b'T' {
            if in_time {
                return fail(
                    format!("{s:?} is not a valid ISO 8601 duration: T appears twice"),
                    DURATION_HELP.to_string(),
                );
            }
            in_time = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut frac = false;
        if i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b',') {
            frac = true;
            i += 1;
            let fstart = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == fstart {
                return fail(
                    format!("{s:?} is not a valid ISO 8601 duration: empty fraction"),
                    DURATION_HELP.to_string(),
                );
            }
        }
        let num = &s[start..i];
        if num.is_empty() || num.starts_with('.') || num.starts_with(',') {
            return fail(
                format!(
                    "{s:?} is not a valid ISO 8601 duration: a number must precede each designator"
                ),
                DURATION_HELP.to_string(),
            );
        }
        let Some(&designator) = bytes.get(i) else {
            return fail(
                format!("{s:?} is not a valid ISO 8601 duration: {num} has no designator"),
                DURATION_HELP.to_string(),
            );
        };
        i += 1;
        let designator = designator as char;
        if designator.is_ascii_lowercase() {
            return fail(
                format!("{s:?} is not a valid ISO 8601 duration: designators are upper case"),
                format!("write {}", s.to_ascii_uppercase()),
            );
        }
        let r = match (in_time, designator) {
            (false, 'Y') => 1,
            (false, 'M') => 2,
            (false, 'W') | (false, 'D') => 3,
            (true, 'H') => 4,
            (true, 'M') => 5,
            (true, 'S') => 6,
            (false, 'H') | (false, 'S') => {
                // A time component before T: P1H, P30S, P1D6H.
                t_insert_at.get_or_insert(start);
                7
            }
            _ => {
                return fail(
                    format!(
                        "{s:?} is not a valid ISO 8601 duration: unexpected designator {designator}"
                    ),
                    DURATION_HELP.to_string(),
                );
            }
        };
        if r == 7 {
            components += 1;
            continue;
        }
        if r <= rank {
            return fail(
                format!(
                    "{s:?} is not a valid ISO 8601 duration: components must be in the order Y M W|D T H M S, each at most once"
                ),
                DURATION_HELP.to_string(),
            );
        }
        rank = r;
        if frac && designator != 'S' {
            return fail(
                format!(
                    "{s:?} is not a valid duration for the WCMP2 schema: only seconds may have a fraction"
                ),
                "use a smaller unit, e.g. PT90M instead of PT1.5H".to_string(),
            );
        }
        let int = || num.parse::<u64>().unwrap_or(u64::MAX);
        match (in_time, designator) {
            (false, 'Y') => d.years = int(),
            (false, 'M') => d.months = int(),
            (false, 'W') => d.weeks = int(),
            (false, 'D') => d.days = int(),
            (true, 'H') => d.hours = int(),
            (true, 'M') => d.minutes = int(),
            _ => d.seconds = num.replace(',', ".").parse::<f64>().unwrap_or(f64::MAX),
        }
        components += 1;
        if in_time {
            time_components += 1;
        }
    }
    if let Some(at) = t_insert_at {
        let fixed = format!("{}T{}", &s[..at], &s[at..]);
        let fixed_ok = parse_duration(&fixed).is_ok();
        let single = &s[at..];
        let only = single.len() >= 2
            && single[..single.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit())
            && at == 1 + usize::from(d.negative);
        let message = if only {
            let n = &single[..single.len() - 1];
            let unit = single.as_bytes()[single.len() - 1] as char;
            format!(
                "{s} is not a valid duration for {}: write {fixed}",
                unit_name(unit, n)
            )
        } else {
            format!(
                "{s} is not a valid duration: hours, minutes and seconds come after T: write {fixed}"
            )
        };
        let fix = if fixed_ok {
            format!("write {fixed}")
        } else {
            DURATION_HELP.to_string()
        };
        return fail(message, fix);
    }
    if components == 0 {
        return fail(
            format!("{s:?} is not a valid ISO 8601 duration: it has no component"),
            DURATION_HELP.to_string(),
        );
    }
    if in_time && time_components == 0 {
        return fail(
            format!("{s:?} is not a valid ISO 8601 duration: T must be followed by H, M or S"),
            format!("write {}", s.trim_end_matches('T')),
        );
    }
    Ok(d)
}

/// One end of a WCMP2 temporal interval, or a `date`/`timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePoint {
    /// Open end: `..` or `null`.
    Open,
    /// The first instant of the year, month, day or the timestamp itself.
    At(NaiveDateTime),
    /// A time of day without a date (`T12:00Z`), which the schema allows.
    TimeOfDay,
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD` as a real calendar date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 || s.as_bytes()[4] != b'-' || s.as_bytes()[7] != b'-' {
        return None;
    }
    let y = digits(s.get(0..4)?)?;
    let m = digits(s.get(5..7)?)?;
    let d = digits(s.get(8..10)?)?;
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// Parses an RFC 3339 date-time (`T` separator, offset required).
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    if s.len() < 20 || !matches!(s.as_bytes()[10], b'T' | b't') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `T12`, `T12:30Z`, `T12:30:15.5Z`.
fn is_time_of_day(s: &str) -> bool {
    let Some(body) = s.strip_prefix('T').and_then(|b| b.strip_suffix('Z')) else {
        return false;
    };
    let parts: Vec<&str> = body.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return false;
    }
    let limits = [24u32, 60, 61];
    parts.iter().enumerate().all(|(i, p)| {
        let (int, frac) = match p.split_once('.') {
            Some((a, f)) if i == parts.len() - 1 => (a, Some(f)),
            Some(_) => return false,
            None => (*p, None),
        };
        int.len() == 2
            && digits(int).is_some_and(|v| v < limits[i])
            && frac.is_none_or(|f| digits(f).is_some())
    })
}

/// Parses one interval end. `Err` carries the reason and the fix.
pub fn parse_time_point(s: &str) -> Result<TimePoint, (String, String)> {
    if s == ".." {
        return Ok(TimePoint::Open);
    }
    let bad = |why: &str| {
        Err((
            format!("{s:?} is not a valid time: {why}"),
            "write YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 UTC timestamp such as 2024-01-01T00:00:00Z, or .. for an open end".to_string(),
        ))
    };
    if s.starts_with('T') {
        return if is_time_of_day(s) {
            Ok(TimePoint::TimeOfDay)
        } else {
            bad("not a UTC time of day such as T12:00Z")
        };
    }
    match s.len() {
        4 => match digits(s).and_then(|y| NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, 1, 1)) {
            Some(d) => Ok(TimePoint::At(d.and_time(chrono::NaiveTime::MIN))),
            None => bad("not a year"),
        },
        7 => {
            let ok = s.as_bytes()[4] == b'-';
            let y = s.get(0..4).and_then(digits);
            let m = s.get(5..7).and_then(digits);
            match (ok, y, m) {
                (true, Some(y), Some(m)) => {
                    match NaiveDate::from_ymd_opt(i32::try_from(y).unwrap_or(i32::MAX), m, 1) {
                        Some(d) => Ok(TimePoint::At(d.and_time(chrono::NaiveTime::MIN))),
                        None => bad("no such month"),
                    }
                }
                _ => bad("not YYYY-MM"),
            }
        }
        10 => match parse_date(s) {
            Some(d) => Ok(TimePoint::At(d.and_time(chrono::NaiveTime::MIN))),
            None => bad("not a calendar date YYYY-MM-DD"),
        },
        _ => match parse_rfc3339(s) {
            Some(t) if s.ends_with('Z') || s.ends_with('z') => Ok(TimePoint::At(t.naive_utc())),
            Some(_) => Err((
                format!("{s:?} is not in UTC"),
                "write the timestamp in UTC with a Z suffix, e.g. 2024-01-01T00:00:00Z".to_string(),
            )),
            None => bad("not RFC 3339"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H").map(|d| d.hours), Ok(1));
        assert!(parse_duration("P1D").is_ok());
        assert!(parse_duration("PT15M").is_ok());
        assert!(parse_duration("P1Y2M10DT2H30M").is_ok());
        assert!(parse_duration("PT0.5S").is_ok());
        assert!(parse_duration("P2W").is_ok());
        let e = parse_duration("P1H").expect_err("P1H");
        assert_eq!(
            e.message,
            "P1H is not a valid duration for one hour: write PT1H"
        );
        assert_eq!(e.fix, "write PT1H");
        let e = parse_duration("P6H").expect_err("P6H");
        assert!(e.message.contains("for 6 hours: write PT6H"), "{e:?}");
        let e = parse_duration("P1D6H").expect_err("P1D6H");
        assert!(e.message.contains("write P1DT6H"), "{e:?}");
        for bad in [
            "", "P", "PT", "1H", "P1", "PT1D", "P1M1Y", "pt1h", "PT1.5H", "P1DT",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_points() {
        assert!(matches!(parse_time_point(".."), Ok(TimePoint::Open)));
        assert!(matches!(parse_time_point("1997"), Ok(TimePoint::At(_))));
        assert!(matches!(parse_time_point("1997-02"), Ok(TimePoint::At(_))));
        assert!(matches!(
            parse_time_point("2024-02-29"),
            Ok(TimePoint::At(_))
        ));
        assert!(parse_time_point("2023-02-29").is_err());
        assert!(matches!(
            parse_time_point("2024-01-01T00:00:00Z"),
            Ok(TimePoint::At(_))
        ));
        assert!(parse_time_point("2024-01-01T00:00:00+02:00").is_err());
        assert!(matches!(
            parse_time_point("T12:00Z"),
            Ok(TimePoint::TimeOfDay)
        ));
        assert!(parse_time_point("yesterday").is_err());
        // Multi-byte characters never split a slice.
        for odd in [
            "12€-01",
            "1€",
            "199€",
            "2024-0€-01",
            "T1€Z",
            "P1€",
            "€€€€€€€€€€€€€€€€€€€€",
        ] {
            assert!(parse_time_point(odd).is_err(), "{odd}");
            assert!(parse_duration(odd).is_err(), "{odd}");
            assert!(parse_rfc3339(odd).is_none(), "{odd}");
        }
        assert!(parse_rfc3339("2024-01-01 00:00:00Z").is_none());
    }
}
