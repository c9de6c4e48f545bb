//! Readers that date and place data, and media-type sniffing.
//!
//! [`describe`] is the one entry point the chain uses: it sniffs the media type from
//! the content (then the file name), and reads time and place where the format allows:
//!
//! | content | media type | time | place |
//! |---|---|---|---|
//! | netCDF classic / netCDF-4 (Argo) | `application/x-netcdf` | `JULD` / `JULD_LOCATION` | `LATITUDE`/`LONGITUDE` |
//! | BUFR edition 2-4 | `application/bufr` | typical date/time of each message | none |
//! | GRIB, HDF5, JSON, text, ... | sniffed or by extension | unknown | none |
//!
//! netCDF classic files are checked against the length their header declares (see
//! [`classic`]), then read in Rust from that header; netCDF-4/HDF5 files go through
//! libnetcdf on one dedicated thread (see [`netcdf`]).
//!
//! A file whose content contradicts its name (`.nc` that is not netCDF, `.bufr` without
//! a BUFR message) is an error, and so is a damaged netCDF or BUFR file: a message with
//! a wrong time is worse than no message.

pub mod bufr;
pub mod classic;
pub mod netcdf;
pub mod sniff;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::message::{Geometry, Temporal};

pub use sniff::{MediaTypes, sniff_media_type};

/// What the data say about themselves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataFacts {
    /// Media type (`application/x-netcdf`, `application/bufr`, ...).
    pub media_type: String,
    pub temporal: Temporal,
    pub geometry: Option<Geometry>,
    /// What the reader skipped, assumed or could not find (for logs and reports).
    pub notes: Vec<String>,
}

/// A file that could not be read for its facts.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read {path}: {source}; check that the file exists and is readable")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not usable netCDF: {source}")]
    Netcdf {
        path: String,
        #[source]
        source: netcdf::NetcdfError,
    },
    #[error("{path} is not usable BUFR: {source}")]
    Bufr {
        path: String,
        #[source]
        source: bufr::BufrError,
    },
    #[error(
        "{path} is named as {expected} but its content is not ({found}); send the right file or rename it"
    )]
    Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path} is not valid JSON: {reason}; fix the document or rename the file")]
    Json { path: String, reason: String },
}

/// How [`describe_with`] works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Extension → media type for content that has no magic number.
    pub media_types: MediaTypes,
    /// JSON files up to this size are parsed to tell GeoJSON from JSON; larger ones
    /// are judged on their first bytes.
    pub max_json_bytes: u64,
    /// BUFR files up to this size are read (they are read whole into memory).
    pub max_bufr_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            media_types: MediaTypes::default(),
            max_json_bytes: 16 * 1024 * 1024,
            max_bufr_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Sniffs the media type, then reads time and place where the format allows.
pub fn describe(path: &Path) -> Result<DataFacts, FormatError> {
    describe_with(path, &Options::default())
}

/// [`describe`] with a configured extension table and limits.
pub fn describe_with(path: &Path, opts: &Options) -> Result<DataFacts, FormatError> {
    let shown = path.display().to_string();
    let io = |source| FormatError::Io {
        path: shown.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut head = Vec::with_capacity(sniff::HEAD_LEN);
    (&mut file)
        .take(sniff::HEAD_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    describe_body(path, shown, Body::Open { file, head }, size, opts)
}

/// [`describe_with`] of a file whose whole content, `bytes`, was read already (to
/// hash it, say): nothing is read again, except a netCDF-4/HDF5 file, which libnetcdf
/// opens by `path`. `path` also gives the extension and the name in errors.
pub fn describe_loaded(
    path: &Path,
    bytes: &[u8],
    opts: &Options,
) -> Result<DataFacts, FormatError> {
    let shown = path.display().to_string();
    describe_body(path, shown, Body::Whole(bytes), bytes.len() as u64, opts)
}

/// What [`describe_body`] reads from.
enum Body<'a> {
    /// A file opened, whose first bytes `head` were read (its position is after them).
    Open { file: File, head: Vec<u8> },
    /// A file's whole content.
    Whole(&'a [u8]),
}

impl Body<'_> {
    /// The first bytes, for the sniffing.
    fn head(&self) -> &[u8] {
        match self {
            Body::Open { head, .. } => head,
            Body::Whole(b) => &b[..b.len().min(sniff::HEAD_LEN)],
        }
    }

    /// The whole content: `path` read when only its head was.
    fn whole(&self, path: &Path) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Body::Open { .. } => std::fs::read(path).map(std::borrow::Cow::Owned),
            Body::Whole(b) => Ok(std::borrow::Cow::Borrowed(b)),
        }
    }
}

