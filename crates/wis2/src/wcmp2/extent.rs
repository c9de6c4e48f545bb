//! Where and when: the geospatial and the temporal extent of a record.

use serde_json::Value;

use crate::report::Finding;

use super::context::Ctx;
use super::{geo, temporal};

/// `extent_geospatial`: a GeoJSON geometry or null, WGS84, closed rings; the bbox.
pub(super) fn geospatial(cx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match cx.rec.get("geometry") {
        None => out.push(
            Finding::new("/geometry", "the record has no geometry")
                .with_fix("add \"geometry\": a GeoJSON Polygon of the data's extent, or null when it has none"),
        ),
        Some(Value::Null) => {}
        Some(g) => geo::check_geometry(g, "/geometry", &mut out),
    }
    if let Some(b) = cx.rec.get("bbox") {
        geo::check_bbox(b, "/bbox", &mut out);
    }
    out
}

/// `extent_temporal`: `time` null, or a date, timestamp or interval, and a
/// resolution.
pub(super) fn temporal(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    use temporal::TimePoint;
    let mut out = Vec::new();
    let time = match cx.rec.get("time") {
        None => {
            return vec![
                Finding::new("/time", "the record has no time member")
                    .with_fix("add \"time\": {\"interval\": [\"<start>\", \"..\"]}, or null when the data has no temporal extent"),
            ];
        }
        Some(Value::Null) => return out,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return vec![
                Finding::new("/time", format!("time {other} must be an object or null"))
                    .with_fix("write {\"interval\": [start, end]}, {\"date\": \"YYYY-MM-DD\"} or {\"timestamp\": \"...Z\"}"),
            ];
        }
    };
    if let Some(d) = time.get("date")
        && d.as_str().and_then(temporal::parse_date).is_none()
    {
        out.push(
            Finding::new(
                "/time/date",
                format!("date {d} is not a calendar date YYYY-MM-DD"),
            )
            .with_fix("write e.g. 2024-01-31"),
        );
    }
    if let Some(t) = time.get("timestamp") {
        let ok = t.as_str().is_some_and(|s| {
            (s.ends_with('Z') || s.ends_with('z')) && temporal::parse_rfc3339(s).is_some()
        });
        if !ok {
            out.push(
                Finding::new(
                    "/time/timestamp",
                    format!("timestamp {t} is not an RFC 3339 UTC date-time"),
                )
                .with_fix("write e.g. 2024-01-31T12:00:00Z"),
            );
        }
    }
    if let Some(iv) = time.get("interval") {
        let fix_shape = "write [start, end]: each YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 UTC timestamp, and .. (or null) for an open end";
        match iv.as_array() {
            Some(a) if a.len() == 2 => {
                let mut ends = [TimePoint::Open; 2];
                for (i, v) in a.iter().enumerate() {
                    let p = format!("/time/interval/{i}");
                    match v {
                        Value::Null => {}
                        Value::String(s) => match temporal::parse_time_point(s) {
                            Ok(t) => ends[i] = t,
                            Err((msg, fix)) => out.push(Finding::new(p, msg).with_fix(fix)),
                        },
                        other => out.push(
                            Finding::new(p, format!("{other} is not a time")).with_fix(fix_shape),
                        ),
                    }
                }
                match ends {
                    [TimePoint::At(s), TimePoint::At(e)] if s > e => out.push(
                        Finding::new("/time/interval", format!("interval starts ({}) after it ends ({})", a[0], a[1]))
                            .with_fix("put the start first; write .. for an open end"),
                    ),
                    [TimePoint::Open, TimePoint::Open] if out.is_empty() => warnings.push(
                        Finding::new("/time/interval", "both ends of the interval are open")
                            .with_fix("give at least the start of the data, e.g. [\"1997-01-01\", \"..\"]"),
                    ),
                    _ => {}
                }
            }
            Some(a) => out.push(
                Finding::new(
                    "/time/interval",
                    format!("interval has {} items, it needs exactly 2", a.len()),
                )
                .with_fix(fix_shape),
            ),
            None => out.push(
                Finding::new("/time/interval", "interval must be an array").with_fix(fix_shape),
            ),
        }
    }
    if let Some(r) = time.get("resolution") {
        match r.as_str() {
            Some(s) => match temporal::parse_duration(s) {
                Ok(d) if d.negative => out.push(
                    Finding::new("/time/resolution", format!("resolution {s} is negative"))
                        .with_fix(format!("write {}", &s[1..])),
                ),
                Ok(d) if d.is_zero() => warnings.push(
                    Finding::new("/time/resolution", format!("resolution {s} is zero"))
                        .with_fix("give the smallest time step of the data, e.g. PT1H, or leave resolution out"),
                ),
                Ok(_) => {}
                Err(e) => out.push(Finding::new("/time/resolution", e.message).with_fix(e.fix)),
            },
            None => out.push(Finding::new("/time/resolution", format!("resolution {r} is not a string")).with_fix("write an ISO 8601 duration such as PT1H")),
        }
    }
    out
}
