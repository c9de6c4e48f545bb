//! Intake of upstream CloudEvents whose `data` is a STAC Item.
//!
//! Some producers (Ifremer's Argo chain, for one) announce new files as a CloudEvent
//! carrying a STAC Item: one or more `assets` (href, media type, `file:size`,
//! `file:checksum` from the STAC file extension), the item's `geometry` and its
//! `properties.datetime` (or `start_datetime`/`end_datetime`). This module turns such an
//! event into one [`StacAsset`] per data asset, with everything a WNM needs, and checks
//! a local copy of an asset against what the item declares.
//!
//! `file:checksum` is a [multihash](https://multiformats.io/multihash/) in hex: a varint
//! hash-function code, a varint digest length, the digest. Only the six digests a WNM
//! allows are accepted, and the digest is re-encoded in base64 as `integrity` requires.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::CloudEvent;
use crate::hash::{Integrity, Method, digest_reader};
use crate::message::{Geometry, Temporal};

/// Which assets of an item become messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StacOptions {
    /// Assets having at least one of these roles are taken (assets without `roles` are
    /// always taken). Empty: every asset.
    pub roles: Vec<String>,
    /// Refuse assets without a `file:checksum`.
    pub require_checksum: bool,
}

impl Default for StacOptions {
    fn default() -> Self {
        StacOptions {
            roles: vec!["data".into()],
            require_checksum: false,
        }
    }
}

/// One asset of a STAC item, with what a WNM needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StacAsset {
    /// The item's `id`.
    pub item_id: String,
    /// The asset's key in `assets` (often the file name).
    pub key: String,
    pub href: String,
    /// The asset's `type`.
    pub media_type: Option<String>,
    /// `file:size`, in bytes.
    pub length: Option<u64>,
    /// `file:checksum`, re-encoded for `properties.integrity`.
    pub integrity: Option<Integrity>,
    /// The asset's own time when it has one, else the item's; UTC.
    pub temporal: Temporal,
    /// The item's geometry.
    pub geometry: Option<Geometry>,
    pub roles: Vec<String>,
}

/// Why a STAC event or asset cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StacError {
    #[error("event {event} has no data: a STAC item event carries the item in `data`")]
    NoData { event: String },
    #[error(
        "event {event}: data is not a STAC Item ({reason}); send a GeoJSON Feature with `id`, `properties` and `assets`"
    )]
    NotItem { event: String, reason: String },
    #[error(
        "STAC item {item} has no asset with role {roles:?}: add the data file as an asset with roles [\"data\"]"
    )]
    NoAssets { item: String, roles: Vec<String> },
    #[error("STAC item {item}, asset {key}: {reason}")]
    Asset {
        item: String,
        key: String,
        reason: String,
    },
    #[error(
        "STAC item {item} has no usable time: {reason}; set properties.datetime, or start_datetime and end_datetime, as RFC3339"
    )]
    Time { item: String, reason: String },
    #[error(
        "STAC item {item} has an unusable geometry: {reason}; give a GeoJSON Point or Polygon in WGS84 longitude/latitude, or null"
    )]
    Geometry { item: String, reason: String },
    #[error(
        "file:checksum `{value}` is not a usable multihash: {reason}; give a hex multihash of sha2-256, sha2-384, sha2-512, sha3-256, sha3-384 or sha3-512"
    )]
    Multihash { value: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is {actual} bytes but asset {key} declares file:size {expected}: the copy is incomplete or the file changed; fetch it again or correct file:size"
    )]
    SizeMismatch {
        path: String,
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{path} has {method} {actual} but asset {key} declares {expected} in file:checksum: the copy is damaged or the file changed; fetch it again or correct file:checksum"
    )]
    DigestMismatch {
        path: String,
        key: String,
        method: Method,
        expected: String,
        actual: String,
    },
}

