//! Media types from content first, file name second.
//!
//! Magic numbers are checked before the extension because data arrive under any name
//! (`.bin` for BUFR bulletins, `.dat`, no extension at all). The extension only decides
//! what the content cannot: HDF5 named `.nc`/`.nc4` is netCDF-4, text formats have no
//! magic.

use std::collections::BTreeMap;
use std::path::Path;

/// netCDF classic and 64-bit-offset (and CDF-5).
pub const NETCDF: &str = "application/x-netcdf";
/// HDF5 that is not named as netCDF-4.
pub const HDF5: &str = "application/x-hdf5";
/// WMO FM 94 BUFR.
pub const BUFR: &str = "application/bufr";
/// WMO FM 92 GRIB.
pub const GRIB: &str = "application/grib";
/// Any JSON that is not a GeoJSON feature.
pub const JSON: &str = "application/json";
/// A GeoJSON `Feature` or `FeatureCollection`.
pub const GEOJSON: &str = "application/geo+json";
/// What nothing else matched.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// How many leading bytes sniffing looks at. A GTS abbreviated heading (and the
/// starting line of a bulletin) before `BUFR`/`GRIB` is well under this.
pub const HEAD_LEN: usize = 1024;

/// Where a GTS heading may push the `BUFR`/`GRIB` indicator: search this many bytes.
pub const INDICATOR_WINDOW: usize = 256;

/// HDF5 superblock signature (at offset 0, 512, 1024, ... when there is a user block).
pub const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// What the first bytes of a file are, by magic number alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// `CDF\x01`, `CDF\x02` or `CDF\x05`: netCDF classic, 64-bit offset, CDF-5.
    NetcdfClassic(u8),
    /// HDF5 superblock signature at this offset.
    Hdf5,
    /// `BUFR` at this byte offset (after a GTS heading when not 0).
    Bufr(usize),
    /// `GRIB` at this byte offset.
    Grib(usize),
    /// First non-blank byte is `{` or `[`.
    JsonLike,
    /// Nothing recognised.
    Unknown,
}

/// Recognises the magic number of a file's first bytes.
pub fn magic(head: &[u8]) -> Magic {
    if head.len() >= 4 && &head[..3] == b"CDF" && matches!(head[3], 1 | 2 | 5) {
        return Magic::NetcdfClassic(head[3]);
    }
    // HDF5 allows a user block of 512 * 2^n bytes before the superblock.
    for off in [0usize, 512] {
        if head.len() >= off + 8 && &head[off..off + 8] == HDF5_MAGIC {
            return Magic::Hdf5;
        }
    }
    let bufr = find_indicator(head, b"BUFR", |e| matches!(e, 2..=4));
    let grib = find_indicator(head, b"GRIB", |e| matches!(e, 1 | 2));
    match (bufr, grib) {
        (Some(b), Some(g)) if g < b => return Magic::Grib(g),
        (Some(b), _) => return Magic::Bufr(b),
        (None, Some(g)) => return Magic::Grib(g),
        (None, None) => {}
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Magic::JsonLike,
        _ => Magic::Unknown,
    }
}