/// Sniffs the media type from `body`'s first bytes, then reads time and place where
/// the format allows (`size`: the file's length).
fn describe_body(
    path: &Path,
    shown: String,
    body: Body<'_>,
    size: u64,
    opts: &Options,
) -> Result<DataFacts, FormatError> {
    let io = |source| FormatError::Io {
        path: shown.clone(),
        source,
    };
    let head = body.head();
    let mut facts = DataFacts::default();
    match sniff::magic(head) {
        // What was read of the file goes on to the reader.
        sniff::Magic::NetcdfClassic(_) => {
            let read = match body {
                Body::Open { file, head } => netcdf::read_opened(path, file, head, size),
                Body::Whole(b) => netcdf::read_loaded(path, b.to_vec()),
            };
            read_netcdf(read, &shown, &mut facts)?
        }
        sniff::Magic::Hdf5 if sniff::is_netcdf_name(path) => {
            read_netcdf(netcdf::read(path), &shown, &mut facts)?
        }
        sniff::Magic::Hdf5 => {
            facts.media_type = sniff::HDF5.into();
            facts
                .notes
                .push("HDF5 not named .nc/.nc4: not read for time and place".into());
        }
        sniff::Magic::Bufr(_) => read_bufr(path, &body, &shown, size, opts, &mut facts)?,
        sniff::Magic::Grib(_) => {
            facts.media_type = sniff::GRIB.into();
            facts
                .notes
                .push("GRIB is not read for time and place".into());
        }
        sniff::Magic::JsonLike => {
            let parsed = if size <= opts.max_json_bytes {
                let bytes = body.whole(path).map_err(io)?;
                let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                Some(serde_json::from_slice::<serde_json::Value>(text))
            } else {
                None
            };
            match parsed {
                Some(Ok(v)) => {
                    facts.media_type = if sniff::json_is_geojson(&v) {
                        sniff::GEOJSON
                    } else {
                        sniff::JSON
                    }
                    .into();
                }
                // Too large to parse here: judge on the first bytes.
                None => {
                    facts.media_type = sniff::sniff_content(head, path)
                        .unwrap_or(sniff::JSON)
                        .into()
                }
                Some(Err(e)) => {
                    let by_name = opts.media_types.by_extension(path);
                    if matches!(by_name, Some(sniff::JSON) | Some(sniff::GEOJSON)) {
                        return Err(FormatError::Json {
                            path: shown,
                            reason: e.to_string(),
                        });
                    }
                    // `[section]` INI files and the like start like JSON.
                    facts.media_type = by_name.unwrap_or(sniff::OCTET_STREAM).into();
                    facts
                        .notes
                        .push(format!("starts like JSON but is not JSON ({e})"));
                }
            }
        }
        sniff::Magic::Unknown => {
            let by_name = opts
                .media_types
                .by_extension(path)
                .unwrap_or(sniff::OCTET_STREAM);
            let needs_magic = [
                sniff::NETCDF,
                sniff::HDF5,
                sniff::BUFR,
                sniff::GRIB,
                sniff::JSON,
                sniff::GEOJSON,
            ];
            if needs_magic.contains(&by_name) {
                return Err(FormatError::Mismatch {
                    path: shown,
                    expected: by_name.to_string(),
                    found: describe_head(head),
                });
            }
            facts.media_type = by_name.to_string();
        }
    }
    Ok(facts)
}