/// One [`StacAsset`] per selected asset of the STAC Item in `ev.data`.
pub fn specs_from_stac_event(
    ev: &CloudEvent,
    opts: &StacOptions,
) -> Result<Vec<StacAsset>, StacError> {
    let event = ev.id.clone();
    let not_item = |reason: &str| StacError::NotItem {
        event: event.clone(),
        reason: reason.to_string(),
    };
    let data = ev.data.as_ref().ok_or_else(|| StacError::NoData {
        event: event.clone(),
    })?;
    // Some producers send the item as a JSON string.
    let parsed;
    let data = match data {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| not_item(&format!("data is a string that is not JSON: {e}")))?;
            &parsed
        }
        v => v,
    };
    let item = data
        .as_object()
        .ok_or_else(|| not_item("data is not an object"))?;
    if item.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(not_item("`type` is not \"Feature\""));
    }
    let item_id = item
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| not_item("no string `id`"))?
        .to_string();
    let properties = item
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| not_item("no `properties` object"))?;
    let assets = item
        .get("assets")
        .and_then(Value::as_object)
        .ok_or_else(|| not_item("no `assets` object"))?;

    let item_time = temporal_of(properties).map_err(|reason| StacError::Time {
        item: item_id.clone(),
        reason,
    })?;
    let geometry = geometry_of(item.get("geometry"), item.get("bbox")).map_err(|reason| {
        StacError::Geometry {
            item: item_id.clone(),
            reason,
        }
    })?;

    let mut out = Vec::new();
    for (key, asset) in assets {
        let asset_err = |reason: String| StacError::Asset {
            item: item_id.clone(),
            key: key.clone(),
            reason,
        };
        let asset = asset
            .as_object()
            .ok_or_else(|| asset_err("is not an object".into()))?;
        let roles: Vec<String> = asset
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let wanted = opts.roles.is_empty()
            || !asset.contains_key("roles")
            || roles.iter().any(|r| opts.roles.contains(r));
        if !wanted {
            continue;
        }
        let href = asset
            .get("href")
            .and_then(Value::as_str)
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| asset_err("has no `href`: give the address of the file".into()))?
            .to_string();
        let media_type = match asset.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(asset_err("`type` is not a string".into())),
        };
        let length = match asset.get("file:size") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                asset_err(format!(
                    "file:size {v} is not a whole number of bytes: give the size as an integer"
                ))
            })?),
        };
        let integrity = match asset.get("file:checksum") {
            None | Some(Value::Null) if opts.require_checksum => {
                return Err(asset_err(
                    "has no file:checksum, which is required here: add a multihash of the file"
                        .into(),
                ));
            }
            None | Some(Value::Null) => None,
            Some(Value::String(h)) => {
                Some(multihash_to_integrity(h).map_err(|e| asset_err(e.to_string()))?)
            }
            Some(v) => {
                return Err(asset_err(format!(
                    "file:checksum {v} is not a string: give a hex multihash"
                )));
            }
        };
        // STAC lets an asset carry its own time.
        let temporal = match temporal_of(asset) {
            Ok(Temporal::Unknown) => item_time,
            Ok(t) => t,
            Err(reason) => return Err(asset_err(reason)),
        };
        out.push(StacAsset {
            item_id: item_id.clone(),
            key: key.clone(),
            href,
            media_type,
            length,
            integrity,
            temporal,
            geometry: geometry.clone(),
            roles,
        });
    }
    if out.is_empty() {
        return Err(StacError::NoAssets {
            item: item_id,
            roles: opts.roles.clone(),
        });
    }
    Ok(out)
}

fn parse_time(obj: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| format!("{name} `{s}` is not RFC3339 ({e})")),
        Some(v) => Err(format!("{name} {v} is not a string")),
    }
}

/// `datetime`, else `start_datetime`..`end_datetime`; `Unknown` when none is set.
fn temporal_of(obj: &Map<String, Value>) -> Result<Temporal, String> {
    if let Some(t) = parse_time(obj, "datetime")? {
        return Ok(Temporal::Instant(t));
    }
    let start = parse_time(obj, "start_datetime")?;
    let end = parse_time(obj, "end_datetime")?;
    match (start, end) {
        (Some(s), Some(e)) if s <= e => Ok(Temporal::from_times([s, e])),
        (Some(s), Some(e)) => Err(format!("start_datetime {s} is after end_datetime {e}")),
        (Some(_), None) => Err("start_datetime without end_datetime".into()),
        (None, Some(_)) => Err("end_datetime without start_datetime".into()),
        (None, None) => Ok(Temporal::Unknown),
    }
}

