//! Announcing discovery metadata: the WNM of a WCMP2 record.
//!
//! Conventions of this project:
//! - topic: exactly `origin/a/wis2/<centre-id>/metadata`;
//! - `data_id`: `<centre-id>/metadata/<local id>`, the local id being what follows
//!   `urn:wmo:md:<centre-id>:` in the record's `id` (so a record keeps its data_id
//!   whatever its file is called, and a changed record is an `update` of the same
//!   data_id);
//! - `metadata_id`: the record's `id`, also on deletions;
//! - the link: the record's public URL, `type: application/geo+json`, with `length`
//!   and `integrity` of the record file (none on deletions);
//! - `datetime`: the record's `updated` time, else `created`; geometry: the record's.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::hash::Integrity;
use crate::message::{Geometry, MessageSpec, Relation, Temporal};

/// Media type of a WCMP2 record.
pub const RECORD_MEDIA_TYPE: &str = "application/geo+json";

/// Why a record cannot be announced.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("the record is not JSON: {0}; a WCMP2 record is a GeoJSON Feature")]
    NotJson(#[from] serde_json::Error),
    #[error("the record has no string `id`: give it `urn:wmo:md:<centre-id>:<local-id>`")]
    NoId,
    #[error(
        "record id `{id}` is not `urn:wmo:md:{centre}:<local-id>`: the centre id of a record published by {centre} must be {centre}"
    )]
    Id { id: String, centre: String },
}

/// The metadata topic of a centre.
pub fn metadata_topic(centre_id: &str) -> String {
    format!("origin/a/wis2/{centre_id}/metadata")
}

/// The local part of `urn:wmo:md:<centre-id>:<local-id>`, when the centre matches.
pub fn local_id<'a>(record_id: &'a str, centre_id: &str) -> Option<&'a str> {
    record_id
        .strip_prefix("urn:wmo:md:")?
        .strip_prefix(centre_id)?
        .strip_prefix(':')
        .filter(|l| !l.is_empty())
}

/// The `data_id` of a record's notifications.
pub fn data_id(centre_id: &str, record_id: &str) -> Result<String, MetadataError> {
    let local = local_id(record_id, centre_id).ok_or_else(|| MetadataError::Id {
        id: record_id.to_string(),
        centre: centre_id.to_string(),
    })?;
    Ok(format!("{centre_id}/metadata/{local}"))
}

/// What a record says about itself for its notification.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFacts {
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    pub geometry: Option<Geometry>,
}

impl RecordFacts {
    /// Reads the id, the time and the geometry of a record.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let v: Value = serde_json::from_slice(bytes)?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or(MetadataError::NoId)?
            .to_string();
        let geometry = v
            .get("geometry")
            .and_then(|g| serde_json::from_value::<Geometry>(g.clone()).ok());
        Ok(RecordFacts {
            id,
            time: crate::wcmp2::record_time(&v),
            geometry,
        })
    }
}

/// The message content of a new or changed record.
pub fn spec_for_record(
    centre_id: &str,
    facts: &RecordFacts,
    href: String,
    relation: Relation,
    length: u64,
    integrity: Integrity,
) -> Result<MessageSpec, MetadataError> {
    Ok(MessageSpec {
        data_id: data_id(centre_id, &facts.id)?,
        metadata_id: Some(facts.id.clone()),
        href,
        media_type: Some(RECORD_MEDIA_TYPE.to_string()),
        length: Some(length),
        integrity: Some(integrity),
        temporal: facts.time.map(Temporal::Instant).unwrap_or_default(),
        geometry: facts.geometry.clone(),
        relation,
        ..Default::default()
    })
}

/// The message content of a removed record.
pub fn spec_for_deletion(
    centre_id: &str,
    record_id: &str,
    href: String,
) -> Result<MessageSpec, MetadataError> {
    Ok(MessageSpec {
        data_id: data_id(centre_id, record_id)?,
        metadata_id: Some(record_id.to_string()),
        href,
        media_type: Some(RECORD_MEDIA_TYPE.to_string()),
        relation: Relation::Deletion,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Method;
    use crate::message::Notification;

    const RECORD: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metadata/fr-ifremer-argo-core-metadata.json"
    );

    #[test]
    fn the_project_record_gives_a_valid_metadata_message() {
        let bytes = std::fs::read(RECORD).unwrap();
        let facts = RecordFacts::parse(&bytes).unwrap();
        assert_eq!(facts.id, "urn:wmo:md:fr-ifremer-argo:cor:msg:argo");
        let spec = spec_for_record(
            "fr-ifremer-argo",
            &facts,
            "https://data.example.org/metadata/argo.json".into(),
            Relation::Canonical,
            bytes.len() as u64,
            Integrity::of_bytes(Method::Sha512, &bytes),
        )
        .unwrap();
        let m = Notification::build(spec).to_value();
        assert_eq!(
            m["properties"]["data_id"],
            "fr-ifremer-argo/metadata/cor:msg:argo"
        );
        assert_eq!(m["properties"]["metadata_id"], facts.id.as_str());
        assert_eq!(m["links"][0]["type"], RECORD_MEDIA_TYPE);
        assert_eq!(m["geometry"]["type"], "Polygon");
        assert!(m["properties"]["datetime"].is_string());
        let report = crate::validate::Validator::builtin()
            .check_value(&m, Some(&metadata_topic("fr-ifremer-argo")));
        assert!(report.is_valid(), "{}", report.to_human());
    }

    #[test]
    fn deletion_keeps_the_metadata_id_and_a_foreign_centre_is_refused() {
        let spec = spec_for_deletion(
            "fr-ifremer-argo",
            "urn:wmo:md:fr-ifremer-argo:cor:msg:argo",
            "https://h/m.json".into(),
        )
        .unwrap();
        let m = Notification::build(spec).to_value();
        assert_eq!(m["links"][0]["rel"], "deletion");
        assert_eq!(
            m["properties"]["metadata_id"],
            "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
        );
        let e = data_id("fr-ifremer-argo", "urn:wmo:md:de-dwd:x").unwrap_err();
        assert!(e.to_string().contains("must be fr-ifremer-argo"), "{e}");
        assert!(local_id("urn:wmo:md:fr-ifremer-argo:", "fr-ifremer-argo").is_none());
    }
}
