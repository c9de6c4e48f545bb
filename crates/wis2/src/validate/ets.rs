//! The executable tests of the WNM abstract test suite, one per requirement class
//! (the inline content and its digest: see [`super::content`]).
//!
//! Each test checks its rule on whatever JSON it is given (a broken message makes
//! tests fail, never panic), independently of the schema, and says how to fix it.

use serde_json::Value;

use crate::message::Relation;
use crate::report::{Finding, TestResult};
use crate::{MAX_MESSAGE_BYTES, WNM_CONFORMANCE};

use super::context::{Ctx, f};
use super::ids;
use super::structure::is_uuid;
use super::time::{self, Rfc3339};

/// `id`: a UUID.
pub(crate) fn identifier(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    const FIX: &str = "set id to a fresh random UUID (v4) for every message, even a re-send, e.g. 31e9d66a-cd83-4174-9429-b932f1abe1be";
    match c.msg.get("id") {
        None => e.push(f("/id", "missing", FIX)),
        Some(Value::String(s)) if is_uuid(s) => {}
        Some(Value::String(s)) => e.push(f("/id", format!("`{s}` is not a UUID"), FIX)),
        Some(v) => e.push(f("/id", format!("{v} is not a string"), FIX)),
    }
    TestResult::from_errors(ids::IDENTIFIER, e)
}

/// `conformsTo` holds the WNM core class, or the deprecated `version: v04`; never both.
pub(crate) fn conformance(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    let fix = || format!("declare \"conformsTo\": [\"{WNM_CONFORMANCE}\"]");
    let conforms = c.msg.get("conformsTo");
    let version = c.msg.get("version");
    match (conforms, version) {
        (None, None) => e.push(f("/conformsTo", "missing", fix())),
        (_, Some(_)) if c.profile.is_draft() => e.push(f(
            "/version",
            "the deprecated version was removed in WNM 1.4.0 (INFCOM-4 draft)",
            format!("remove \"version\" and declare \"conformsTo\": [\"{WNM_CONFORMANCE}\"]"),
        )),
        (Some(_), Some(_)) => e.push(f(
            "/version",
            "both conformsTo and the deprecated version are present (never both)",
            "remove \"version\"",
        )),
        (Some(v), None) => {
            let ok = v
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(WNM_CONFORMANCE)));
            if !ok {
                e.push(f(
                    "/conformsTo",
                    format!("does not contain {WNM_CONFORMANCE}"),
                    fix(),
                ));
            }
        }
        (None, Some(v)) => {
            if v.as_str() != Some("v04") {
                e.push(f(
                    "/version",
                    format!("{v} is not the deprecated \"v04\""),
                    format!("{} instead of version", fix()),
                ));
            }
        }
    }
    TestResult::from_errors(ids::CONFORMANCE, e)
}

