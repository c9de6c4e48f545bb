//! GeoJSON geometry checks for `extent_geospatial`: types, positions in WGS84
//! longitude/latitude ranges, closed polygon rings of at least four positions.

use serde_json::Value;

use crate::report::Finding;

const ORDER_FIX: &str = "write WGS84 positions as [longitude, latitude], longitude in -180..180 and latitude in -90..90";

/// Checks a non-null GeoJSON geometry at JSON pointer `path`.
pub(crate) fn check_geometry(g: &Value, path: &str, out: &mut Vec<Finding>) {
    let Some(obj) = g.as_object() else {
        out.push(
            Finding::new(path, "geometry must be a GeoJSON geometry object or null")
                .with_fix("write e.g. {\"type\": \"Polygon\", \"coordinates\": [[[-180,-90],[180,-90],[180,90],[-180,90],[-180,-90]]]}, or null when unknown"),
        );
        return;
    };
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
    if ty == "GeometryCollection" {
        match obj.get("geometries").and_then(Value::as_array) {
            Some(gs) => {
                for (i, g) in gs.iter().enumerate() {
                    check_geometry(g, &format!("{path}/geometries/{i}"), out);
                }
            }
            None => out.push(
                Finding::new(path, "a GeometryCollection needs a `geometries` array")
                    .with_fix("add `geometries`: [ ...geometries... ]"),
            ),
        }
        return;
    }
    let cpath = format!("{path}/coordinates");
    let Some(c) = obj.get("coordinates") else {
        out.push(
            Finding::new(
                path,
                format!("geometry of type {ty:?} has no `coordinates`"),
            )
            .with_fix("add the `coordinates` member"),
        );
        return;
    };
    match ty {
        "Point" => position(c, &cpath, out),
        "MultiPoint" => each(c, &cpath, out, position),
        "LineString" => line(c, &cpath, out),
        "MultiLineString" => each(c, &cpath, out, line),
        "Polygon" => polygon(c, &cpath, out),
        "MultiPolygon" => each(c, &cpath, out, polygon),
        other => out.push(
            Finding::new(
                format!("{path}/type"),
                format!("{other:?} is not a GeoJSON geometry type"),
            )
            .with_fix("use Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon or GeometryCollection"),
        ),
    }
    if let Some(bbox) = obj.get("bbox") {
        check_bbox(bbox, &format!("{path}/bbox"), out);
    }
}

fn each(
    c: &Value,
    path: &str,
    out: &mut Vec<Finding>,
    f: impl Fn(&Value, &str, &mut Vec<Finding>),
) {
    match c.as_array() {
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                f(item, &format!("{path}/{i}"), out);
            }
        }
        None => out.push(Finding::new(path, "coordinates must be an array").with_fix(ORDER_FIX)),
    }
}

/// Longitude and latitude of a valid position.
fn position_values(p: &Value, path: &str, out: &mut Vec<Finding>) -> Option<(f64, f64)> {
    let Some(a) = p.as_array() else {
        out.push(
            Finding::new(
                path,
                "a position must be an array of numbers [lon, lat(, height)]",
            )
            .with_fix(ORDER_FIX),
        );
        return None;
    };
    if a.len() < 2 || a.len() > 3 {
        out.push(
            Finding::new(
                path,
                format!(
                    "a position has 2 or 3 numbers [lon, lat(, height)], found {}",
                    a.len()
                ),
            )
            .with_fix(ORDER_FIX),
        );
        return None;
    }
    let mut nums = [0.0f64; 3];
    for (i, v) in a.iter().enumerate() {
        match v.as_f64() {
            Some(n) if n.is_finite() => nums[i] = n,
            _ => {
                out.push(
                    Finding::new(format!("{path}/{i}"), format!("{v} is not a number"))
                        .with_fix("write coordinates as JSON numbers, not strings"),
                );
                return None;
            }
        }
    }
    let (lon, lat) = (nums[0], nums[1]);
    let mut ok = true;
    if !(-180.0..=180.0).contains(&lon) {
        out.push(
            Finding::new(
                format!("{path}/0"),
                format!("longitude {lon} is outside -180..180"),
            )
            .with_fix(ORDER_FIX),
        );
        ok = false;
    }
    if !(-90.0..=90.0).contains(&lat) {
        let hint = if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) {
            " (latitude and longitude look swapped)"
        } else {
            ""
        };
        out.push(
            Finding::new(
                format!("{path}/1"),
                format!("latitude {lat} is outside -90..90{hint}"),
            )
            .with_fix(ORDER_FIX),
        );
        ok = false;
    }
    ok.then_some((lon, lat))
}

