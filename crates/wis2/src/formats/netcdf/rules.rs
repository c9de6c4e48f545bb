//! The reading rules (Argo conventions, see [`super`]) over any netCDF file: what
//! they need of a file ([`Source`]), what they give ([`NetcdfFacts`]), and why a file
//! cannot be read ([`NetcdfError`]).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::message::{Geometry, Temporal};

/// Argo's fill value for `JULD` and `JULD_LOCATION`.
pub const JULD_FILL: f64 = 999_999.0;
/// Argo's fill value for `LATITUDE` and `LONGITUDE`.
pub const POSITION_FILL: f64 = 99_999.0;
/// Reference time when neither `units` nor `REFERENCE_DATE_TIME` says otherwise.
pub const DEFAULT_REFERENCE: &str = "1950-01-01T00:00:00Z";

/// Variables longer than this are not read (a damaged header can claim any size).
const MAX_VALUES: usize = 20_000_000;

/// Derived times outside these years are damage, not data.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Time and place of an Argo (or any) netCDF file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetcdfFacts {
    pub temporal: Temporal,
    pub geometry: Option<Geometry>,
    /// Which variable gave the time (`JULD` or `JULD_LOCATION`), if any.
    pub time_variable: Option<&'static str>,
    /// What was skipped or assumed, for the operator.
    pub notes: Vec<String>,
}

/// Why a netCDF file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetcdfError {
    #[error(
        "libnetcdf cannot open it ({0}): the file is damaged, truncated or not netCDF; send the complete, valid file"
    )]
    Open(String),
    #[error("cannot read variable {var} ({reason}): the file is damaged or truncated")]
    Read { var: String, reason: String },
    #[error(
        "{var} has {len} values, more than the {MAX_VALUES} this reader accepts: the header is damaged"
    )]
    TooLarge { var: String, len: usize },
    #[error("{var} units `{units}` are not understood: expected `days since YYYY-MM-DD HH:MM:SS`")]
    Units { var: String, units: String },
    #[error(
        "REFERENCE_DATE_TIME `{0}` is not a date YYYYMMDDHHMISS: correct it (normally 19500101000000)"
    )]
    Reference(String),
    #[error("{var} is not numeric: it must be days (double)")]
    NotNumeric { var: String },
    #[error(
        "the file is {actual} bytes but its header puts the end of its data at byte {expected}: it is truncated (still being written, or cut in transfer); send the complete file"
    )]
    Truncated { expected: u64, actual: u64 },
    #[error(
        "the netCDF classic header is cut off (the file is {0} bytes): it is truncated; send the complete file"
    )]
    HeaderTruncated(u64),
    #[error("the netCDF classic header is damaged ({0}); re-create the file")]
    Header(String),
}

/// What the reading rules need of a netCDF file, whichever library reads it.
pub(super) trait Source {
    /// The variable `name`, when the file has it.
    fn var(&self, name: &str) -> Option<Var>;
    /// All values of a numeric variable as `f64` (its kind is [`Kind::Number`]).
    fn numbers(&mut self, name: &str) -> Result<Vec<f64>, String>;
    /// The bytes of a `char` variable.
    fn chars(&mut self, name: &str) -> Result<Vec<u8>, String>;
    /// The value of a one-element netCDF-4 `string` variable.
    fn string(&mut self, name: &str) -> Result<String, String>;
    /// A text attribute of a variable (up to its first NUL).
    fn text_attribute(&self, var: &str, attr: &str) -> Option<String>;
    /// The first value of a numeric attribute of a variable.
    fn number_attribute(&self, var: &str, attr: &str) -> Option<f64>;
}

/// What a variable holds, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Number,
    Char,
    String,
    Other,
}

/// A variable of a file: its kind and number of values.
#[derive(Debug, Clone, Copy)]
pub(super) struct Var {
    pub kind: Kind,
    pub len: usize,
}

/// Time and place of a file, by the rules.
pub(super) fn read_source(file: &mut impl Source) -> Result<NetcdfFacts, NetcdfError> {
    let mut facts = NetcdfFacts::default();
    read_time(file, &mut facts)?;
    read_place(file, &mut facts)?;
    Ok(facts)
}

