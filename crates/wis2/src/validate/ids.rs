//! Test ids, one per requirement class of the WNM abstract test suite.

/// The message validates against the authoritative WNM JSON Schema.
pub const VALIDATION: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/validation";
/// `id` is a UUID.
pub const IDENTIFIER: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/identifier";
/// `conformsTo` holds the WNM core class (or the deprecated `version: v04`).
pub const CONFORMANCE: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/conformance";
/// `geometry` is null, a Point or a Polygon in WGS84.
pub const GEOMETRY: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/geometry";
/// `properties.data_id` is a non-empty string.
pub const DATA_ID: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/data_id";
/// `properties.metadata_id` is `urn:wmo:md:<centre-id>:...` with the topic's centre-id.
pub const METADATA_ID: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/metadata_id";
/// `properties.pubtime` is RFC 3339 in UTC.
pub const PUBTIME: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/pubtime";
/// `datetime`, or `start_datetime` and `end_datetime`, RFC 3339 in UTC.
pub const TEMPORAL: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/temporal";
/// `links`: schemes, exactly one canonical/update/deletion.
pub const LINKS: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/links";
/// The message is at most 8192 bytes.
pub const MESSAGE_SIZE: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/message_size";
/// Inline `content`: encoding, at most 4096 encoded bytes.
pub const CONTENT: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/content";
/// `properties.integrity`: required, one of the six methods, a base64 value (INFCOM-4
/// draft only: in 1.3.0 it is a recommendation, checked as warnings).
pub const INTEGRITY: &str = "http://wis.wmo.int/spec/wnm/1/conf/core/integrity";
/// The topic the message came on (WIS2 Topic Hierarchy).
pub const TOPIC: &str = crate::topic::TOPIC_TEST_ID;

/// Every WNM test, in report order (the topic test is added when a topic is given).
pub const ALL: [&str; 11] = [
    VALIDATION,
    IDENTIFIER,
    CONFORMANCE,
    GEOMETRY,
    DATA_ID,
    METADATA_ID,
    PUBTIME,
    TEMPORAL,
    LINKS,
    MESSAGE_SIZE,
    CONTENT,
];
