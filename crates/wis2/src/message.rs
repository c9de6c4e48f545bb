//! WIS2 Notification Message (WNM) wire types and the builder.
//!
//! The types here serialize to exactly what the standard asks for: `pubtime` and the
//! data times in RFC3339 UTC, `datetime: null` when no time is known, `integrity` in
//! base64, exactly one `canonical`/`update`/`deletion` link.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::WNM_CONFORMANCE;
use crate::hash::Integrity;
use crate::json::{self, PlainJson};
use crate::path::RelPath;

/// Serializes a UTC time as RFC3339 with a `Z` and only the fractional digits needed.
fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t))
}

fn ser_opt_opt_time<S: Serializer>(
    t: &Option<Option<DateTime<Utc>>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(Some(t)) => s.serialize_str(&rfc3339(t)),
        _ => s.serialize_none(),
    }
}

fn ser_opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(t)),
        None => s.serialize_none(),
    }
}

/// RFC3339 in UTC with a `Z`: seconds when whole, milliseconds otherwise.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// A GeoJSON geometry as a WNM allows it (WGS84 longitude, latitude, optional height).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Geometry {
    Point { coordinates: Vec<f64> },
    Polygon { coordinates: Vec<Vec<Vec<f64>>> },
}

impl Geometry {
    /// A point at `lon`, `lat`.
    pub fn point(lon: f64, lat: f64) -> Self {
        Geometry::Point {
            coordinates: vec![lon, lat],
        }
    }

    /// The closed, counter-clockwise bounding-box ring of a set of positions.
    pub fn bbox(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Self {
        Geometry::Polygon {
            coordinates: vec![vec![
                vec![min_lon, min_lat],
                vec![max_lon, min_lat],
                vec![max_lon, max_lat],
                vec![min_lon, max_lat],
                vec![min_lon, min_lat],
            ]],
        }
    }

    /// A Point for one distinct position, the bounding box for several, `None` for none.
    /// Positions outside -180..180 / -90..90 or not finite are skipped.
    pub fn from_positions(positions: impl IntoIterator<Item = (f64, f64)>) -> Option<Self> {
        let mut first: Option<(f64, f64)> = None;
        let (mut min_lon, mut min_lat, mut max_lon, mut max_lat) = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        let mut distinct = false;
        for (lon, lat) in positions {
            // `contains` is false for NaN; infinities are outside the ranges.
            let valid = (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat);
            if !valid {
                continue;
            }
            match first {
                None => first = Some((lon, lat)),
                Some(p) if p != (lon, lat) => distinct = true,
                Some(_) => {}
            }
            min_lon = min_lon.min(lon);
            min_lat = min_lat.min(lat);
            max_lon = max_lon.max(lon);
            max_lat = max_lat.max(lat);
        }
        let (lon, lat) = first?;
        if !distinct {
            return Some(Geometry::point(lon, lat));
        }
        Some(Geometry::bbox(min_lon, min_lat, max_lon, max_lat))
    }
}

/// When the data were observed or are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Temporal {
    /// No time can be derived from the data: `datetime: null`.
    #[default]
    Unknown,
    /// One instant: `datetime`.
    Instant(DateTime<Utc>),
    /// A period: `start_datetime` and `end_datetime`.
    Interval {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

impl Temporal {
    /// An instant for one distinct time, the period from first to last for several.
    pub fn from_times(times: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        let mut it = times.into_iter();
        let Some(first) = it.next() else {
            return Temporal::Unknown;
        };
        let (min, max) = it.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if min == max {
            Temporal::Instant(min)
        } else {
            Temporal::Interval {
                start: min,
                end: max,
            }
        }
    }
}

/// The relation of the one link that says what happened to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// New data or metadata.
    #[default]
    Canonical,
    /// Changed data: same `data_id`, newer `pubtime`.
    Update,
    /// Removed data.
    Deletion,
}

impl Relation {
    /// Every relation, in declaration order.
    pub const ALL: [Relation; 3] = [Relation::Canonical, Relation::Update, Relation::Deletion];

    /// The `rel` of the link, as the message writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Canonical => "canonical",
            Relation::Update => "update",
            Relation::Deletion => "deletion",
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `rel` that is none of the relations a WNM's data link may have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a WNM data link relation: use canonical, update or deletion")]
pub struct UnknownRelation(String);

impl FromStr for Relation {
    type Err = UnknownRelation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Relation::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRelation(s.to_string()))
    }
}