fn read_time(file: &mut impl Source, facts: &mut NetcdfFacts) -> Result<(), NetcdfError> {
    let reference = reference_date_time(file, &mut facts.notes)?;
    let mut tried = Vec::new();
    for name in ["JULD", "JULD_LOCATION"] {
        let Some(var) = file.var(name) else {
            tried.push(format!("{name} absent"));
            continue;
        };
        let values = numbers(file, var, name)?;
        let (scale_ms, base) = match file.text_attribute(name, "units") {
            Some(units) => {
                let (scale_ms, base) = parse_units(&units).ok_or_else(|| NetcdfError::Units {
                    var: name.into(),
                    units: units.clone(),
                })?;
                if let Some(r) = reference
                    && r != base
                {
                    facts.notes.push(format!(
                        "{name} units `{units}` disagree with REFERENCE_DATE_TIME {r}; the units are used"
                    ));
                }
                (scale_ms, base)
            }
            None => (MS_PER_DAY, reference.unwrap_or_else(default_reference)),
        };
        let fill = file
            .number_attribute(name, "_FillValue")
            .unwrap_or(JULD_FILL);
        // JULD_QC applies to JULD only; the location time has no QC of its own.
        let qc = if name == "JULD" {
            qc_flags(file, "JULD_QC", values.len(), &mut facts.notes)?
        } else {
            None
        };
        let (mut fills, mut nans, mut flagged, mut implausible) = (0, 0, 0, 0);
        let mut times = Vec::new();
        for (i, &d) in values.iter().enumerate() {
            if !d.is_finite() {
                nans += 1;
            } else if d == fill || d == JULD_FILL {
                fills += 1;
            } else if qc.as_ref().is_some_and(|q| q.get(i) == Some(&b'9')) {
                flagged += 1;
            } else {
                match offset_to_time(base, d, scale_ms) {
                    Some(t) => times.push(t),
                    None => implausible += 1,
                }
            }
        }
        let skipped = [
            (nans, "not a number"),
            (fills, "fill value"),
            (flagged, "JULD_QC 9 (missing)"),
            (implausible, "outside 1900-2200"),
        ];
        for (n, why) in skipped {
            if n > 0 {
                facts
                    .notes
                    .push(format!("{n} {name} value(s) skipped: {why}"));
            }
        }
        if times.is_empty() {
            tried.push(format!("{name} has no usable value"));
            continue;
        }
        facts.temporal = Temporal::from_times(times);
        facts.time_variable = Some(name);
        return Ok(());
    }
    facts
        .notes
        .push(format!("time unknown: {}", tried.join(", ")));
    Ok(())
}

fn read_place(file: &mut impl Source, facts: &mut NetcdfFacts) -> Result<(), NetcdfError> {
    let (Some(lat), Some(lon)) = (file.var("LATITUDE"), file.var("LONGITUDE")) else {
        facts
            .notes
            .push("place unknown: LATITUDE and LONGITUDE are not both present".into());
        return Ok(());
    };
    let lats = numbers(file, lat, "LATITUDE")?;
    let lons = numbers(file, lon, "LONGITUDE")?;
    if lats.len() != lons.len() {
        facts.notes.push(format!(
            "LATITUDE has {} values, LONGITUDE {}: only the first {} pairs are used",
            lats.len(),
            lons.len(),
            lats.len().min(lons.len())
        ));
    }
    let lat_fill = file
        .number_attribute("LATITUDE", "_FillValue")
        .unwrap_or(POSITION_FILL);
    let lon_fill = file
        .number_attribute("LONGITUDE", "_FillValue")
        .unwrap_or(POSITION_FILL);
    let qc = qc_flags(file, "POSITION_QC", lats.len(), &mut facts.notes)?;
    let mut skipped = 0;
    let mut positions = Vec::new();
    for (i, (&la, &lo)) in lats.iter().zip(&lons).enumerate() {
        let missing = la == lat_fill
            || lo == lon_fill
            || la == POSITION_FILL
            || lo == POSITION_FILL
            || qc.as_ref().is_some_and(|q| q.get(i) == Some(&b'9'));
        if missing {
            skipped += 1;
        } else {
            // Geometry::from_positions skips non-finite and out-of-range values.
            positions.push((lo, la));
        }
    }
    if skipped > 0 {
        facts.notes.push(format!(
            "{skipped} position(s) skipped: fill value or POSITION_QC 9"
        ));
    }
    facts.geometry = Geometry::from_positions(positions);
    if facts.geometry.is_none() {
        facts
            .notes
            .push("place unknown: no valid LATITUDE/LONGITUDE pair".into());
    }
    Ok(())
}