/// First offset within [`INDICATOR_WINDOW`] where `word` starts a plausible section 0:
/// the edition byte (octet 8) is one `edition_ok` accepts. This keeps a text file that
/// merely mentions "BUFR" from being taken for data.
fn find_indicator(head: &[u8], word: &[u8; 4], edition_ok: impl Fn(u8) -> bool) -> Option<usize> {
    let last = head.len().min(INDICATOR_WINDOW + 3);
    let mut from = 0;
    while let Some(i) = find(&head[from..last], word) {
        let at = from + i;
        if head.get(at + 7).is_some_and(|e| edition_ok(*e)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Position of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The default extension table (lowercase, without the dot).
pub const DEFAULT_EXTENSIONS: &[(&str, &str)] = &[
    ("nc", NETCDF),
    ("nc4", NETCDF),
    ("cdf", NETCDF),
    ("h5", HDF5),
    ("hdf5", HDF5),
    ("he5", HDF5),
    ("bufr", BUFR),
    ("bufr3", BUFR),
    ("bufr4", BUFR),
    ("bfr", BUFR),
    ("grib", GRIB),
    ("grib1", GRIB),
    ("grib2", GRIB),
    ("grb", GRIB),
    ("grb2", GRIB),
    ("json", JSON),
    ("geojson", GEOJSON),
    ("txt", "text/plain"),
    ("csv", "text/csv"),
    ("xml", "application/xml"),
    ("html", "text/html"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("bz2", "application/x-bzip2"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
];

/// The media type of a file from its first bytes (at least [`HEAD_LEN`] when the file
/// is that long) and its name, with the default extension table.
///
/// JSON is judged on `head` only: `application/geo+json` when a top-level
/// `"type": "Feature"` or `"FeatureCollection"` shows in it. [`super::describe`] parses
/// the whole document instead.
pub fn sniff_media_type(head: &[u8], path: &Path) -> &'static str {
    sniff_content(head, path).unwrap_or_else(|| {
        extension_of(path)
            .and_then(|e| {
                DEFAULT_EXTENSIONS
                    .iter()
                    .find(|(k, _)| *k == e)
                    .map(|(_, t)| *t)
            })
            .unwrap_or(OCTET_STREAM)
    })
}

/// The media type the content alone proves, if any.
pub fn sniff_content(head: &[u8], path: &Path) -> Option<&'static str> {
    Some(match magic(head) {
        Magic::NetcdfClassic(_) => NETCDF,
        Magic::Hdf5 if is_netcdf_name(path) => NETCDF,
        Magic::Hdf5 => HDF5,
        Magic::Bufr(_) => BUFR,
        Magic::Grib(_) => GRIB,
        Magic::JsonLike if json_head_is_geojson(head) => GEOJSON,
        Magic::JsonLike => JSON,
        Magic::Unknown => return None,
    })
}

fn extension_of(path: &Path) -> Option<String> {
    Some(path.extension()?.to_str()?.to_ascii_lowercase())
}

/// The extension → media type table used when the content says nothing.
///
/// Extensions are matched case-insensitively, without the dot. The default is
/// [`DEFAULT_EXTENSIONS`]; [`MediaTypes::insert`] adds or overrides entries (for example
/// `dat` → `text/csv` for a centre that names its CSV files `.dat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTypes {
    by_ext: BTreeMap<String, String>,
}

impl Default for MediaTypes {
    fn default() -> Self {
        MediaTypes {
            by_ext: DEFAULT_EXTENSIONS
                .iter()
                .map(|(e, t)| (e.to_string(), t.to_string()))
                .collect(),
        }
    }
}

impl MediaTypes {
    /// An empty table: only content sniffing applies.
    pub fn empty() -> Self {
        MediaTypes {
            by_ext: BTreeMap::new(),
        }
    }

    /// Adds or replaces the media type of an extension (given with or without the dot).
    pub fn insert(&mut self, ext: &str, media_type: &str) -> &mut Self {
        let ext = ext.trim_start_matches('.').to_ascii_lowercase();
        self.by_ext.insert(ext, media_type.to_string());
        self
    }

    /// The media type of a file name's extension, if the table has it.
    pub fn by_extension(&self, path: &Path) -> Option<&str> {
        self.by_ext.get(&extension_of(path)?).map(String::as_str)
    }

    /// Content first, then extension, then `application/octet-stream`.
    pub fn sniff(&self, head: &[u8], path: &Path) -> &str {
        sniff_content(head, path)
            .or_else(|| self.by_extension(path))
            .unwrap_or(OCTET_STREAM)
    }
}

/// `.nc` or `.nc4` (any case).
pub(crate) fn is_netcdf_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("nc") || e.eq_ignore_ascii_case("nc4"))
}

/// Whether a parsed JSON document is a GeoJSON `Feature` or `FeatureCollection`.
pub fn json_is_geojson(v: &serde_json::Value) -> bool {
    matches!(
        v.get("type").and_then(|t| t.as_str()),
        Some("Feature") | Some("FeatureCollection")
    )
}

/// GeoJSON from the first bytes only: parse them when they hold the whole document,
/// else scan them for a top-level `"type"` member whose value is `"Feature"` or
/// `"FeatureCollection"` (nested members, such as a STAC item inside a CloudEvent,
/// do not count).
fn json_head_is_geojson(head: &[u8]) -> bool {
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return json_is_geojson(&v);
    }
    matches!(
        top_level_type(body).as_deref(),
        Some("Feature") | Some("FeatureCollection")
    )
}

