//! The inline data of a message (`properties.content`) and the digest it declares
//! (`properties.integrity`): decoded without allocating per message, and compared.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::MAX_INLINE_CONTENT_BYTES;
use crate::hash::Method;
use crate::report::{Finding, TestResult};

use super::context::{Ctx, f};
use super::ids;
use super::structure::{ENCODINGS, is_integer};

thread_local! {
    /// Reused output buffer for base64 decoding (no allocation per message).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest capacity the scratch buffer keeps between messages.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Runs `f` with the thread's (cleared) scratch buffer.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = f(&mut buf);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            r
        }
        // Not reachable (no re-entrant use), but never panic: use a fresh buffer.
        Err(_) => f(&mut Vec::new()),
    })
}

/// Decodes base64 `value` into `buf` (cleared first).
fn b64_into(value: &str, buf: &mut Vec<u8>) -> Result<(), base64::DecodeError> {
    buf.clear();
    B64.decode_vec(value, buf)
}

/// The decoded length of an inline content, decoding into `buf` when the data is
/// available without decompressing (utf-8 is used in place, `buf` left empty).
enum Decoded {
    /// The bytes are `value` itself (utf-8).
    Utf8,
    /// The bytes are in the scratch buffer (base64).
    Buf,
    /// gzip: the decompressed length from the gzip trailer (ISIZE, mod 2^32).
    GzipLen(u64),
}

fn decode(encoding: &str, value: &str, buf: &mut Vec<u8>) -> Result<Decoded, String> {
    match encoding {
        "utf-8" => Ok(Decoded::Utf8),
        "base64" => b64_into(value, buf)
            .map(|()| Decoded::Buf)
            .map_err(|err| format!("value is not valid base64 ({err})")),
        _ => {
            b64_into(value, buf)
                .map_err(|err| format!("gzip value is not valid base64 ({err})"))?;
            let bytes = buf.as_slice();
            if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b {
                return Err("gzip value is not base64 of gzip data".into());
            }
            let n = bytes.len();
            let isize =
                u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
            Ok(Decoded::GzipLen(u64::from(isize)))
        }
    }
}

/// Longest digest of the allowed methods, in bytes.
const MAX_DIGEST: usize = crate::hash::MAX_DIGEST_LEN;

/// A digest, without allocation.
#[derive(Clone, Copy)]
pub(crate) struct DigestBuf {
    bytes: [u8; MAX_DIGEST],
    len: usize,
}

impl DigestBuf {
    fn from_slice(s: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; MAX_DIGEST];
        bytes.get_mut(..s.len())?.copy_from_slice(s);
        Some(DigestBuf {
            bytes,
            len: s.len(),
        })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn of(method: Method, data: &[u8]) -> Self {
        let mut h = method.hasher();
        h.update(data);
        let mut bytes = [0u8; MAX_DIGEST];
        let len = h.finalize_into(&mut bytes);
        DigestBuf { bytes, len }
    }
}

/// The declared integrity of a message, when `integrity.value` is base64 of a
/// digest of the method's length (what the inline content is compared with).
pub(crate) type Expected = Option<(Method, DigestBuf)>;

/// `properties.content` (optional): allowed encoding, encoded value at most 4096
/// bytes; warns when `size` or `integrity` (`expected`, from
/// [`integrity_warnings`]) disagree with the decoded value.
pub(crate) fn content(c: &Ctx<'_>, expected: Expected, warnings: &mut Vec<Finding>) -> TestResult {
    let mut e = Vec::new();
    let Some(v) = c.prop("content") else {
        return TestResult::from_errors(ids::CONTENT, e);
    };
    const P: &str = "/properties/content";
    let Some(obj) = v.as_object() else {
        e.push(f(
            P,
            format!("{v} is not an object"),
            "write {\"encoding\": \"base64\", \"size\": <decoded bytes>, \"value\": \"...\"}",
        ));
        return TestResult::from_errors(ids::CONTENT, e);
    };
    let encoding = obj.get("encoding").and_then(Value::as_str);
    match encoding {
        Some(enc) if ENCODINGS.contains(&enc) => {}
        Some(enc) => e.push(f(
            "/properties/content/encoding",
            format!("`{enc}` is not utf-8, base64 or gzip"),
            "use base64 for binary data, utf-8 for text",
        )),
        None => e.push(f(
            "/properties/content/encoding",
            "missing",
            "set encoding to utf-8, base64 or gzip",
        )),
    }
    let value = obj.get("value").and_then(Value::as_str);
    match value {
        None => e.push(f(
            "/properties/content/value",
            "missing or not a string",
            "put the encoded data in value, or drop content and keep the link",
        )),
        Some(s) if s.len() > MAX_INLINE_CONTENT_BYTES => e.push(f(
            "/properties/content/value",
            format!(
                "encoded value is {} bytes, over the {MAX_INLINE_CONTENT_BYTES}-byte limit",
                s.len()
            ),
            "drop the inline content: subscribers download the data from the canonical link",
        )),
        Some(_) => {}
    }
    let size = obj.get("size");
    let declared = match size {
        Some(s) if is_integer(s) && s.as_f64().is_some_and(|n| n >= 0.0) => {
            s.as_f64().map(|n| n as u64)
        }
        Some(s) => {
            e.push(f(
                "/properties/content/size",
                format!("{s} is not a byte count"),
                "set size to the length of the decoded data in bytes",
            ));
            None
        }
        None => {
            e.push(f(
                "/properties/content/size",
                "missing",
                "set size to the length of the decoded data in bytes",
            ));
            None
        }
    };
    if let (Some(enc), Some(val)) = (encoding.filter(|x| ENCODINGS.contains(x)), value) {
        with_scratch(|buf| {
            match decode(enc, val, buf) {
            Err(why) => e.push(f(
                "/properties/content/value",
                why,
                format!("encode the data as {enc} (base64 of the bytes; gzip is base64 of the gzipped bytes)"),
            )),
            Ok(decoded) => {
                let bytes = match decoded {
                    Decoded::Utf8 => Some(val.as_bytes()),
                    Decoded::Buf => Some(buf.as_slice()),
                    Decoded::GzipLen(_) => None,
                };
                let len = match (decoded, bytes) {
                    (Decoded::GzipLen(n), _) => n,
                    (_, Some(b)) => b.len() as u64,
                    (_, None) => 0,
                };
                if let Some(d) = declared
                    && d != len
                {
                    warnings.push(f(
                        "/properties/content/size",
                        format!("size is {d} but the decoded content is {len} bytes"),
                        format!("set \"size\": {len}"),
                    ));
                }
                if let (Some(bytes), Some((method, expected))) = (bytes, expected) {
                    inline_digest(method, expected, bytes, warnings);
                }
            }
        }
        });
    }
    TestResult::from_errors(ids::CONTENT, e)
}

