//! The built-in structural check: the WNM JSON Schema (1.1.0) written out by hand, so
//! that a message gets the same verdict offline, without the authoritative schema.
//!
//! It asserts what the schema asserts (members, types, enums, `oneOf`s, the `uuid`
//! and `date-time` formats, `maxLength`, `maximum`), and no more: the semantic rules
//! are the ETS tests'. One limit: the OpenAPI security schemes a link may carry
//! (`links[].security`) are only checked to be objects here; the schema checks them
//! in full.

use serde_json::{Map, Value};

use crate::WNM_CONFORMANCE;
use crate::report::Finding;

use super::time;

/// Integrity methods the schema allows.
pub(crate) const METHODS: [&str; 6] = [
    "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512",
];
/// Inline content encodings the schema allows.
pub(crate) const ENCODINGS: [&str; 3] = ["utf-8", "base64", "gzip"];

/// JSON Schema `integer`: a number with no fractional part.
pub(crate) fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// JSON Schema `uuid` format: the hyphenated form, any case.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Out<'a> {
    errors: &'a mut Vec<Finding>,
}

impl Out<'_> {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(Finding::new(path, msg).with_fix(fix));
    }

    fn want_type(&mut self, path: &str, v: &Value, want: &str) -> bool {
        let ok = match want {
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => is_integer(v),
            _ => false,
        };
        if !ok {
            self.err(
                path,
                format!("is {} but must be {want}", type_name(v)),
                format!("make {path} a JSON {want}"),
            );
        }
        ok
    }

    /// `v` cast by `cast` when it has the type `want`; a finding at `path` when not.
    fn typed<'v, T>(
        &mut self,
        path: &str,
        v: &'v Value,
        want: &str,
        cast: impl FnOnce(&'v Value) -> Option<T>,
    ) -> Option<T> {
        if self.want_type(path, v, want) {
            cast(v)
        } else {
            None
        }
    }

    /// A finding at `path` when `v` is present and not one of the `allowed` strings.
    fn one_of(&mut self, path: &str, v: Option<&Value>, allowed: &[&str], what: &str, fix: &str) {
        if let Some(s) = v.and_then(|v| self.typed(path, v, "string", Value::as_str))
            && !allowed.contains(&s)
        {
            self.err(path, format!("`{s}` is not an allowed {what}"), fix);
        }
    }

    /// A finding at `path` unless `obj` has every one of `keys` (the schema's
    /// `required`).
    fn require(
        &mut self,
        path: impl Into<String>,
        obj: &Map<String, Value>,
        keys: &[&str],
        msg: &str,
        fix: &str,
    ) {
        if !keys.iter().all(|k| obj.contains_key(*k)) {
            self.err(path, msg, fix);
        }
    }

    fn string(&mut self, path: &str, v: Option<&Value>) {
        if let Some(v) = v {
            self.want_type(path, v, "string");
        }
    }

    fn date_time(&mut self, path: &str, v: &Value) {
        if let Some(s) = v.as_str()
            && time::parse(s).is_none()
        {
            self.err(
                path,
                format!("`{s}` is not an RFC 3339 date-time"),
                "write it as YYYY-MM-DDThh:mm:ss[.fff]Z, e.g. 2024-05-01T12:00:00Z",
            );
        }
    }
}

