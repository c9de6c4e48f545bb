//! Relative data paths: where a file is under the data directory, as a file event
//! carries it, and as a message's `data_id` and public URL end with it.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// What a URL path segment escapes: everything but the unreserved characters of
/// RFC 3986 (`A-Z a-z 0-9 - . _ ~`), so that a segment never breaks the URL.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path under the data directory: `/`-separated, relative, staying under its root.
///
/// [`RelPath::parse`] is the only way in (deserialising goes through it too), so a
/// value is known to be not empty, not absolute, free of `\` and NUL, and without an
/// empty, `.` or `..` segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct RelPath(String);

/// A path that does not stay under the data directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path `{0}` escapes the data directory: give a path relative to it, without `..`")]
pub struct RelPathError(String);

impl RelPathError {
    /// The path that was refused.
    pub fn path(&self) -> &str {
        &self.0
    }
}

impl RelPath {
    /// Checks the rules and returns the path, or the error naming it.
    pub fn parse(path: &str) -> Result<RelPath, RelPathError> {
        Self::try_from(path.to_string())
    }

    /// The relative path that URL path segments name (from a public URL), each
    /// segment percent-decoded; a segment that does not decode to UTF-8 is kept as
    /// it is. The inverse of [`RelPath::url_encoded`].
    pub fn from_url_segments<'a>(
        segments: impl IntoIterator<Item = &'a str>,
    ) -> Result<RelPath, RelPathError> {
        let decoded: Vec<String> = segments.into_iter().map(decode_segment).collect();
        Self::try_from(decoded.join("/"))
    }

    /// The path as it was given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this path is `dir` or lies below it, segment by segment (`a/b` is
    /// under `a`, `ab/c` is not), as a removed directory takes its files with it.
    pub fn starts_with(&self, dir: &RelPath) -> bool {
        self.0
            .strip_prefix(dir.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The path for a URL: each segment percent-encoded (everything but `A-Z a-z 0-9
    /// - . _ ~` as `%XX`, uppercase), the `/` between segments kept.
    pub fn url_encoded(&self) -> String {
        let encoded: Vec<String> = self
            .0
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        encoded.join("/")
    }
}

/// Decodes the `%XX` escapes of one segment; a malformed escape stays as it is.
fn decode_segment(seg: &str) -> String {
    percent_decode_str(seg)
        .decode_utf8()
        .map_or_else(|_| seg.to_string(), |s| s.into_owned())
}

impl TryFrom<String> for RelPath {
    type Error = RelPathError;

    fn try_from(path: String) -> Result<Self, Self::Error> {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path.contains('\0')
            || path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if bad {
            Err(RelPathError(path))
        } else {
            Ok(RelPath(path))
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for RelPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl PartialEq<str> for RelPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RelPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_path() {
        // The rules themselves: event::tests::escaping_paths_are_refused.
        for p in ["a\\b", "a\0b", ".."] {
            let e = RelPath::parse(p).expect_err(p);
            assert_eq!(e.path(), p);
            assert!(e.to_string().contains("escapes the data directory"), "{e}");
        }
        assert_eq!(RelPath::parse("a/b.nc").expect("relative"), "a/b.nc");
    }

    #[test]
    fn deserialising_checks_the_rules() {
        let p: RelPath = serde_json::from_str("\"a/b.nc\"").expect("relative");
        assert_eq!(p.as_str(), "a/b.nc");
        assert_eq!(serde_json::to_string(&p).expect("JSON"), "\"a/b.nc\"");
        let e = serde_json::from_str::<RelPath>("\"../x\"").expect_err("escapes");
        assert!(e.to_string().contains("path `../x` escapes"), "{e}");
    }

    #[test]
    fn starts_with_compares_whole_segments() {
        let p = |s| RelPath::parse(s).expect("relative");
        assert!(p("a/b.nc").starts_with(&p("a")));
        assert!(p("a/b.nc").starts_with(&p("a/b.nc")));
        assert!(!p("ab/c.nc").starts_with(&p("a")));
        assert!(!p("a").starts_with(&p("a/b.nc")));
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_segment("a%20b%2Fc"), "a b/c");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz"), "%zz");
        assert_eq!(decode_segment("%ff"), "%ff");
    }

    #[test]
    fn url_segments_round_trip() {
        let p = RelPath::parse("a b/c#d~é.nc").expect("relative");
        assert_eq!(p.url_encoded(), "a%20b/c%23d~%C3%A9.nc");
        let back = RelPath::from_url_segments(p.url_encoded().split('/')).expect("relative");
        assert_eq!(back, p);
        assert!(RelPath::from_url_segments(["a", "%2E%2E"]).is_err());
    }
}