fn read_netcdf(
    read: Result<netcdf::NetcdfFacts, netcdf::NetcdfError>,
    shown: &str,
    facts: &mut DataFacts,
) -> Result<(), FormatError> {
    facts.media_type = sniff::NETCDF.into();
    let nc = read.map_err(|source| FormatError::Netcdf {
        path: shown.to_string(),
        source,
    })?;
    facts.temporal = nc.temporal;
    facts.geometry = nc.geometry;
    if let Some(v) = nc.time_variable {
        facts.notes.push(format!("time from {v}"));
    }
    facts.notes.extend(nc.notes);
    Ok(())
}

fn read_bufr(
    path: &Path,
    body: &Body<'_>,
    shown: &str,
    size: u64,
    opts: &Options,
    facts: &mut DataFacts,
) -> Result<(), FormatError> {
    facts.media_type = sniff::BUFR.into();
    if size > opts.max_bufr_bytes {
        facts.notes.push(format!(
            "BUFR file of {size} bytes is over the {}-byte limit: not read for time",
            opts.max_bufr_bytes
        ));
        return Ok(());
    }
    let bytes = body.whole(path).map_err(|source| FormatError::Io {
        path: shown.to_string(),
        source,
    })?;
    let scan = bufr::scan(&bytes).map_err(|source| FormatError::Bufr {
        path: shown.to_string(),
        source,
    })?;
    facts.temporal = Temporal::from_times(scan.messages.iter().map(|m| m.typical_time));
    facts.notes.push(format!(
        "time from section 1 of {} BUFR message(s)",
        scan.messages.len()
    ));
    facts.notes.extend(scan.warnings);
    Ok(())
}

/// A short, printable account of what a file starts with.
fn describe_head(head: &[u8]) -> String {
    if head.is_empty() {
        return "the file is empty".into();
    }
    let shown: String = head
        .iter()
        .take(8)
        .map(|b| {
            if b.is_ascii_graphic() {
                (*b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    format!("it starts with `{shown}`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        let mut f = File::create(&p).expect("create");
        f.write_all(bytes).expect("write");
        p
    }

    #[test]
    fn named_netcdf_without_magic_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(&dir, "R1_001.nc", b"<html>not found</html>");
        let e = describe(&p).expect_err("not netCDF");
        let msg = e.to_string();
        assert!(msg.contains("R1_001.nc"), "{msg}");
        assert!(msg.contains("application/x-netcdf"), "{msg}");
        assert!(msg.contains("<html>"), "{msg}");
        let empty = write(&dir, "x.bufr", b"");
        assert!(
            describe(&empty)
                .expect_err("empty")
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn json_and_geojson() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            &dir,
            "a.json",
            br#"{"geometry": null, "properties": {}, "type": "Feature"}"#,
        );
        assert_eq!(describe(&p).expect("geojson").media_type, sniff::GEOJSON);
        let p = write(&dir, "b.dat", br#"[1, 2, 3]"#);
        assert_eq!(describe(&p).expect("json").media_type, sniff::JSON);
        let p = write(&dir, "c.json", b"{ broken");
        assert!(matches!(describe(&p), Err(FormatError::Json { .. })));
        let p = write(&dir, "d.csv", b"[x]\na=1\n");
        assert_eq!(describe(&p).expect("csv").media_type, "text/csv");
    }

    #[test]
    fn text_by_extension_and_unknown_by_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(&dir, "obs.csv", b"station,time\n1,2\n");
        let f = describe(&p).expect("csv");
        assert_eq!(f.media_type, "text/csv");
        assert_eq!(f.temporal, Temporal::Unknown);
        let p = write(&dir, "blob", b"\x00\x01\x02");
        assert_eq!(describe(&p).expect("blob").media_type, sniff::OCTET_STREAM);
        let mut opts = Options::default();
        opts.media_types.insert("dat", "text/plain");
        let p = write(&dir, "x.dat", b"hello");
        assert_eq!(
            describe_with(&p, &opts).expect("dat").media_type,
            "text/plain"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = describe(Path::new("/nonexistent/R1.nc")).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/R1.nc"));
    }
}