fn position(p: &Value, path: &str, out: &mut Vec<Finding>) {
    let _ = position_values(p, path, out);
}

fn line(c: &Value, path: &str, out: &mut Vec<Finding>) {
    match c.as_array() {
        Some(a) if a.len() >= 2 => {
            for (i, p) in a.iter().enumerate() {
                position(p, &format!("{path}/{i}"), out);
            }
        }
        _ => out.push(
            Finding::new(path, "a LineString needs at least 2 positions")
                .with_fix("add positions, or use a Point"),
        ),
    }
}

fn polygon(c: &Value, path: &str, out: &mut Vec<Finding>) {
    let Some(rings) = c.as_array() else {
        out.push(
            Finding::new(path, "Polygon coordinates must be an array of linear rings").with_fix(
                "write [[[lon, lat], ...]]: an array of rings, each an array of positions",
            ),
        );
        return;
    };
    if rings.is_empty() {
        out.push(
            Finding::new(path, "a Polygon needs at least one linear ring")
                .with_fix("add the exterior ring [[lon, lat], ..., first position repeated]"),
        );
    }
    for (r, ring) in rings.iter().enumerate() {
        linear_ring(ring, &format!("{path}/{r}"), out);
    }
}

/// Checks one linear ring of a Polygon: an array of at least 4 valid positions, closed,
/// with 3 distinct corners at least.
fn linear_ring(ring: &Value, path: &str, out: &mut Vec<Finding>) {
    let Some(positions) = ring.as_array() else {
        out.push(
            Finding::new(path, "a linear ring must be an array of positions")
                .with_fix("write [[lon, lat], ...]"),
        );
        return;
    };
    if positions.len() < 4 {
        out.push(
            Finding::new(
                path,
                format!(
                    "a linear ring needs at least 4 positions (closed), found {}",
                    positions.len()
                ),
            )
            .with_fix("list at least 3 distinct corners and repeat the first position at the end"),
        );
        return;
    }
    let mut pts = Vec::with_capacity(positions.len());
    let before = out.len();
    for (i, p) in positions.iter().enumerate() {
        if let Some(v) = position_values(p, &format!("{path}/{i}"), out) {
            pts.push(v);
        }
    }
    if out.len() != before {
        return;
    }
    if positions.first() != positions.last() {
        out.push(
            Finding::new(
                path,
                "linear ring is not closed: its last position differs from its first",
            )
            .with_fix("repeat the first position at the end of the ring"),
        );
        return;
    }
    let mut distinct: Vec<(f64, f64)> = Vec::with_capacity(4);
    for p in &pts {
        if !distinct.contains(p) {
            distinct.push(*p);
            if distinct.len() >= 3 {
                break;
            }
        }
    }
    if distinct.len() < 3 {
        out.push(
            Finding::new(
                path,
                "degenerate linear ring: fewer than 3 distinct positions",
            )
            .with_fix(
                "give the ring an area (3 distinct corners at least), or use a Point or LineString",
            ),
        );
    }
}

/// Checks a GeoJSON `bbox` ([w, s, e, n] or with heights).
pub(crate) fn check_bbox(b: &Value, path: &str, out: &mut Vec<Finding>) {
    let fix = "write bbox as [west, south, east, north] in WGS84 degrees";
    let Some(a) = b.as_array() else {
        out.push(Finding::new(path, "bbox must be an array of numbers").with_fix(fix));
        return;
    };
    let nums: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
    let Some(n) = nums else {
        out.push(Finding::new(path, "bbox must hold numbers only").with_fix(fix));
        return;
    };
    let (w, s, e, north) = match n.len() {
        4 => (n[0], n[1], n[2], n[3]),
        6 => (n[0], n[1], n[3], n[4]),
        len => {
            out.push(
                Finding::new(path, format!("bbox has 4 or 6 numbers, found {len}")).with_fix(fix),
            );
            return;
        }
    };
    for (v, lim, what) in [
        (w, 180.0, "west"),
        (e, 180.0, "east"),
        (s, 90.0, "south"),
        (north, 90.0, "north"),
    ] {
        if !(-lim..=lim).contains(&v) {
            out.push(
                Finding::new(path, format!("bbox {what} {v} is outside -{lim}..{lim}"))
                    .with_fix(fix),
            );
        }
    }
    if s > north {
        out.push(
            Finding::new(
                path,
                format!("bbox south {s} is greater than north {north}"),
            )
            .with_fix(fix),
        );
    }
}
