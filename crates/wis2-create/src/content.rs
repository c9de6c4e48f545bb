//! Inline data (`properties.content`) for small files.
//!
//! The WNM caps the **encoded** value at 4096 bytes; `size` is the length of the
//! decoded data. Text (valid UTF-8 whose media type is `text/*` or JSON) goes as
//! `utf-8`, everything else as `base64`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use wis2::message::Content;

/// The WNM's limit on the encoded value, in bytes.
pub const MAX_ENCODED: usize = 4096;

/// The limit in force for a setting (0 = off): min(setting, 4096).
pub fn limit(setting: usize) -> usize {
    setting.min(MAX_ENCODED)
}

/// Whether a file of `size` bytes may fit under `limit` in some encoding: the largest
/// raw size that can is `limit` itself (UTF-8 text is not larger once encoded).
pub fn may_fit(size: u64, limit: usize) -> bool {
    limit > 0 && size <= limit as u64
}

/// Whether a media type is text for inline content: `text/*`, `application/json`,
/// or any `+json` type (GeoJSON, ...). Parameters (`; charset=...`) are ignored.
pub fn is_text_type(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/") || essence == "application/json" || essence.ends_with("+json")
}

/// Length of the base64 encoding (padded) of `n` bytes.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The inline content of `data`, or `None` when its encoded value is over `limit`.
pub fn inline(data: &[u8], media_type: Option<&str>, limit: usize) -> Option<Content> {
    if limit == 0 {
        return None;
    }
    let size = data.len() as u64;
    if media_type.is_some_and(is_text_type)
        && let Ok(text) = std::str::from_utf8(data)
        && text.len() <= limit
    {
        return Some(Content {
            encoding: "utf-8".into(),
            size,
            value: text.to_string(),
        });
    }
    if base64_len(data.len()) <= limit {
        return Some(Content {
            encoding: "base64".into(),
            size,
            value: B64.encode(data),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_binary_and_limits() {
        let c = inline(b"a,b\n1,2\n", Some("text/csv"), 4096).expect("text");
        assert_eq!((c.encoding.as_str(), c.size), ("utf-8", 8));
        let c = inline(b"{}", Some("application/geo+json"), 4096).expect("json");
        assert_eq!(c.encoding, "utf-8");
        let c = inline(b"a,b", Some("application/octet-stream"), 4096).expect("bin");
        assert_eq!((c.encoding.as_str(), c.value.as_str()), ("base64", "YSxi"));
        let c = inline(b"\xff\xfe", Some("text/plain"), 4096).expect("not utf-8");
        assert_eq!(c.encoding, "base64");
        assert!(inline(&[0u8; 4], None, 7).is_none(), "8 base64 bytes > 7");
        assert!(inline(&[0u8; 3], None, 4).is_some());
        assert!(inline(b"x", Some("text/plain"), 0).is_none());
        assert_eq!(limit(10_000), 4096);
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(4), 8);
        assert!(is_text_type("Text/Plain; charset=utf-8"));
        assert!(!is_text_type("application/x-netcdf"));
    }
}