/// Checks one position; pushes findings (at the path `path` builds, on failure only).
fn position(e: &mut Vec<Finding>, path: impl Fn() -> String, v: &Value) {
    const FIX: &str = "a position is [longitude, latitude] or [longitude, latitude, height] in WGS84 degrees (longitude first)";
    let Some(a) = v.as_array() else {
        e.push(f(&path(), "a position must be an array of numbers", FIX));
        return;
    };
    if a.len() < 2 || a.len() > 3 {
        e.push(f(&path(), format!("has {} values", a.len()), FIX));
        return;
    }
    let (Some(lon), Some(lat)) = (a[0].as_f64(), a[1].as_f64()) else {
        e.push(f(&path(), "coordinates must be numbers, not strings", FIX));
        return;
    };
    if a.len() == 3 && !a[2].is_number() {
        e.push(f(&path(), "height must be a number", FIX));
    }
    if !(-180.0..=180.0).contains(&lon) {
        let hint = if (-90.0..=90.0).contains(&lat) || !(-90.0..=90.0).contains(&lon) {
            ""
        } else {
            " (latitude and longitude look swapped: GeoJSON puts longitude first)"
        };
        e.push(f(
            &path(),
            format!("longitude {lon} is outside -180..180"),
            format!("{FIX}{hint}"),
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        let hint = if (-90.0..=90.0).contains(&lon) {
            " (latitude and longitude look swapped: GeoJSON puts longitude first)"
        } else {
            ""
        };
        e.push(f(
            &path(),
            format!("latitude {lat} is outside -90..90"),
            format!("{FIX}{hint}"),
        ));
    }
}

/// `geometry`: null, a Point or a Polygon with valid WGS84 positions and closed rings.
pub(crate) fn geometry(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    const SHAPE: &str = "geometry is null (unknown), {\"type\": \"Point\", \"coordinates\": [lon, lat]} or {\"type\": \"Polygon\", \"coordinates\": [[[lon, lat], ..., [lon, lat]]]}";
    match c.msg.get("geometry") {
        None => e.push(f(
            "/geometry",
            "missing",
            "add geometry; write null when the location is unknown",
        )),
        Some(Value::Null) => {}
        Some(Value::Object(g)) => {
            match (g.get("type").and_then(Value::as_str), g.get("coordinates")) {
                (Some("Point"), Some(p)) => {
                    position(&mut e, || "/geometry/coordinates".to_string(), p)
                }
                (Some("Polygon"), Some(Value::Array(rings))) => {
                    if rings.is_empty() {
                        e.push(f(
                            "/geometry/coordinates",
                            "a Polygon needs at least one ring",
                            SHAPE,
                        ));
                    }
                    for (r, ring) in rings.iter().enumerate() {
                        let path = || format!("/geometry/coordinates/{r}");
                        let Some(pos) = ring.as_array() else {
                            e.push(f(&path(), "a ring must be an array of positions", SHAPE));
                            continue;
                        };
                        if pos.len() < 4 {
                            e.push(f(
                            &path(),
                            format!("ring has {} positions, at least 4 are needed", pos.len()),
                            "a ring is closed: at least 3 corners, then the first position again",
                        ));
                        }
                        let before = e.len();
                        for (i, p) in pos.iter().enumerate() {
                            position(&mut e, || format!("/geometry/coordinates/{r}/{i}"), p);
                        }
                        if e.len() == before
                            && pos.len() >= 2
                            && pos
                                .first()
                                .and_then(Value::as_array)
                                .and_then(|a| a.get(..2))
                                != pos
                                    .last()
                                    .and_then(Value::as_array)
                                    .and_then(|a| a.get(..2))
                        {
                            e.push(f(
                                &path(),
                                "ring is not closed (its last position differs from its first)",
                                "repeat the first position at the end of the ring",
                            ));
                        }
                    }
                }
                (Some(t @ ("Point" | "Polygon")), None) => {
                    e.push(f("/geometry", format!("{t} without coordinates"), SHAPE))
                }
                (Some("Polygon"), _) => e.push(f(
                    "/geometry/coordinates",
                    "Polygon coordinates must be an array of rings",
                    SHAPE,
                )),
                (Some(t), _) => e.push(f(
                    "/geometry/type",
                    format!("`{t}` geometries are not allowed in a WNM"),
                    format!("{SHAPE}; use a bounding Polygon for other shapes"),
                )),
                (None, _) => e.push(f("/geometry/type", "missing", SHAPE)),
            }
        }
        Some(v) => e.push(f("/geometry", format!("{v} is not a geometry"), SHAPE)),
    }
    TestResult::from_errors(ids::GEOMETRY, e)
}

/// `properties.data_id`: a non-empty string.
pub(crate) fn data_id(c: &Ctx<'_>, warnings: &mut Vec<Finding>) -> TestResult {
    let mut e = Vec::new();
    const FIX: &str = "set data_id to a meaningful id unique in the dataset, e.g. the topic without channel and version plus the file name";
    match c.prop("data_id") {
        None => e.push(f("/properties/data_id", "missing", FIX)),
        Some(Value::String(s)) if s.trim().is_empty() => {
            e.push(f("/properties/data_id", "is empty", FIX))
        }
        Some(Value::String(s)) => {
            if c.profile.is_draft() {
                draft_data_id(c, s, warnings);
            }
            if is_uuid(s) {
                warnings.push(f(
                    "/properties/data_id",
                    "looks opaque (a UUID); data_id should be meaningful for client-side filtering",
                    FIX,
                ));
            }
        }
        Some(v) => e.push(f(
            "/properties/data_id",
            format!("{v} is not a string"),
            FIX,
        )),
    }
    TestResult::from_errors(ids::DATA_ID, e)
}

/// The INFCOM-4 draft's `/rec/core/data_id`: `data_id` should start with the WCMP2
/// record's identifier (its local id, or the whole `urn:wmo:md:...`).
fn draft_data_id(c: &Ctx<'_>, data_id: &str, warnings: &mut Vec<Finding>) {
    let Some(md) = c.prop("metadata_id").and_then(Value::as_str) else {
        return;
    };
    let local = md
        .strip_prefix("urn:wmo:md:")
        .and_then(|r| r.split_once(':'))
        .map(|(_, local)| local);
    let starts =
        data_id.starts_with(md) || local.is_some_and(|l| !l.is_empty() && data_id.starts_with(l));
    if !starts {
        warnings.push(f(
            "/properties/data_id",
            format!(
                "does not start with the record's identifier `{}` (recommended from WNM 1.4.0, /rec/core/data_id)",
                local.unwrap_or(md)
            ),
            format!("start data_id with `{}/`", local.unwrap_or(md)),
        ));
    }
}

/// `properties.metadata_id` (optional): `urn:wmo:md:<centre-id>:<local-id>`, with the
/// topic's centre-id when the topic is known.
pub(crate) fn metadata_id(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    const PATH: &str = "/properties/metadata_id";
    let example = || {
        format!(
            "urn:wmo:md:{}:<local-id>",
            c.topic_centre.unwrap_or("<centre-id>")
        )
    };
    match c.prop("metadata_id") {
        None => {
            let deletion = c
                .msg
                .get("links")
                .and_then(Value::as_array)
                .is_some_and(|l| {
                    l.iter().any(|x| {
                        x.get("rel").and_then(Value::as_str).map(str::parse)
                            == Some(Ok(Relation::Deletion))
                    })
                });
            if c.profile.is_draft() {
                e.push(f(
                    PATH,
                    "missing: required from WNM 1.4.0 (INFCOM-4 draft, /req/core/metadata_id)",
                    format!(
                        "add \"metadata_id\": \"{}\", the id of the dataset's WCMP2 record",
                        example()
                    ),
                ));
            } else if deletion && c.topic_type == Some("metadata") {
                e.push(f(
                    PATH,
                    "a metadata deletion must carry the metadata_id of the record to remove",
                    format!("add \"metadata_id\": \"{}\"", example()),
                ));
            }
        }
        Some(Value::String(s)) => {
            let rest = s.strip_prefix("urn:wmo:md:");
            let parts = rest.and_then(|r| r.split_once(':'));
            match parts {
                None => e.push(f(
                    PATH,
                    format!("`{s}` is not urn:wmo:md:<centre-id>:<local-id>"),
                    format!("use the WCMP2 record id, {}", example()),
                )),
                Some((centre, local)) => {
                    let centre_ok = !centre.is_empty()
                        && centre
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                    if !centre_ok {
                        e.push(f(
                            PATH,
                            format!("centre-id `{centre}` is not a WTH centre-id (lowercase, words joined by -)"),
                            format!("use the WCMP2 record id, {}", example()),
                        ));
                    } else if let Some(tc) = c.topic_centre
                        && tc != centre
                    {
                        e.push(f(
                            PATH,
                            format!("centre-id `{centre}` differs from the topic's `{tc}`"),
                            format!(
                                "the record id's centre-id is the topic's: use urn:wmo:md:{tc}:{local}"
                            ),
                        ));
                    }
                    if local.is_empty() {
                        e.push(f(
                            PATH,
                            "has an empty local id",
                            format!("use the WCMP2 record id, {}", example()),
                        ));
                    }
                }
            }
        }
        Some(v) => e.push(f(
            PATH,
            format!("{v} is not a string"),
            format!("use the WCMP2 record id, {}", example()),
        )),
    }
    TestResult::from_errors(ids::METADATA_ID, e)
}

const TIME_FIX: &str =
    "write RFC 3339 in UTC: YYYY-MM-DDThh:mm:ss[.fff]Z, e.g. 2024-05-01T12:00:00Z";

/// One RFC 3339 UTC time; `None` (with findings) when it is not.
fn utc_time(e: &mut Vec<Finding>, path: &str, v: &Value) -> Option<Rfc3339> {
    let Some(s) = v.as_str() else {
        e.push(f(path, format!("{v} is not a string"), TIME_FIX));
        return None;
    };
    match time::parse(s) {
        None => {
            e.push(f(
                path,
                format!("`{s}` is not an RFC 3339 date-time"),
                TIME_FIX,
            ));
            None
        }
        Some(t) if !t.is_utc => {
            e.push(f(
                path,
                format!("`{s}` is not in UTC"),
                format!("convert to UTC with a Z: {}", t.to_utc_string()),
            ));
            Some(t)
        }
        Some(t) => Some(t),
    }
}

/// `properties.pubtime`: RFC 3339 in UTC.
pub(crate) fn pubtime(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    match c.prop("pubtime") {
        None => e.push(f(
            "/properties/pubtime",
            "missing",
            "set pubtime to the current UTC time at publication, e.g. 2024-05-01T12:00:00Z",
        )),
        Some(v) => {
            utc_time(&mut e, "/properties/pubtime", v);
        }
    }
    TestResult::from_errors(ids::PUBTIME, e)
}

/// The time of the data: `datetime`, or `start_datetime` and `end_datetime`.
pub(crate) fn temporal(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    let dt = c.prop("datetime");
    let start = c.prop("start_datetime");
    let end = c.prop("end_datetime");
    const FIX: &str = "give either datetime (null only when no time can be derived), or both start_datetime and end_datetime";
    match (dt, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => e.push(f(
            "/properties",
            "has both datetime and start_datetime/end_datetime",
            FIX,
        )),
        (None, None, None) => e.push(f(
            "/properties/datetime",
            "missing: no datetime nor start_datetime/end_datetime",
            FIX,
        )),
        (None, Some(_), None) => e.push(f(
            "/properties/end_datetime",
            "missing: start_datetime needs end_datetime",
            FIX,
        )),
        (None, None, Some(_)) => e.push(f(
            "/properties/start_datetime",
            "missing: end_datetime needs start_datetime",
            FIX,
        )),
        (Some(v), None, None) => {
            if !v.is_null() {
                utc_time(&mut e, "/properties/datetime", v);
            }
        }
        (None, Some(s), Some(t)) => {
            let mut st = None;
            let mut et = None;
            for (path, v, slot) in [
                ("/properties/start_datetime", s, &mut st),
                ("/properties/end_datetime", t, &mut et),
            ] {
                if v.is_null() {
                    e.push(f(
                        path,
                        "is null (only datetime may be null)",
                        "write the time in RFC 3339 UTC, or use \"datetime\": null when no time is known",
                    ));
                } else {
                    *slot = utc_time(&mut e, path, v);
                }
            }
            if let (Some(a), Some(b)) = (st, et)
                && a.instant() > b.instant()
            {
                e.push(f(
                    "/properties/start_datetime",
                    "start_datetime is after end_datetime",
                    "swap them: start_datetime is the earliest time of the data",
                ));
            }
        }
    }
    TestResult::from_errors(ids::TEMPORAL, e)
}

/// The URL scheme of `href`, lowercased, when it has one followed by `://`.
fn scheme(href: &str) -> Option<&str> {
    let (s, rest) = href.split_once(':')?;
    (!s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && rest.starts_with("//"))
    .then_some(s)
}

/// `links`: at least one; http(s)/(s)ftp; exactly one canonical/update/deletion.
pub(crate) fn links(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    const FIX: &str = "give exactly one link with rel canonical (new data), update (changed data, same data_id) or deletion (removed data)";
    let items = match c.msg.get("links") {
        None => {
            e.push(f("/links", "missing", FIX));
            return TestResult::from_errors(ids::LINKS, e);
        }
        Some(Value::Array(a)) => a,
        Some(v) => {
            e.push(f("/links", format!("{v} is not an array of links"), FIX));
            return TestResult::from_errors(ids::LINKS, e);
        }
    };
    if items.is_empty() {
        e.push(f("/links", "is empty", FIX));
    }
    // Per relation (in the order of `Relation::ALL`): how many links, and the index
    // of the second one (reported when there are several).
    let mut count = [0usize; 3];
    let mut second = [0usize; 3];
    let mut note = |r: Relation, i: usize| {
        // `Relation::ALL` lists the relations in declaration order.
        let k = r as usize;
        count[k] += 1;
        if count[k] == 2 {
            second[k] = i;
        }
    };
    for (i, l) in items.iter().enumerate() {
        match l.get("href").and_then(Value::as_str) {
            None => e.push(f(
                &format!("/links/{i}/href"),
                "missing",
                "every link has href (a URL) and rel",
            )),
            Some(href) => match scheme(href) {
                Some(s)
                    if ["http", "https", "ftp", "sftp"]
                        .iter()
                        .any(|x| x.eq_ignore_ascii_case(s)) => {}
                _ => e.push(f(
                    &format!("/links/{i}/href"),
                    format!("`{href}` is not an http, https, ftp or sftp URL"),
                    "link to the data with an https:// URL (http, ftp and sftp are also allowed)",
                )),
            },
        }
        match l.get("rel").and_then(Value::as_str) {
            None => e.push(f(
                &format!("/links/{i}/rel"),
                "missing",
                "every link has href and rel",
            )),
            // Any other relation is legitimate, and not one of the three counted.
            Some(rel) => {
                if let Ok(r) = rel.parse() {
                    note(r, i);
                }
            }
        }
    }
    for ((k, n), i) in Relation::ALL.iter().zip(count).zip(second) {
        if n > 1 {
            e.push(f(
                &format!("/links/{i}"),
                format!("{n} links with rel {k} (exactly one is allowed)"),
                format!("keep one {k} link; give the others another rel (e.g. alternate)"),
            ));
        }
    }
    let present = count.iter().filter(|n| **n > 0).count();
    if present > 1 {
        let present: Vec<&str> = Relation::ALL
            .iter()
            .zip(count)
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| k.as_str())
            .collect();
        e.push(f(
            "/links",
            format!(
                "rel {} are combined in one message (never together)",
                present.join(" and ")
            ),
            FIX,
        ));
    }
    if present == 0 && !items.is_empty() {
        e.push(f(
            "/links",
            "no link with rel canonical, update or deletion",
            FIX,
        ));
    }
    TestResult::from_errors(ids::LINKS, e)
}

/// The whole message is at most 8192 bytes.
pub(crate) fn message_size(c: &Ctx<'_>) -> TestResult {
    let mut e = Vec::new();
    if c.size > MAX_MESSAGE_BYTES {
        let content = c
            .prop("content")
            .and_then(|x| x.get("value"))
            .and_then(Value::as_str)
            .map_or(0, str::len);
        let hint = if content > 0 {
            "; drop the inline content and keep the link"
        } else {
            ""
        };
        e.push(f(
            "",
            format!(
                "the message is {} bytes, over the {MAX_MESSAGE_BYTES}-byte limit",
                c.size
            ),
            format!("shorten the message (compact JSON, fewer links or properties){hint}"),
        ));
    }
    TestResult::from_errors(ids::MESSAGE_SIZE, e)
}
