//! Why the authoritative WCMP2 documents could not be loaded.

use std::path::PathBuf;

use crate::topic::TopicError;

/// The authoritative documents could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Wcmp2Error {
    #[error(
        "cannot read WCMP2 schema {path}: {source} (fix: point --schema / WIS2_WCMP2_SCHEMA at wcmp2-bundled.json, or run `wis2-validate metadata sync`)"
    )]
    ReadSchema {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "WCMP2 schema {path} is not JSON: {source} (fix: re-download it with `wis2-validate metadata sync`)"
    )]
    ParseSchema {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "WCMP2 schema {path} does not compile as JSON Schema 2020-12: {reason} (fix: use the official wcmp2-bundled.json)"
    )]
    CompileSchema { path: PathBuf, reason: String },
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