fn position(v: &Value) -> Result<Vec<f64>, String> {
    let a = v
        .as_array()
        .ok_or_else(|| format!("position {v} is not an array"))?;
    if !(2..=3).contains(&a.len()) {
        return Err(format!("position {v} does not have 2 or 3 numbers"));
    }
    let p: Vec<f64> = a
        .iter()
        .map(|x| x.as_f64().ok_or_else(|| format!("{x} is not a number")))
        .collect::<Result<_, _>>()?;
    if !(p.iter().all(|x| x.is_finite())
        && (-180.0..=180.0).contains(&p[0])
        && (-90.0..=90.0).contains(&p[1]))
    {
        return Err(format!(
            "position {v} is outside longitude -180..180 / latitude -90..90"
        ));
    }
    Ok(p)
}

fn geometry_of(geometry: Option<&Value>, bbox: Option<&Value>) -> Result<Option<Geometry>, String> {
    let g = match geometry {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(g)) => g,
        Some(v) => return Err(format!("geometry {v} is not an object")),
    };
    let coords = g.get("coordinates");
    match g.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let p = position(coords.ok_or("Point without coordinates")?)?;
            Ok(Some(Geometry::Point { coordinates: p }))
        }
        Some("Polygon") => {
            let rings = coords
                .and_then(Value::as_array)
                .ok_or("Polygon coordinates are not an array of rings")?;
            if rings.is_empty() {
                return Err("Polygon has no ring".into());
            }
            let mut out = Vec::with_capacity(rings.len());
            for ring in rings {
                let ring = ring
                    .as_array()
                    .ok_or("a Polygon ring is not an array of positions")?;
                let ring: Vec<Vec<f64>> = ring.iter().map(position).collect::<Result<_, _>>()?;
                if ring.len() < 4 || ring.first() != ring.last() {
                    return Err(
                        "a Polygon ring must be closed and have at least 4 positions".into(),
                    );
                }
                out.push(ring);
            }
            Ok(Some(Geometry::Polygon { coordinates: out }))
        }
        Some(other) => {
            // A WNM takes Point or Polygon only: fall back to the item's bounding box.
            let b: Option<Vec<f64>> = bbox
                .and_then(Value::as_array)
                .map(|b| b.iter().filter_map(Value::as_f64).collect());
            match b.as_deref() {
                Some([w, s, e, n]) | Some([w, s, _, e, n, _]) => {
                    Geometry::from_positions([(*w, *s), (*e, *n)])
                        .map(Some)
                        .ok_or_else(|| format!("{other} with an out-of-range bbox"))
                }
                _ => Err(format!(
                    "{other} is not Point or Polygon and the item has no usable bbox"
                )),
            }
        }
        None => Err("geometry has no `type`".into()),
    }
}

/// The bytes of a hex string (either case, surrounding blanks ignored).
fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    hex::decode(s).map_err(|e| match e {
        hex::FromHexError::OddLength => format!("odd number of hex digits ({})", s.len()),
        hex::FromHexError::InvalidHexCharacter { c, .. } => format!("`{c}` is not a hex digit"),
        other => other.to_string(),
    })
}

/// Unsigned LEB128 varint (multiformats caps them at 9 bytes).
fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for i in 0..9 {
        let b = *bytes.get(*at).ok_or("the multihash ends inside a varint")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 9 bytes".into())
}