/// One entry of `links`; absent members are left out, not written as null.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    pub rel: String,
    #[serde(rename = "type")]
    pub media_type: Option<String>,
    pub length: Option<u64>,
    /// MQTT link channel (metadata links only).
    pub channel: Option<String>,
}

/// Inline data (`properties.content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// `utf-8`, `base64` or `gzip`.
    pub encoding: String,
    /// Length of the decoded data, in bytes.
    pub size: u64,
    pub value: String,
}

/// `properties` of a WNM; absent members are left out, not written as null.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Properties {
    pub data_id: String,
    pub metadata_id: Option<String>,
    #[serde(serialize_with = "ser_time")]
    pub pubtime: DateTime<Utc>,
    /// `Some(None)` writes `datetime: null`; `None` leaves it out (interval).
    #[serde(serialize_with = "ser_opt_opt_time")]
    pub datetime: Option<Option<DateTime<Utc>>>,
    #[serde(serialize_with = "ser_opt_time")]
    pub start_datetime: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_opt_time")]
    pub end_datetime: Option<DateTime<Utc>>,
    pub integrity: Option<Integrity>,
    pub content: Option<Content>,
    pub cache: Option<bool>,
}

/// A WIS2 Notification Message as this library builds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    #[serde(rename = "conformsTo")]
    pub conforms_to: Vec<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub geometry: Option<Geometry>,
    pub properties: Properties,
    pub links: Vec<Link>,
}

/// What a message says about one piece of data; [`Notification::build`] turns it into
/// a message with a fresh id and `pubtime`.
#[derive(Debug, Clone, Default)]
pub struct MessageSpec {
    pub data_id: String,
    pub metadata_id: Option<String>,
    /// Public address of the data (the canonical/update/deletion link).
    pub href: String,
    pub media_type: Option<String>,
    /// Size in bytes (not for deletions).
    pub length: Option<u64>,
    /// Digest of the data (not for deletions).
    pub integrity: Option<Integrity>,
    pub temporal: Temporal,
    pub geometry: Option<Geometry>,
    pub relation: Relation,
    pub content: Option<Content>,
    pub cache: Option<bool>,
    /// Further links (for example an MQTT link of a metadata record).
    pub extra_links: Vec<Link>,
}

impl Notification {
    /// Builds a message with a fresh UUID and `pubtime` = now.
    pub fn build(spec: MessageSpec) -> Self {
        Self::build_at(spec, Utc::now())
    }

    /// Builds a message with a fresh UUID and the given `pubtime`.
    pub fn build_at(spec: MessageSpec, pubtime: DateTime<Utc>) -> Self {
        let (datetime, start_datetime, end_datetime) = match spec.temporal {
            Temporal::Unknown => (Some(None), None, None),
            Temporal::Instant(t) => (Some(Some(t)), None, None),
            Temporal::Interval { start, end } => (None, Some(start), Some(end)),
        };
        let deletion = spec.relation == Relation::Deletion;
        let mut links = vec![Link {
            href: spec.href,
            rel: spec.relation.as_str().to_string(),
            media_type: spec.media_type,
            length: if deletion { None } else { spec.length },
            channel: None,
        }];
        links.extend(spec.extra_links);
        Notification {
            id: Uuid::new_v4(),
            conforms_to: vec![WNM_CONFORMANCE.to_string()],
            kind: "Feature",
            geometry: spec.geometry,
            properties: Properties {
                data_id: spec.data_id,
                metadata_id: spec.metadata_id,
                pubtime,
                datetime,
                start_datetime,
                end_datetime,
                integrity: if deletion { None } else { spec.integrity },
                content: if deletion { None } else { spec.content },
                cache: spec.cache,
            },
            links,
        }
    }

    /// The message as compact JSON.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// The message as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        json::to_value(self)
    }
}

// Plain structs of strings, numbers (a non-finite coordinate becomes `null`, not an
// error) and times written as strings: no map with non-string keys, and the custom
// time serializers only write strings.
impl PlainJson for Notification {}

/// `data_id` for a file: the topic without channel and version, then the file's path
/// under the data directory (`wis2/<centre-id>/data/core/.../R6903247_274.nc`).
pub fn data_id_for(topic: &str, relative_path: &RelPath) -> String {
    let mut levels = topic.split('/');
    let rest: Vec<&str> = match (levels.next(), levels.next()) {
        (Some("origin" | "cache"), Some(_)) => levels.collect(),
        _ => topic.split('/').collect(),
    };
    let prefix = rest.join("/");
    let path = relative_path.as_str();
    if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    }
}