/// Compares the declared digest with the digest of the inline content.
fn inline_digest(method: Method, expected: DigestBuf, bytes: &[u8], warnings: &mut Vec<Finding>) {
    let actual = DigestBuf::of(method, bytes);
    if actual.as_slice() != expected.as_slice() {
        warnings.push(f(
            "/properties/integrity/value",
            format!("the {method} digest of the inline content differs from integrity.value"),
            format!(
                "compute the digest over the decoded data: \"value\": \"{}\"",
                B64.encode(actual.as_slice())
            ),
        ));
    }
}

fn integrity_parts<'a>(c: &Ctx<'a>) -> Option<(Method, &'a str)> {
    let i = c.prop("integrity")?;
    let method: Method = i.get("method")?.as_str()?.parse().ok()?;
    Some((method, i.get("value")?.as_str()?))
}

/// Warns when `integrity.value` is not base64 of a digest of the method's length;
/// returns the declared digest when it is (for the inline content check).
pub(crate) fn integrity_warnings(c: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Expected {
    let (method, value) = integrity_parts(c)?;
    const P: &str = "/properties/integrity/value";
    let want = method.digest_len();
    // Hex of the right length never decodes as base64 to the right length
    // (2n hex characters are 3n/2 bytes), so the early return loses no digest.
    if value.len() == 2 * want
        && let Ok(raw) = hex::decode(value)
        && raw.len() == want
    {
        warnings.push(f(
            P,
            format!("looks like a hex {method} digest; the WNM wants base64 of the digest bytes"),
            format!("write \"value\": \"{}\"", B64.encode(&raw)),
        ));
        return None;
    }
    with_scratch(|raw| match b64_into(value, raw) {
        Ok(()) if raw.len() == want => DigestBuf::from_slice(raw).map(|d| (method, d)),
        Ok(()) => {
            warnings.push(f(
                P,
                format!(
                    "decodes to {} bytes, but a {method} digest is {want} bytes",
                    raw.len()
                ),
                format!(
                    "check the method: value must be base64 of the {want}-byte {method} digest"
                ),
            ));
            None
        }
        Err(_) => {
            warnings.push(f(
                P,
                "is not base64",
                format!(
                    "write base64 (standard alphabet, padded) of the {want}-byte {method} digest"
                ),
            ));
            None
        }
    })
}

/// The INFCOM-4 draft's `/conf/core/integrity`: `properties.integrity` is present,
/// its `method` one of the six, its `value` base64 of a digest of the method's length
/// (the standard alphabet, padded: what decodes here encodes back identically).
/// Returns the declared digest like [`integrity_warnings`].
pub(crate) fn integrity(c: &Ctx<'_>) -> (TestResult, Expected) {
    const P: &str = "/properties/integrity";
    const FIX: &str = "add \"integrity\": {\"method\": \"sha512\", \"value\": \"<base64 of the digest of the data>\"}";
    let mut e = Vec::new();
    match c.prop("integrity") {
        None => e.push(f(
            P,
            "missing: required from WNM 1.4.0 (INFCOM-4 draft, /req/core/integrity)",
            FIX,
        )),
        Some(Value::Object(o)) => {
            let methods = || Method::ALL.map(Method::as_str).join(", ");
            match o.get("method") {
                Some(Value::String(m)) if m.parse::<Method>().is_ok() => {}
                Some(m) => e.push(f(
                    "/properties/integrity/method",
                    format!("{m} is not one of {}", methods()),
                    "set method to sha512 (or another of the list)",
                )),
                None => e.push(f(
                    "/properties/integrity/method",
                    "missing",
                    format!("set method to one of {}", methods()),
                )),
            }
            match o.get("value") {
                Some(Value::String(_)) => {}
                Some(v) => e.push(f(
                    "/properties/integrity/value",
                    format!("{v} is not a string"),
                    FIX,
                )),
                None => e.push(f("/properties/integrity/value", "missing", FIX)),
            }
        }
        Some(v) => e.push(f(P, format!("{v} is not an object"), FIX)),
    }
    let mut found = Vec::new();
    let expected = integrity_warnings(c, &mut found);
    e.extend(found);
    (TestResult::from_errors(ids::INTEGRITY, e), expected)
}