/// The WNM integrity of a hex multihash (`file:checksum`).
pub fn multihash_to_integrity(hex: &str) -> Result<Integrity, StacError> {
    let err = |reason: String| StacError::Multihash {
        value: hex.to_string(),
        reason,
    };
    let bytes = hex_decode(hex).map_err(err)?;
    let mut at = 0;
    let code = varint(&bytes, &mut at).map_err(err)?;
    let len = varint(&bytes, &mut at).map_err(err)?;
    let method = match code {
        0x12 => Method::Sha256,
        0x20 => Method::Sha384,
        0x13 => Method::Sha512,
        0x16 => Method::Sha3_256,
        0x15 => Method::Sha3_384,
        0x14 => Method::Sha3_512,
        0xd5 => return Err(err("md5 (0xd5) is not allowed in a WNM".into())),
        0x11 => return Err(err("sha1 (0x11) is not allowed in a WNM".into())),
        c => {
            return Err(err(format!(
                "hash function code {c:#x} is not one a WNM allows"
            )));
        }
    };
    let digest = &bytes[at..];
    if len != method.digest_len() as u64 || digest.len() != method.digest_len() {
        return Err(err(format!(
            "{method} digests are {} bytes, the multihash declares {len} and holds {}",
            method.digest_len(),
            digest.len()
        )));
    }
    Ok(Integrity::from_digest(method, digest))
}

