//! Why the validator could not be set up.

use std::path::PathBuf;

use crate::topic::TopicError;

/// The validator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(
        "cannot read the WNM schema {path}: {source} (fix: pass --schema / WIS2_WNM_SCHEMA with the path of wis2-notification-message-bundled.json, or run `wis2-validate schema sync`)"
    )]
    SchemaRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the WNM schema {path} is not JSON: {source} (fix: re-download it with `wis2-validate schema sync`)"
    )]
    SchemaJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the WNM schema {path} does not compile: {reason} (fix: use the bundled, self-contained schema wis2-notification-message-bundled.json; `wis2-validate schema sync` fetches it)"
    )]
    SchemaCompile { path: PathBuf, reason: String },
    #[error(transparent)]
    Topic(#[from] TopicError),
}
