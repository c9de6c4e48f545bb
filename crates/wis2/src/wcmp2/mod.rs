//! WMO Core Metadata Profile 2 (WCMP2): the executable test suite for discovery
//! metadata records, like pywcmp's `ets` (same test ids, same behaviour where pywcmp
//! checks something, stricter where the standard or the Global Services are).
//!
//! One test per requirement class of the WCMP2 abstract test suite, each with the id
//! `http://wis.wmo.int/spec/wcmp/2/conf/core/<name>` (see [`test_id`]):
//!
//! | test | what |
//! |---|---|
//! | `validation` | the authoritative JSON Schema (Draft 2020-12, formats asserted); SKIPPED without a schema |
//! | `identifier` | `urn:wmo:md:<centre-id>:<local-id>`, ASCII, no spaces or semicolons; centre-id registered (WTH tables; not looked up for a `-test` centre) |
//! | `conformance` | `conformsTo` holds `http://wis.wmo.int/spec/wcmp/2/conf/core` |
//! | `type` | `properties.type` in the resource-type code list |
//! | `extent_geospatial` | GeoJSON geometry or null, WGS84 ranges, closed non-degenerate rings, bbox |
//! | `extent_temporal` | `time` null or date/timestamp/interval/resolution; interval order; open ends `..`/null; ISO 8601 durations |
//! | `title`, `description` | present, non-blank strings |
//! | `themes` | themes with concepts and scheme; an earth-system-discipline theme whose concepts are in the WTH |
//! | `themes_wis2_global_service` | a Global Service record: type `service`, one global-service-type concept, all disciplines |
//! | `contacts` | organization, roles from the contact-role code list, at least one `host` |
//! | `record_creation_date` | `properties.created` (and `updated`) RFC 3339, updated not before created |
//! | `data_policy` | `wmo:dataPolicy` core/recommended for datasets, licence link when recommended, equal to the MQTT channels' level 6 |
//! | `links` | rel an IANA relation or WCMP2 link type; MQTT links carry a valid WTH `channel` whose centre-id (4th level) is the id's; `filters` are JSON Schemas; security described |
//!
//! Where the checker differs from pywcmp (all documented in the tests):
//! - pywcmp raises on a missing member (`KeyError`); here that member's test fails.
//! - An MQTT link is a link whose `href` is `mqtt://`/`mqtts://`, or `ws://`/`wss://`
//!   (MQTT over WebSocket) with a `channel`.
//! - A dataset with no MQTT link is a warning, not a failure: WCMP2 requires the
//!   MQTT link for real-time data only, and archive records (several official
//!   examples) have none. [`Wcmp2Checker::require_mqtt_link`] makes it a failure of
//!   `links`, for a publisher's own real-time records.
//! - A data policy that differs from an MQTT channel's level 6 fails `data_policy`
//!   (once, not also `links`).

mod channels;
mod checker;
pub mod codelists;
mod context;
mod error;
mod extent;
mod geo;
mod identity;
mod links;
mod properties;
mod schema;
pub mod temporal;
pub mod test_id;
mod themes;

pub use channels::mqtt_channels;
pub use checker::{Wcmp2Checker, Wcmp2Options};
pub use codelists::CodeLists;
pub use context::record_time;
pub use error::Wcmp2Error;
pub use identity::WCMP2_CONFORMANCE;