/// Checks `msg` against the WNM schema's structure; returns the violations.
pub(crate) fn check(msg: &Value, errors: &mut Vec<Finding>) {
    let mut o = Out { errors };
    let Some(m) = msg.as_object() else {
        o.err(
            "",
            format!("the message is a JSON {}, not an object", type_name(msg)),
            "a WNM is a GeoJSON Feature object",
        );
        return;
    };

    if let Some(id) = m.get("id")
        && o.want_type("/id", id, "string")
        && let Some(s) = id.as_str()
        && !is_uuid(s)
    {
        o.err(
            "/id",
            format!("`{s}` is not a UUID"),
            "use a fresh random UUID (v4) such as 31e9d66a-cd83-4174-9429-b932f1abe1be",
        );
    }

    let conforms_ok = match m.get("conformsTo") {
        None => None,
        Some(v) => {
            let ok = match v.as_array() {
                Some(a) => {
                    let has = a.iter().any(|x| x.as_str() == Some(WNM_CONFORMANCE));
                    if !has {
                        o.err(
                            "/conformsTo",
                            format!("does not contain `{WNM_CONFORMANCE}`"),
                            format!("add \"{WNM_CONFORMANCE}\" to conformsTo"),
                        );
                    }
                    has
                }
                None => {
                    o.want_type("/conformsTo", v, "array");
                    false
                }
            };
            Some(ok)
        }
    };
    let version_ok = match m.get("version") {
        None => None,
        Some(v) => {
            let ok = v.as_str() == Some("v04");
            if !ok {
                o.err(
                    "/version",
                    format!("is {v} but the deprecated `version` may only be \"v04\""),
                    format!("remove version and use \"conformsTo\": [\"{WNM_CONFORMANCE}\"]"),
                );
            }
            Some(ok)
        }
    };

    if let Some(t) = m.get("type")
        && o.want_type("/type", t, "string")
        && t.as_str() != Some("Feature")
    {
        o.err("/type", format!("is {t}"), "set \"type\": \"Feature\"");
    }

    if let Some(g) = m.get("geometry") {
        geometry(&mut o, g);
    }

    if let Some(p) = m.get("properties")
        && let Some(p) = o.typed("/properties", p, "object", Value::as_object)
    {
        properties(&mut o, p);
    }

    if let Some(l) = m.get("links") {
        links(&mut o, l);
    }

    // Root oneOf: the two required sets differ only in conformsTo/version.
    let mut missing: Vec<&str> = ["id", "type", "geometry", "properties", "links"]
        .into_iter()
        .filter(|k| !m.contains_key(*k))
        .collect();
    match (conforms_ok, version_ok) {
        (Some(_), Some(_)) => o.err(
            "",
            "has both conformsTo and the deprecated version (the schema allows one of them, never both)",
            "remove \"version\" and keep conformsTo",
        ),
        (None, None) => missing.insert(0, "conformsTo"),
        _ => {}
    }
    if !missing.is_empty() {
        o.err(
            "",
            format!("required member(s) missing: {}", missing.join(", ")),
            format!(
                "a WNM has id, conformsTo [\"{WNM_CONFORMANCE}\"], type, geometry (null when unknown), properties and links"
            ),
        );
    }
}

fn is_position(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.len() >= 2 && a.iter().all(Value::is_number))
}

fn geometry(o: &mut Out<'_>, g: &Value) {
    const FIX: &str = "geometry is null, {\"type\": \"Point\", \"coordinates\": [lon, lat]} or {\"type\": \"Polygon\", \"coordinates\": [[[lon, lat], ...]]}";
    let valid = match g {
        Value::Null => true,
        Value::Object(obj) => {
            let coords = obj.get("coordinates");
            match (obj.get("type").and_then(Value::as_str), coords) {
                (Some("Point"), Some(c)) => is_position(c),
                (Some("Polygon"), Some(c)) => c.as_array().is_some_and(|rings| {
                    rings.iter().all(|r| {
                        r.as_array()
                            .is_some_and(|r| r.len() >= 4 && r.iter().all(is_position))
                    })
                }),
                _ => false,
            }
        }
        _ => false,
    };
    if !valid {
        o.err(
            "/geometry",
            "is not null, a GeoJSON Point or a GeoJSON Polygon",
            FIX,
        );
    }
}

