//! Why the authoritative WCMP2 documents could not be loaded.

use std::path::PathBuf;

use crate::schema::SchemaError;
use crate::topic::TopicError;

/// The authoritative documents could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Wcmp2Error {
    /// The schema file cannot be read, parsed or compiled.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(
        "cannot read WCMP2 code list {path}: {source} (fix: point --codelists / WIS2_WCMP2_CODELISTS at the folder of code list CSVs, or run `wis2-validate metadata sync`)"
    )]
    ReadCodelist {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "WCMP2 code list {path} is malformed: {reason} (fix: re-download the code lists with `wis2-validate metadata sync`)"
    )]
    Codelist { path: PathBuf, reason: String },
    #[error(transparent)]
    Topic(#[from] TopicError),
}
