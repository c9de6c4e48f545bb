//! Readers that date and place data, and media-type sniffing.

use std::path::Path;

use crate::message::{Geometry, Temporal};

/// What the data say about themselves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataFacts {
    /// Media type (`application/x-netcdf`, `application/bufr`, ...).
    pub media_type: String,
    pub temporal: Temporal,
    pub geometry: Option<Geometry>,
}

/// A file that could not be read for its facts.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Sniffs the media type, then reads time and place where the format allows.
pub fn describe(path: &Path) -> Result<DataFacts, FormatError> {
    let _ = path;
    Ok(DataFacts {
        media_type: "application/octet-stream".into(),
        ..Default::default()
    })
}