/// The string value of the top-level object's `"type"` member, if the bytes show it.
fn top_level_type(b: &[u8]) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0;
    // The last string seen at depth 1 and whether it was followed by `:` (a key).
    let mut last_key: Option<String> = None;
    let mut expect_value_of_type = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let text = String::from_utf8_lossy(b.get(start..i.min(b.len()))?).into_owned();
                if depth == 1 {
                    if expect_value_of_type {
                        return Some(text);
                    }
                    last_key = Some(text);
                }
            }
            b':' if depth == 1 => {
                expect_value_of_type = last_key.as_deref() == Some("type");
            }
            b'{' | b'[' => {
                depth += 1;
                expect_value_of_type = false;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
            }
            b',' if depth == 1 => {
                expect_value_of_type = false;
                last_key = None;
            }
            c if !c.is_ascii_whitespace() && depth == 1 => {
                // A number, `true`, `null`... as the value of "type": not GeoJSON.
                expect_value_of_type = false;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    #[test]
    fn magic_numbers_win_over_names() {
        assert_eq!(sniff_media_type(b"CDF\x01\0\0\0\x01", p("x.bin")), NETCDF);
        assert_eq!(sniff_media_type(b"CDF\x02\0\0\0\x01", p("x")), NETCDF);
        assert_eq!(sniff_media_type(b"CDF\x05\0\0\0\x01", p("x")), NETCDF);
        assert_eq!(sniff_media_type(HDF5_MAGIC, p("a.nc")), NETCDF);
        assert_eq!(sniff_media_type(HDF5_MAGIC, p("a.NC4")), NETCDF);
        assert_eq!(sniff_media_type(HDF5_MAGIC, p("a.h5")), HDF5);
        assert_eq!(sniff_media_type(HDF5_MAGIC, p("a.bin")), HDF5);
        assert_eq!(sniff_media_type(b"BUFR\0\0\x10\x04", p("a.txt")), BUFR);
        assert_eq!(
            sniff_media_type(b"IOBH03 LFPW 161000\r\r\nBUFR\0\0\xc0\x04", p("a.bin")),
            BUFR
        );
        assert_eq!(sniff_media_type(b"GRIB\0\0\0\x02", p("a.bin")), GRIB);
        assert_eq!(sniff_media_type(b"  {\"a\": 1}", p("a.txt")), JSON);
        assert_eq!(
            sniff_media_type(b"{\"type\": \"Feature\", \"geometry\": null}", p("a")),
            GEOJSON
        );
        assert_eq!(
            sniff_media_type(
                b"{\"type\" : \"FeatureCollection\", \"features\": [",
                p("a")
            ),
            GEOJSON
        );
    }

    #[test]
    fn cdf_with_an_unknown_version_byte_is_not_netcdf() {
        assert_eq!(magic(b"CDF\x03\0\0\0\0"), Magic::Unknown);
    }

    #[test]
    fn extension_when_content_says_nothing() {
        assert_eq!(sniff_media_type(b"a,b\n1,2\n", p("x.csv")), "text/csv");
        assert_eq!(sniff_media_type(b"hello", p("x.TXT")), "text/plain");
        assert_eq!(sniff_media_type(b"hello", p("x.bin")), OCTET_STREAM);
        assert_eq!(sniff_media_type(b"hello", p("noext")), OCTET_STREAM);
        assert_eq!(sniff_media_type(b"", p("x.grib2")), GRIB);
    }

    #[test]
    fn the_table_can_be_configured() {
        let mut t = MediaTypes::default();
        t.insert(".dat", "text/csv").insert("bin", BUFR);
        assert_eq!(t.sniff(b"1,2", p("a.DAT")), "text/csv");
        assert_eq!(t.sniff(b"junk", p("a.bin")), BUFR);
        assert_eq!(MediaTypes::empty().sniff(b"a", p("a.csv")), OCTET_STREAM);
    }

    #[test]
    fn bufr_beyond_the_window_is_not_seen() {
        let mut head = vec![b' '; INDICATOR_WINDOW];
        head.extend_from_slice(b"BUFR");
        assert_eq!(magic(&head), Magic::Unknown);
    }

    #[test]
    fn top_level_type_ignores_nested_members() {
        let ev = br#"{"id": "x", "data": {"type": "Feature", "a": [1, {"type": "Feature"}]}, "type": "fr.ifremer"#;
        assert_eq!(top_level_type(ev).as_deref(), Some("fr.ifremer"));
        assert_eq!(sniff_media_type(ev, p("e.json")), JSON);
        let f = br#"{"id": "x", "properties": {"type": "x"}, "type" : "Feature", "geometry": {"#;
        assert_eq!(top_level_type(f).as_deref(), Some("Feature"));
        let esc = br#"{"a\"type": 1, "type": "FeatureCollection", "features": ["#;
        assert_eq!(top_level_type(esc).as_deref(), Some("FeatureCollection"));
        assert_eq!(top_level_type(br#"{"type": 3, "x": "Feature""#), None);
    }

    #[test]
    fn text_that_mentions_bufr_is_not_bufr() {
        let text = b"This README explains BUFR and GRIB files.";
        assert_eq!(sniff_media_type(text, p("README.txt")), "text/plain");
    }
}
