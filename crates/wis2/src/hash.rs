//! Streaming integrity digests: the six methods the WNM standard allows, values in
//! base64 (never hex), computed in constant memory whatever the file size.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha3::Digest;

/// Read buffer used when hashing: large enough to amortise system calls, small enough
/// to keep memory flat.
const BUF_SIZE: usize = 256 * 1024;

/// A digest method allowed in `properties.integrity.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Method {
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "sha384")]
    Sha384,
    #[default]
    #[serde(rename = "sha512")]
    Sha512,
    #[serde(rename = "sha3-256")]
    Sha3_256,
    #[serde(rename = "sha3-384")]
    Sha3_384,
    #[serde(rename = "sha3-512")]
    Sha3_512,
}

impl Method {
    /// Every method the standard allows.
    pub const ALL: [Method; 6] = [
        Method::Sha256,
        Method::Sha384,
        Method::Sha512,
        Method::Sha3_256,
        Method::Sha3_384,
        Method::Sha3_512,
    ];

    /// The name used in messages (`sha512`, `sha3-256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sha256 => "sha256",
            Method::Sha384 => "sha384",
            Method::Sha512 => "sha512",
            Method::Sha3_256 => "sha3-256",
            Method::Sha3_384 => "sha3-384",
            Method::Sha3_512 => "sha3-512",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Method::Sha256 | Method::Sha3_256 => 32,
            Method::Sha384 | Method::Sha3_384 => 48,
            Method::Sha512 | Method::Sha3_512 => 64,
        }
    }

    /// A fresh incremental hasher for this method.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            Method::Sha256 => Inner::Sha256(Sha256::new()),
            Method::Sha384 => Inner::Sha384(Sha384::new()),
            Method::Sha512 => Inner::Sha512(Sha512::new()),
            Method::Sha3_256 => Inner::Sha3_256(sha3::Sha3_256::new()),
            Method::Sha3_384 => Inner::Sha3_384(sha3::Sha3_384::new()),
            Method::Sha3_512 => Inner::Sha3_512(sha3::Sha3_512::new()),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The method name is not one of the six the standard allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown integrity method `{0}`: use one of sha256, sha384, sha512, sha3-256, sha3-384, sha3-512"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

/// A SHA-2 digest through OpenSSL's assembly (feature `openssl`, the default: the
/// fastest SHA-512 on x86-64, what `openssl speed` measures) or the pure-Rust `sha2`
/// crate (without the feature).
macro_rules! sha2_backend {
    ($name:ident, $ossl:ident, $len:expr) => {
        struct $name(
            #[cfg(feature = "openssl")] openssl::sha::$ossl,
            #[cfg(not(feature = "openssl"))] sha2::$ossl,
        );

        impl $name {
            fn new() -> Self {
                #[cfg(feature = "openssl")]
                let h = openssl::sha::$ossl::new();
                #[cfg(not(feature = "openssl"))]
                let h = <sha2::$ossl as sha2::Digest>::new();
                $name(h)
            }

            fn update(&mut self, data: &[u8]) {
                #[cfg(feature = "openssl")]
                self.0.update(data);
                #[cfg(not(feature = "openssl"))]
                sha2::Digest::update(&mut self.0, data);
            }

            fn finish(self) -> [u8; $len] {
                #[cfg(feature = "openssl")]
                let d = self.0.finish();
                #[cfg(not(feature = "openssl"))]
                let d = sha2::Digest::finalize(self.0).into();
                d
            }
        }
    };
}
sha2_backend!(Sha256, Sha256, 32);
sha2_backend!(Sha384, Sha384, 48);
sha2_backend!(Sha512, Sha512, 64);

/// Longest digest of the allowed methods, in bytes.
pub const MAX_DIGEST_LEN: usize = 64;

enum Inner {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
    Sha3_256(sha3::Sha3_256),
    Sha3_384(sha3::Sha3_384),
    Sha3_512(sha3::Sha3_512),
}

/// An incremental digest of one of the allowed methods.
pub struct Hasher(Inner);

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Inner::Sha256(h) => h.update(data),
            Inner::Sha384(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
            Inner::Sha3_256(h) => h.update(data),
            Inner::Sha3_384(h) => h.update(data),
            Inner::Sha3_512(h) => h.update(data),
        }
    }

    /// The raw digest.
    pub fn finalize(self) -> Vec<u8> {
        let mut out = [0u8; MAX_DIGEST_LEN];
        let n = self.finalize_into(&mut out);
        out[..n].to_vec()
    }

    /// Writes the raw digest into `out` without allocating; returns its length.
    pub fn finalize_into(self, out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
        fn put(out: &mut [u8; MAX_DIGEST_LEN], d: &[u8]) -> usize {
            out[..d.len()].copy_from_slice(d);
            d.len()
        }
        match self.0 {
            Inner::Sha256(h) => put(out, &h.finish()),
            Inner::Sha384(h) => put(out, &h.finish()),
            Inner::Sha512(h) => put(out, &h.finish()),
            Inner::Sha3_256(h) => put(out, &h.finalize()),
            Inner::Sha3_384(h) => put(out, &h.finalize()),
            Inner::Sha3_512(h) => put(out, &h.finalize()),
        }
    }
}

/// `properties.integrity` of a WNM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    pub method: Method,
    /// Base64 (standard alphabet, padded) of the raw digest.
    pub value: String,
}

impl Integrity {
    /// Builds the integrity of a raw digest.
    pub fn from_digest(method: Method, digest: &[u8]) -> Self {
        Integrity {
            method,
            value: B64.encode(digest),
        }
    }

    /// Digest of an in-memory buffer.
    pub fn of_bytes(method: Method, data: &[u8]) -> Self {
        let mut h = method.hasher();
        h.update(data);
        Integrity::from_digest(method, &h.finalize())
    }
}

/// What streaming a source produced: its digest and how many bytes were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub integrity: Integrity,
    pub length: u64,
}

/// Hashes everything `reader` yields, in constant memory.
pub fn digest_reader<R: Read>(method: Method, mut reader: R) -> io::Result<Digested> {
    let mut h = method.hasher();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut length = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        length += n as u64;
    }
    Ok(Digested {
        integrity: Integrity::from_digest(method, &h.finalize()),
        length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sha512_is_the_known_value() {
        let d = digest_reader(Method::Sha512, io::empty()).expect("hash");
        assert_eq!(d.length, 0);
        assert_eq!(
            d.integrity.value,
            "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }

    #[test]
    fn every_method_has_its_digest_length() {
        for m in Method::ALL {
            let i = Integrity::of_bytes(m, b"abc");
            let raw = B64.decode(&i.value).expect("base64");
            assert_eq!(raw.len(), m.digest_len(), "{m}");
            assert_eq!(m.as_str().parse::<Method>().expect("parse"), m);
        }
    }

    #[test]
    fn sha256_of_abc() {
        let i = Integrity::of_bytes(Method::Sha256, b"abc");
        assert_eq!(i.value, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..(BUF_SIZE * 3 + 17)).map(|i| (i % 251) as u8).collect();
        let d = digest_reader(Method::Sha3_512, &data[..]).expect("hash");
        assert_eq!(d.length, data.len() as u64);
        assert_eq!(d.integrity, Integrity::of_bytes(Method::Sha3_512, &data));
    }

    #[test]
    fn unknown_method_names_the_allowed_ones() {
        let e = "md5".parse::<Method>().expect_err("md5 is not allowed");
        assert!(e.to_string().contains("sha3-512"));
    }
}