/// Checks a local copy of an asset against its `file:size` and `file:checksum`,
/// streaming the file once (constant memory).
pub fn check_local_file(asset: &StacAsset, path: &Path) -> Result<(), StacError> {
    let shown = path.display().to_string();
    let io = |source| StacError::Io {
        path: shown.clone(),
        source,
    };
    let size_check = |actual: u64| match asset.length {
        Some(expected) if expected != actual => Err(StacError::SizeMismatch {
            path: shown.clone(),
            key: asset.key.clone(),
            expected,
            actual,
        }),
        _ => Ok(()),
    };
    let Some(want) = &asset.integrity else {
        let actual = std::fs::metadata(path).map_err(io)?.len();
        return size_check(actual);
    };
    let file = File::open(path).map_err(io)?;
    let got = digest_reader(want.method, file).map_err(io)?;
    size_check(got.length)?;
    if got.integrity.value != want.value {
        return Err(StacError::DigestMismatch {
            path: shown,
            key: asset.key.clone(),
            method: want.method,
            expected: want.value.clone(),
            actual: got.integrity.value,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: "ev-1".into(),
            source: "test".into(),
            kind: "stac.item".into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            data: Some(data),
        }
    }

    fn item(extra_props: Value, geometry: Value) -> Value {
        let mut props = json!({"datetime": "2024-01-01T00:00:00Z"});
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra_props.as_object()) {
            for (k, v) in e {
                p.insert(k.clone(), v.clone());
            }
        }
        json!({
            "type": "Feature", "id": "item-1", "geometry": geometry, "properties": props,
            "bbox": [1.0, 2.0, 3.0, 4.0],
            "assets": {
                "a.nc": {"href": "https://x/a.nc", "roles": ["data"], "type": "application/x-netcdf"},
                "thumb.png": {"href": "https://x/t.png", "roles": ["thumbnail"]}
            }
        })
    }

    #[test]
    fn multihash_codes() {
        let d = [7u8; 32];
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        let i = multihash_to_integrity(&format!("1220{hex}")).expect("sha256");
        assert_eq!(i, Integrity::from_digest(Method::Sha256, &d));
        // Every other code, with a digest of its length.
        let (d32, d48, d64) = (hex.clone(), "cd".repeat(48), "ab".repeat(64));
        for (code, digest, method) in [
            ("16", &d32, Method::Sha3_256),
            ("13", &d64, Method::Sha512),
            ("14", &d64, Method::Sha3_512),
            ("20", &d48, Method::Sha384),
            ("15", &d48, Method::Sha3_384),
        ] {
            let hash = format!("{code}{:02x}{digest}", digest.len() / 2);
            let i = multihash_to_integrity(&hash).unwrap_or_else(|e| panic!("{hash}: {e}"));
            assert_eq!(i.method, method);
        }
        for bad in [
            "",
            "1",
            "12",
            "1220",
            "zz20",
            "1221aa",
            "d51000",
            "1110aa",
            "ffffffffffffffffffff01",
        ] {
            let e = multihash_to_integrity(bad).expect_err(bad);
            assert!(e.to_string().contains("multihash"), "{e}");
        }
        // Declared length right, digest short.
        assert!(multihash_to_integrity(&format!("1220{}", &hex[..62])).is_err());
    }

    #[test]
    fn assets_are_filtered_by_role() {
        let ev = event(item(
            json!({}),
            json!({"type": "Point", "coordinates": [1.5, 2.5]}),
        ));
        let a = specs_from_stac_event(&ev, &StacOptions::default()).expect("item");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].key, "a.nc");
        assert_eq!(a[0].geometry, Some(Geometry::point(1.5, 2.5)));
        let all = StacOptions {
            roles: vec![],
            ..Default::default()
        };
        assert_eq!(specs_from_stac_event(&ev, &all).expect("item").len(), 2);
        let none = StacOptions {
            roles: vec!["overview".into()],
            ..Default::default()
        };
        assert!(matches!(
            specs_from_stac_event(&ev, &none),
            Err(StacError::NoAssets { .. })
        ));
        let strict = StacOptions {
            require_checksum: true,
            ..Default::default()
        };
        assert!(matches!(
            specs_from_stac_event(&ev, &strict),
            Err(StacError::Asset { .. })
        ));
    }

    #[test]
    fn intervals_and_time_zones() {
        let ev = event(item(
            json!({"datetime": null, "start_datetime": "2024-01-01T01:00:00+01:00",
                   "end_datetime": "2024-01-02T00:00:00Z"}),
            Value::Null,
        ));
        let a = specs_from_stac_event(&ev, &StacOptions::default()).expect("item");
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("t")
                .with_timezone(&Utc)
        };
        assert_eq!(
            a[0].temporal,
            Temporal::Interval {
                start: t("2024-01-01T00:00:00Z"),
                end: t("2024-01-02T00:00:00Z")
            }
        );
        assert_eq!(a[0].geometry, None);
        let ev = event(item(json!({"datetime": "yesterday"}), Value::Null));
        assert!(matches!(
            specs_from_stac_event(&ev, &StacOptions::default()),
            Err(StacError::Time { .. })
        ));
    }

    #[test]
    fn geometries() {
        let poly = json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]});
        let ev = event(item(json!({}), poly));
        let a = specs_from_stac_event(&ev, &StacOptions::default()).expect("polygon");
        assert!(matches!(a[0].geometry, Some(Geometry::Polygon { .. })));
        for bad in [
            json!({"type": "Point", "coordinates": [200, 0]}),
            json!({"type": "Point", "coordinates": ["1", 0]}),
            json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1]]]}),
            json!({"type": "Point"}),
            json!("POINT(1 2)"),
        ] {
            let ev = event(item(json!({}), bad.clone()));
            assert!(
                matches!(
                    specs_from_stac_event(&ev, &StacOptions::default()),
                    Err(StacError::Geometry { .. })
                ),
                "{bad}"
            );
        }
        let line = json!({"type": "LineString", "coordinates": [[1,2],[3,4]]});
        let a = specs_from_stac_event(&event(item(json!({}), line)), &StacOptions::default())
            .expect("bbox fallback");
        assert_eq!(a[0].geometry, Some(Geometry::bbox(1.0, 2.0, 3.0, 4.0)));
    }

    #[test]
    fn not_an_item() {
        let o = StacOptions::default();
        let mut ev = event(json!({"path": "a.nc"}));
        assert!(matches!(
            specs_from_stac_event(&ev, &o),
            Err(StacError::NotItem { .. })
        ));
        ev.data = None;
        assert!(matches!(
            specs_from_stac_event(&ev, &o),
            Err(StacError::NoData { .. })
        ));
        ev.data = Some(Value::String(item(json!({}), Value::Null).to_string()));
        assert_eq!(
            specs_from_stac_event(&ev, &o).expect("string data").len(),
            1
        );
    }
}