fn properties(o: &mut Out<'_>, p: &Map<String, Value>) {
    for key in ["pubtime", "start_datetime", "end_datetime"] {
        if let Some(v) = p.get(key) {
            let path = match key {
                "pubtime" => "/properties/pubtime",
                "start_datetime" => "/properties/start_datetime",
                _ => "/properties/end_datetime",
            };
            if o.want_type(path, v, "string") {
                o.date_time(path, v);
            }
        }
    }
    if let Some(v) = p.get("datetime") {
        if v.is_null() {
        } else if v.is_string() {
            o.date_time("/properties/datetime", v);
        } else {
            o.err(
                "/properties/datetime",
                format!("is {} but must be a string or null", type_name(v)),
                "write an RFC 3339 UTC time, or null when no time is known",
            );
        }
    }
    o.string("/properties/data_id", p.get("data_id"));
    o.string("/properties/metadata_id", p.get("metadata_id"));
    o.string("/properties/producer", p.get("producer"));
    o.string("/properties/global-cache", p.get("global-cache"));
    if let Some(v) = p.get("cache") {
        o.want_type("/properties/cache", v, "boolean");
    }
    if let Some(v) = p.get("integrity")
        && let Some(i) = o.typed("/properties/integrity", v, "object", Value::as_object)
    {
        integrity(o, i);
    }
    if let Some(v) = p.get("content")
        && let Some(c) = o.typed("/properties/content", v, "object", Value::as_object)
    {
        content(o, c);
    }
    let mut missing = Vec::new();
    for k in ["pubtime", "data_id"] {
        if !p.contains_key(k) {
            missing.push(k);
        }
    }
    if !missing.is_empty() {
        o.err(
            "/properties",
            format!("required member(s) missing: {}", missing.join(", ")),
            "add pubtime (the publication time, RFC 3339 UTC) and data_id",
        );
    }
    let span = p.contains_key("start_datetime") && p.contains_key("end_datetime");
    let instant = p.contains_key("datetime");
    if span == instant {
        let msg = if span {
            "has both datetime and start_datetime/end_datetime"
        } else {
            "has neither datetime nor both start_datetime and end_datetime"
        };
        o.err(
            "/properties",
            msg,
            "give either datetime (null when unknown), or both start_datetime and end_datetime",
        );
    }
}

fn integrity(o: &mut Out<'_>, i: &Map<String, Value>) {
    o.one_of(
        "/properties/integrity/method",
        i.get("method"),
        &METHODS,
        "method",
        "use one of sha256, sha384, sha512, sha3-256, sha3-384, sha3-512",
    );
    o.string("/properties/integrity/value", i.get("value"));
    o.require(
        "/properties/integrity",
        i,
        &["method", "value"],
        "needs both method and value",
        "write {\"method\": \"sha512\", \"value\": \"<base64 digest>\"}",
    );
}

fn content(o: &mut Out<'_>, c: &Map<String, Value>) {
    o.one_of(
        "/properties/content/encoding",
        c.get("encoding"),
        &ENCODINGS,
        "encoding",
        "use utf-8, base64 or gzip",
    );
    if let Some(s) = c.get("size")
        && o.want_type("/properties/content/size", s, "integer")
        && s.as_f64().is_some_and(|n| n > 4096.0)
    {
        o.err(
            "/properties/content/size",
            format!("{s} is over 4096"),
            "inline content is limited to 4096 bytes: send a link only",
        );
    }
    if let Some(val) = c.get("value")
        && o.want_type("/properties/content/value", val, "string")
        && let Some(s) = val.as_str()
        && s.len() > 4096
        && s.chars().count() > 4096
    {
        o.err(
            "/properties/content/value",
            "is longer than 4096 characters",
            "inline content is limited to 4096 bytes: send a link only",
        );
    }
    o.require(
        "/properties/content",
        c,
        &["encoding", "size", "value"],
        "needs encoding, size and value",
        "write {\"encoding\": \"base64\", \"size\": <decoded bytes>, \"value\": \"...\"}",
    );
}

fn links(o: &mut Out<'_>, l: &Value) {
    let Some(items) = o.typed("/links", l, "array", Value::as_array) else {
        return;
    };
    if items.is_empty() {
        o.err(
            "/links",
            "is empty",
            "add the link to the data with rel canonical (new data), update or deletion",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let Some(link) = o.typed(&format!("/links/{i}"), item, "object", Value::as_object) else {
            continue;
        };
        for key in ["rel", "type", "hreflang", "title", "href"] {
            if let Some(v) = link.get(key)
                && !v.is_string()
            {
                o.want_type(&format!("/links/{i}/{key}"), v, "string");
            }
        }
        if let Some(v) = link.get("length")
            && !is_integer(v)
        {
            o.want_type(&format!("/links/{i}/length"), v, "integer");
        }
        if let Some(sec) = link.get("security") {
            match sec.as_object() {
                Some(schemes) => {
                    for (name, scheme) in schemes {
                        let named = !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                        if named && !scheme.is_object() {
                            o.want_type(&format!("/links/{i}/security/{name}"), scheme, "object");
                        }
                    }
                }
                None => {
                    o.want_type(&format!("/links/{i}/security"), sec, "object");
                }
            }
        }
        o.require(
            format!("/links/{i}"),
            link,
            &["href", "rel"],
            "needs both href and rel",
            "write {\"href\": \"https://...\", \"rel\": \"canonical\", \"type\": \"<media type>\"}",
        );
    }
}
