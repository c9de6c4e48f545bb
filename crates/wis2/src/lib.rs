//! # wis2: the WIS2 domain library
//!
//! Everything a WIS2 publisher needs to build and check messages, with no network
//! code and no async runtime, so that anyone can use it from a script, a service or a
//! test:
//!
//! - [`message`]: WIS2 Notification Message (WNM) wire types and the builder that turns
//!   a data file into a message;
//! - [`hash`]: streaming integrity digests (SHA-2 and SHA-3, base64);
//! - [`formats`]: readers that date and place data (Argo netCDF, BUFR) and sniff media types;
//! - [`event`]: the CloudEvents 1.0 envelope used between the chain's services;
//! - [`path`]: the relative path of a file under the data directory, checked once;
//! - [`topic`]: the WIS2 Topic Hierarchy, and [`topic::Topic`], a topic checked once;
//! - [`validate`]: the WNM abstract test suite, the authoritative JSON Schema, reports;
//! - [`report`]: test reports shaped like pywis-pubsub's `ets-report`;
//! - [`schema`]: the authoritative JSON Schema files, compiled the one way both suites need.

mod codetable;
pub mod event;
pub mod formats;
pub mod hash;
mod json;
pub mod message;
pub mod metadata;
pub mod monitor;
pub mod path;
pub mod report;
pub mod schema;
pub mod stac;
pub mod topic;
pub mod validate;
pub mod wcmp2;

/// The conformance class every WNM declares in `conformsTo`.
pub const WNM_CONFORMANCE: &str = "http://wis.wmo.int/spec/wnm/1/conf/core";

/// The largest serialized WNM a Global Broker accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8192;

/// The largest encoded inline `content.value`, in bytes.
pub const MAX_INLINE_CONTENT_BYTES: usize = 4096;

#[cfg(test)]
mod tests {
    /// A service builds each checker once and shares it between its threads.
    #[test]
    fn checkers_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::validate::Validator>();
        shareable::<crate::wcmp2::Wcmp2Checker>();
    }
}