/// Public address of a file: `base_url` joined with the relative path, each path
/// segment percent-encoded where needed ([`RelPath::url_encoded`]).
pub fn public_href(base_url: &str, relative_path: &RelPath) -> String {
    let base = base_url.trim_end_matches('/');
    format!("{base}/{}", relative_path.url_encoded())
}

/// The fields of a WNM that the services key on (deduplication, uniqueness, log
/// lines), read from its JSON text without building the whole document: borrowed
/// where the JSON has no escapes. Every one is optional; the caller decides what it
/// needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Keys<'a> {
    pub id: Option<std::borrow::Cow<'a, str>>,
    pub data_id: Option<std::borrow::Cow<'a, str>>,
    pub pubtime: Option<std::borrow::Cow<'a, str>>,
    /// `properties.integrity.value`.
    pub integrity: Option<std::borrow::Cow<'a, str>>,
    /// The first link relation that says what the message is about (`canonical`,
    /// `update` or `deletion`).
    pub rel: Option<Relation>,
}

impl<'a> Keys<'a> {
    /// Reads the keys of `message`; an error when it is not a JSON object of the
    /// WNM's shape (a field of the wrong type, say).
    pub fn parse(message: &'a [u8]) -> Result<Keys<'a>, serde_json::Error> {
        use std::borrow::Cow;
        #[derive(Deserialize)]
        struct Wnm<'a> {
            #[serde(default, borrow)]
            id: Option<Cow<'a, str>>,
            #[serde(default, borrow)]
            properties: Option<Props<'a>>,
            #[serde(default, borrow)]
            links: Option<Vec<LinkRel<'a>>>,
        }
        #[derive(Deserialize)]
        struct Props<'a> {
            #[serde(default, borrow)]
            data_id: Option<Cow<'a, str>>,
            #[serde(default, borrow)]
            pubtime: Option<Cow<'a, str>>,
            #[serde(default, borrow)]
            integrity: Option<Value<'a>>,
        }
        #[derive(Deserialize)]
        struct Value<'a> {
            #[serde(default, borrow)]
            value: Option<Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct LinkRel<'a> {
            #[serde(default, borrow)]
            rel: Option<Cow<'a, str>>,
        }
        let m: Wnm = serde_json::from_slice(message)?;
        let rel = m
            .links
            .unwrap_or_default()
            .iter()
            .find_map(|l| l.rel.as_deref().and_then(|r| r.parse().ok()));
        let (data_id, pubtime, integrity) = match m.properties {
            Some(p) => (p.data_id, p.pubtime, p.integrity.and_then(|i| i.value)),
            None => (None, None, None),
        };
        Ok(Keys {
            id: m.id,
            data_id,
            pubtime,
            integrity,
            rel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Integrity, Method};
    use chrono::TimeZone;

    const TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

    fn rel(path: &str) -> RelPath {
        RelPath::parse(path).expect("a relative path")
    }

    fn spec() -> MessageSpec {
        MessageSpec {
            data_id: data_id_for(TOPIC, &rel("R6903247_274.nc")),
            metadata_id: Some("urn:wmo:md:fr-ifremer-argo:cor:msg:argo".into()),
            href: public_href("https://data.example.org/argo/", &rel("R6903247_274.nc")),
            media_type: Some("application/x-netcdf".into()),
            length: Some(122032),
            integrity: Some(Integrity::of_bytes(Method::Sha512, b"x")),
            temporal: Temporal::Instant(Utc.with_ymd_and_hms(2022, 4, 18, 9, 48, 0).unwrap()),
            geometry: Some(Geometry::point(22.86, 36.537)),
            ..Default::default()
        }
    }

    #[test]
    fn data_id_drops_channel_and_version() {
        assert_eq!(
            data_id_for(TOPIC, &rel("sub/R6903247_274.nc")),
            "wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/sub/R6903247_274.nc"
        );
    }

    #[test]
    fn href_encodes_segments_not_slashes() {
        assert_eq!(
            public_href("http://h/d/", &rel("a b/c#d.nc")),
            "http://h/d/a%20b/c%23d.nc"
        );
    }

    #[test]
    fn instant_message_serializes_as_the_standard_asks() {
        let pubtime = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let m = Notification::build_at(spec(), pubtime).to_value();
        assert_eq!(m["type"], "Feature");
        assert_eq!(m["conformsTo"][0], WNM_CONFORMANCE);
        assert_eq!(m["properties"]["pubtime"], "2026-01-02T03:04:05Z");
        assert_eq!(m["properties"]["datetime"], "2022-04-18T09:48:00Z");
        assert!(m["properties"].get("start_datetime").is_none());
        assert_eq!(m["geometry"]["type"], "Point");
        assert_eq!(m["links"][0]["rel"], "canonical");
        assert_eq!(m["links"][0]["length"], 122032);
        assert_eq!(m["properties"]["integrity"]["method"], "sha512");
        assert!(Uuid::parse_str(m["id"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn unknown_time_is_an_explicit_null() {
        let mut s = spec();
        s.temporal = Temporal::Unknown;
        s.geometry = None;
        let m = Notification::build(s).to_value();
        assert!(m["properties"]["datetime"].is_null());
        assert!(
            m["properties"]
                .as_object()
                .unwrap()
                .contains_key("datetime")
        );
        assert!(m.as_object().unwrap().contains_key("geometry"));
        assert!(m["geometry"].is_null());
    }

    #[test]
    fn interval_and_deletion() {
        let mut s = spec();
        let a = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap();
        s.temporal = Temporal::from_times([b, a, b]);
        s.relation = Relation::Deletion;
        let m = Notification::build(s).to_value();
        assert!(m["properties"].get("datetime").is_none());
        assert_eq!(m["properties"]["start_datetime"], "2020-01-01T00:00:00Z");
        assert_eq!(m["properties"]["end_datetime"], "2020-01-02T00:00:00Z");
        assert_eq!(m["links"][0]["rel"], "deletion");
        assert!(m["links"][0].get("length").is_none());
        assert!(m["properties"].get("integrity").is_none());
    }

    #[test]
    fn geometry_from_positions() {
        assert_eq!(Geometry::from_positions([]), None);
        assert_eq!(
            Geometry::from_positions([(1.0, 2.0), (1.0, 2.0), (999999.0, 99999.0)]),
            Some(Geometry::point(1.0, 2.0))
        );
        let Some(Geometry::Polygon { coordinates }) =
            Geometry::from_positions([(1.0, 2.0), (3.0, -4.0)])
        else {
            panic!("expected a polygon")
        };
        assert_eq!(coordinates[0].len(), 5);
        assert_eq!(coordinates[0][0], coordinates[0][4]);
        assert_eq!(coordinates[0][0], vec![1.0, -4.0]);
        assert_eq!(coordinates[0][2], vec![3.0, 2.0]);
    }

    #[test]
    fn relations_parse_and_print_as_the_message_writes_them() {
        for r in Relation::ALL {
            assert_eq!(r.as_str().parse::<Relation>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).expect("JSON"), format!("\"{r}\""));
        }
        let e = "item"
            .parse::<Relation>()
            .expect_err("not a data link relation");
        assert!(
            e.to_string().contains("canonical, update or deletion"),
            "{e}"
        );
    }

    #[test]
    fn the_keys_are_read_with_escapes_and_without_the_optional_parts() {
        let k = Keys::parse(
            br#"{"id": "i\"1", "type": "Feature", "properties": {"data_id": "a\/b", "pubtime": "x",
                "integrity": {"method": "sha512", "value": "V"}},
                "links": [{"rel": "item"}, {"rel": "update", "href": "h"}, {"rel": "canonical"}]}"#,
        )
        .expect("a WNM");
        assert_eq!(k.id.as_deref(), Some("i\"1"));
        assert_eq!(k.data_id.as_deref(), Some("a/b"));
        assert_eq!(k.pubtime.as_deref(), Some("x"));
        assert_eq!(k.integrity.as_deref(), Some("V"));
        assert_eq!(
            k.rel,
            Some(Relation::Update),
            "the first relation of the three"
        );
        assert_eq!(Keys::parse(b"{}").expect("an object"), Keys::default());
        assert!(Keys::parse(b"[1]").is_err());
        assert!(Keys::parse(b"not json").is_err());
        assert!(
            Keys::parse(br#"{"links": 3}"#).is_err(),
            "links of the wrong type"
        );
    }
}