fn default_reference() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_REFERENCE)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `REFERENCE_DATE_TIME` when present and filled.
fn reference_date_time(
    file: &mut impl Source,
    notes: &mut Vec<String>,
) -> Result<Option<DateTime<Utc>>, NetcdfError> {
    const NAME: &str = "REFERENCE_DATE_TIME";
    let Some(var) = file.var(NAME) else {
        return Ok(None);
    };
    let read_err = |reason: String| NetcdfError::Read {
        var: NAME.into(),
        reason,
    };
    let text = match var.kind {
        Kind::Char => {
            check_len(var, NAME)?;
            String::from_utf8_lossy(&file.chars(NAME).map_err(read_err)?).into_owned()
        }
        Kind::String if var.len == 1 => file.string(NAME).map_err(read_err)?,
        _ => {
            notes.push("REFERENCE_DATE_TIME is not a character variable; ignored".into());
            return Ok(None);
        }
    };
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if text.is_empty() {
        notes.push("REFERENCE_DATE_TIME is empty; 1950-01-01 00:00:00 UTC assumed".into());
        return Ok(None);
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        .map(|t| Some(t.and_utc()))
        .map_err(|_| NetcdfError::Reference(text.to_string()))
}

/// One QC flag per value, when the flag variable exists and has that many.
fn qc_flags(
    file: &mut impl Source,
    name: &str,
    expected: usize,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, NetcdfError> {
    let Some(var) = file.var(name) else {
        return Ok(None);
    };
    if var.kind != Kind::Char {
        notes.push(format!("{name} is not a character variable; ignored"));
        return Ok(None);
    }
    check_len(var, name)?;
    let raw = file.chars(name).map_err(|reason| NetcdfError::Read {
        var: name.into(),
        reason,
    })?;
    if raw.len() != expected {
        notes.push(format!(
            "{name} has {} flags for {expected} values; ignored",
            raw.len()
        ));
        return Ok(None);
    }
    Ok(Some(raw))
}

fn check_len(var: Var, name: &str) -> Result<(), NetcdfError> {
    if var.len > MAX_VALUES {
        return Err(NetcdfError::TooLarge {
            var: name.into(),
            len: var.len,
        });
    }
    Ok(())
}

/// All values of a numeric variable as `f64`.
fn numbers(file: &mut impl Source, var: Var, name: &str) -> Result<Vec<f64>, NetcdfError> {
    if var.kind != Kind::Number {
        return Err(NetcdfError::NotNumeric { var: name.into() });
    }
    check_len(var, name)?;
    if var.len == 0 {
        return Ok(Vec::new());
    }
    file.numbers(name).map_err(|reason| NetcdfError::Read {
        var: name.into(),
        reason,
    })
}

/// `<unit> since <date>[ <time>][ UTC|Z|+00:00]` → (milliseconds per unit, reference).
/// Only UTC references are accepted: a time zone offset other than zero is refused
/// rather than guessed.
pub fn parse_units(units: &str) -> Option<(i64, DateTime<Utc>)> {
    let (unit, since) = units.trim().split_once(" since ")?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "days" | "day" | "d" => 86_400_000,
        "hours" | "hour" | "h" => 3_600_000,
        "minutes" | "minute" | "min" => 60_000,
        "seconds" | "second" | "s" | "sec" => 1_000,
        _ => return None,
    };
    let mut s = since.trim().to_string();
    for suffix in [
        " UTC", " utc", " GMT", "Z", "+00:00", " +00:00", "+0000", " 00:00",
    ] {
        if let Some(rest) = s.strip_suffix(suffix) {
            s = rest.trim_end().to_string();
            break;
        }
    }
    let s = s.replace('T', " ");
    let t = NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some((scale, t.and_utc()))
}

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `base + days`, converted with integer-millisecond precision and rounded to the
/// nearest whole second (half away from zero). `None` when out of the plausible range.
pub fn days_to_time(base: DateTime<Utc>, days: f64) -> Option<DateTime<Utc>> {
    offset_to_time(base, days, MS_PER_DAY)
}

/// `base + value` units of `ms_per_unit` milliseconds, as [`days_to_time`].
pub fn offset_to_time(base: DateTime<Utc>, value: f64, ms_per_unit: i64) -> Option<DateTime<Utc>> {
    let ms = value * ms_per_unit as f64;
    // 1e16 ms is ~300,000 years: beyond it the value is meaningless (and i64 is near).
    if !ms.is_finite() || ms.abs() > 1e16 {
        return None;
    }
    let ms = ms.round() as i64;
    let secs = if ms >= 0 {
        (ms + 500) / 1000
    } else {
        -((-ms + 500) / 1000)
    };
    let t = base.checked_add_signed(TimeDelta::try_seconds(secs)?)?;
    PLAUSIBLE_YEARS.contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn days_are_rounded_to_the_second() {
        let base = default_reference();
        assert_eq!(
            days_to_time(base, 26405.408333333333),
            Some(t("2022-04-18T09:48:00Z"))
        );
        // 05:44:42.99999... is 05:44:43, not 05:44:42.
        assert_eq!(
            days_to_time(base, 24980.239386574016),
            Some(t("2018-05-24T05:44:43Z"))
        );
        assert_eq!(days_to_time(base, 0.0), Some(t("1950-01-01T00:00:00Z")));
        assert_eq!(days_to_time(base, -1.0), Some(t("1949-12-31T00:00:00Z")));
        assert_eq!(days_to_time(base, f64::NAN), None);
        assert_eq!(days_to_time(base, 999_999.0), None, "year 4687");
        assert_eq!(days_to_time(base, 1e300), None);
    }

    #[test]
    fn units_are_parsed() {
        let r = t("1950-01-01T00:00:00Z");
        for u in [
            "days since 1950-01-01 00:00:00 UTC",
            "days since 1950-01-01T00:00:00Z",
            "days since 1950-01-01",
            "days since 1950-01-01 00:00",
        ] {
            assert_eq!(parse_units(u), Some((86_400_000, r)), "{u}");
        }
        assert_eq!(
            parse_units("seconds since 1970-01-01 00:00:00"),
            Some((1000, DateTime::<Utc>::UNIX_EPOCH))
        );
        assert_eq!(parse_units("days since 1950-01-01 00:00:00 +02:00"), None);
        assert_eq!(parse_units("degree_north"), None);
        assert_eq!(parse_units("fortnights since 1950-01-01"), None);
    }
}
