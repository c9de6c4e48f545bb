//! Data verification: does the data a message points to match what it says?
//!
//! For each message the `canonical` (or `update`) link is downloaded over HTTP(S) and
//! the bytes are streamed through the message's digest method in constant memory:
//! the link's `length` and `properties.integrity` are compared with what was really
//! served. Inline `content` is decoded and checked instead, with no download. A
//! `deletion` has nothing to download.
//!
//! ```text
//! wis2-validate verify FILE... [--json] [--max-bytes N] [--timeout-secs S]
//! ```
//!
//! The same check runs in the service with `--verify-data` / `WIS2_VERIFY_DATA`
//! (`crate::stage::VerifyingStage`): a message whose data disagrees with it, or cannot be
//! downloaded, is rejected.

use std::io::Read;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use serde_json::Value;
use wis2::hash::{Digested, Method, digest_reader};
use wis2::message::Relation;
use wis2::report::{Finding, Report, TestResult};

use crate::files::FileArgs;

/// The link's `length` equals the number of bytes served.
pub const LENGTH_TEST_ID: &str = "https://wis2-chain.org/conf/verify/length";
/// `properties.integrity` is the digest of the bytes served (or of the inline content).
pub const INTEGRITY_TEST_ID: &str = "https://wis2-chain.org/conf/verify/integrity";
/// The `canonical`/`update` link downloads.
pub const DOWNLOAD_TEST_ID: &str = "https://wis2-chain.org/conf/verify/download";
/// The inline `content` decodes to `size` bytes.
pub const CONTENT_TEST_ID: &str = "https://wis2-chain.org/conf/verify/content";

/// Whole-download time limit by default (connect, response and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Time to open the connection (DNS and TLS handshake included in the global limit).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time the server has to start answering.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed.
const MAX_REDIRECTS: u32 = 10;
/// Decoded inline content is never read past this (a gzip bomb stays harmless).
const MAX_INLINE_DECODED: u64 = 64 * 1024 * 1024;

/// An HTTP agent for verification: redirects followed, timeouts set, TLS
/// certificates verified (ureq's default, never turned off), HTTP errors as errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT.min(timeout)))
        .max_redirects(MAX_REDIRECTS)
        .http_status_as_error(true)
        .user_agent(concat!(
            "wis2-validate/",
            env!("CARGO_PKG_VERSION"),
            " (data verification)"
        ))
        .build()
        .new_agent()
}

/// `verify FILE... [--json] [--max-bytes N] [--timeout-secs S]`
#[derive(Debug, Clone, Args)]
#[command(mut_arg("files", |a| a.help(
    "Message files (JSON; a FeatureCollection: each feature); `-` reads standard input"
)))]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: FileArgs,
    /// Do not read more than this many bytes of a file: larger files are reported as
    /// not verified (SKIPPED) instead of being downloaded in full.
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<u64>,
    /// Time limit of each download in seconds (connection, answer and body).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs())]
    pub timeout_secs: u64,
}

/// Verifies one message's data and reports it: `download`, `length` and
/// `integrity` for a linked file, `content`, `length` and `integrity` for inline
/// content, a skipped `download` for a deletion. Blocking (it downloads).
pub fn verify_message(v: &Value, agent: &ureq::Agent, max_bytes: Option<u64>) -> Report {
    let subject = v
        .get("id")
        .and_then(Value::as_str)
        .map(|id| format!("message {id}"));
    Report::new(subject, tests(v, agent, max_bytes), Vec::new())
}

/// The link the message is about: its index, object and relation.
fn main_link(v: &Value) -> Option<(usize, &Value, Relation)> {
    v.get("links")?
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            let rel = l.get("rel").and_then(Value::as_str)?.parse().ok()?;
            Some((i, l, rel))
        })
}

fn tests(v: &Value, agent: &ureq::Agent, max_bytes: Option<u64>) -> Vec<TestResult> {
    let link = main_link(v);
    if let Some((_, _, Relation::Deletion)) = link {
        return vec![TestResult::skipped(
            DOWNLOAD_TEST_ID,
            "a deletion message: the data was removed, there is nothing to download",
        )];
    }
    let expected = ExpectedDigest::of(v);
    let declared = link.map(|(i, l, _)| DeclaredLength::of(i, l));
    if let Some(content) = v.get("properties").and_then(|p| p.get("content")) {
        return inline(content, &expected, declared.as_ref(), max_bytes);
    }
    let Some((i, l, _)) = link else {
        return vec![TestResult::from_errors(
            DOWNLOAD_TEST_ID,
            vec![Finding::new("/links", "no link with rel canonical or update: there is no data to verify")
                .with_fix("give the message exactly one link rel=canonical (new data) or rel=update (changed data) whose href downloads the file")],
        )];
    };
    let path = format!("/links/{i}/href");
    let Some(url) = l.get("href").and_then(Value::as_str) else {
        return vec![TestResult::from_errors(
            DOWNLOAD_TEST_ID,
            vec![
                Finding::new(path, "the link has no href")
                    .with_fix("set href to the https address of the file"),
            ],
        )];
    };
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "http" | "https" => {}
        "ftp" | "sftp" => {
            let why = format!(
                "{url}: {scheme} links are not downloaded (only http and https are verified)"
            );
            return vec![
                TestResult::skipped(DOWNLOAD_TEST_ID, why.clone()),
                TestResult::skipped(LENGTH_TEST_ID, why.clone()),
                TestResult::skipped(INTEGRITY_TEST_ID, why),
            ];
        }
        _ => {
            return vec![TestResult::from_errors(
                DOWNLOAD_TEST_ID,
                vec![
                    Finding::new(
                        path,
                        format!("{url} is not an http, https, ftp or sftp address"),
                    )
                    .with_fix("set href to the https address of the file"),
                ],
            )];
        }
    }
    match fetch(agent, url, &path, expected.method(), max_bytes) {
        Fetched::Failed(f) => {
            let why = "not verified: the download failed";
            vec![
                TestResult::from_errors(DOWNLOAD_TEST_ID, vec![f]),
                TestResult::skipped(LENGTH_TEST_ID, why),
                TestResult::skipped(INTEGRITY_TEST_ID, why),
            ]
        }
        Fetched::TooLarge(limit) => {
            let why =
                format!("not verified: {url} is larger than the {limit}-byte limit (--max-bytes)");
            let length = match &declared {
                Some(DeclaredLength::Bytes(n, p)) if *n <= limit => TestResult::from_errors(
                    LENGTH_TEST_ID,
                    vec![
                        Finding::new(
                            p.clone(),
                            format!("the link says {n} bytes but {url} serves more than {limit} bytes"),
                        )
                        .with_fix("set length to the size of the published file in bytes, or publish the file the message describes"),
                    ],
                ),
                _ => TestResult::skipped(LENGTH_TEST_ID, why.clone()),
            };
            vec![
                TestResult::from_errors(DOWNLOAD_TEST_ID, Vec::new()),
                length,
                TestResult::skipped(INTEGRITY_TEST_ID, why),
            ]
        }
        Fetched::Data(d, source) => vec![
            TestResult::from_errors(DOWNLOAD_TEST_ID, Vec::new()),
            length_test(declared.as_ref(), d.length, &source),
            expected.test(&d, &source),
        ],
    }
}

/// What downloading a link gave.
enum Fetched {
    /// The digest and where the bytes came from (the URL, and where it redirected).
    Data(Digested, String),
    /// More bytes than the limit: not read in full.
    TooLarge(u64),
    Failed(Finding),
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    method: Method,
    max_bytes: Option<u64>,
) -> Fetched {
    use ureq::ResponseExt;
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(e) => return Fetched::Failed(download_error(url, path, &e)),
    };
    let final_url = response.get_uri().to_string();
    let source = if final_url == url {
        url.to_string()
    } else {
        format!("{url} (redirected to {final_url})")
    };
    let body = response.into_body();
    if let (Some(limit), Some(announced)) = (max_bytes, body.content_length())
        && announced > limit
    {
        return Fetched::TooLarge(limit);
    }
    let reader = body
        .into_reader()
        .take(max_bytes.map_or(u64::MAX, |m| m.saturating_add(1)));
    match digest_reader(method, reader) {
        Ok(d) => match max_bytes {
            Some(limit) if d.length > limit => Fetched::TooLarge(limit),
            _ => Fetched::Data(d, source),
        },
        Err(e) => Fetched::Failed(
            Finding::new(path, format!("the download of {source} broke off: {e}")).with_fix(
                "check that the server sends the whole file within the time limit (--timeout-secs)",
            ),
        ),
    }
}

fn download_error(url: &str, path: &str, e: &ureq::Error) -> Finding {
    let (what, fix) = match e {
        ureq::Error::StatusCode(404) | ureq::Error::StatusCode(410) => (
            format!("GET {url} answered HTTP {} (not found)", status(e)),
            format!("publish the file at {url} before announcing it, or correct the link href"),
        ),
        ureq::Error::StatusCode(401) | ureq::Error::StatusCode(403) => (
            format!("GET {url} answered HTTP {} (access refused)", status(e)),
            "core data must download with no extra step: serve the file without login".to_string(),
        ),
        ureq::Error::StatusCode(code) => (
            format!("GET {url} answered HTTP {code}"),
            "make the server answer 200 with the file at this address, or correct the link href".to_string(),
        ),
        ureq::Error::TooManyRedirects => (
            format!("GET {url}: more than {MAX_REDIRECTS} redirects"),
            "point href at the final address of the file".to_string(),
        ),
        ureq::Error::Timeout(t) => (
            format!("GET {url} timed out ({t})"),
            "check that the server is reachable and answers in time (or raise --timeout-secs)".to_string(),
        ),
        _ if is_tls_error(e) => (
            format!("GET {url}: TLS failed: {e}"),
            "serve https with a valid certificate for this host name, from a public certificate authority (verification stays on)".to_string(),
        ),
        _ => (
            format!("cannot download {url}: {e}"),
            "check the host name, the port and that the server is running, or correct the link href".to_string(),
        ),
    };
    Finding::new(path, what).with_fix(fix)
}

/// TLS failures: ureq's own, or rustls' surfacing as I/O errors (a bad certificate).
fn is_tls_error(e: &ureq::Error) -> bool {
    if matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_)) {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    ["certificate", "tls", "handshake", "ssl"]
        .iter()
        .any(|w| text.contains(w))
}

fn status(e: &ureq::Error) -> u16 {
    match e {
        ureq::Error::StatusCode(c) => *c,
        _ => 0,
    }
}

/// The link's `length`, when given.
enum DeclaredLength {
    /// The byte count and its JSON pointer.
    Bytes(u64, String),
    Invalid(Finding),
    Absent,
}

impl DeclaredLength {
    fn of(i: usize, link: &Value) -> Self {
        let path = format!("/links/{i}/length");
        match link.get("length") {
            None | Some(Value::Null) => DeclaredLength::Absent,
            Some(l) => match l.as_u64() {
                Some(n) => DeclaredLength::Bytes(n, path),
                None => DeclaredLength::Invalid(
                    Finding::new(path, format!("{l} is not a byte count"))
                        .with_fix("set length to the size of the file in bytes (an integer)"),
                ),
            },
        }
    }
}

fn length_test(declared: Option<&DeclaredLength>, got: u64, source: &str) -> TestResult {
    match declared {
        None | Some(DeclaredLength::Absent) => TestResult::skipped(
            LENGTH_TEST_ID,
            format!("the link gives no length ({source} has {got} bytes)"),
        ),
        Some(DeclaredLength::Invalid(f)) => {
            TestResult::from_errors(LENGTH_TEST_ID, vec![f.clone()])
        }
        Some(DeclaredLength::Bytes(n, _)) if *n == got => {
            TestResult::from_errors(LENGTH_TEST_ID, Vec::new())
        }
        Some(DeclaredLength::Bytes(n, path)) => TestResult::from_errors(
            LENGTH_TEST_ID,
            vec![
                Finding::new(
                    path.clone(),
                    format!("length mismatch: expected {n} bytes (the link's length), got {got} bytes from {source}"),
                )
                .with_fix(format!("set \"length\": {got} if {source} is the right file; otherwise publish the file the message describes")),
            ],
        ),
    }
}

/// `properties.integrity` as the message states it.
enum ExpectedDigest {
    Absent,
    /// Cannot be compared (unknown method, not base64, wrong digest length).
    Unusable(Finding, Method),
    /// A hex digest (the standard wants base64).
    Hex(Method, String),
    Base64(Method, Vec<u8>, String),
}

const INTEGRITY_PATH: &str = "/properties/integrity/value";

impl ExpectedDigest {
    fn of(v: &Value) -> Self {
        let Some(integrity) = v.get("properties").and_then(|p| p.get("integrity")) else {
            return ExpectedDigest::Absent;
        };
        let method_name = integrity.get("method").and_then(Value::as_str);
        let method = match method_name.map(str::parse::<Method>) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                return ExpectedDigest::Unusable(
                    Finding::new("/properties/integrity/method", e.to_string())
                        .with_fix("use sha512 (or another allowed method) and its base64 digest"),
                    Method::default(),
                );
            }
            None => {
                return ExpectedDigest::Unusable(
                    Finding::new("/properties/integrity/method", "missing or not a string")
                        .with_fix("set method, e.g. \"sha512\""),
                    Method::default(),
                );
            }
        };
        let Some(value) = integrity.get("value").and_then(Value::as_str) else {
            return ExpectedDigest::Unusable(
                Finding::new(INTEGRITY_PATH, "missing or not a string")
                    .with_fix("set value to the base64 of the data's digest"),
                method,
            );
        };
        if value.len() == 2 * method.digest_len() && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return ExpectedDigest::Hex(method, value.to_ascii_lowercase());
        }
        match B64.decode(value) {
            Ok(raw) if raw.len() == method.digest_len() => {
                ExpectedDigest::Base64(method, raw, value.to_string())
            }
            Ok(raw) => ExpectedDigest::Unusable(
                Finding::new(
                    INTEGRITY_PATH,
                    format!(
                        "decodes to {} bytes but a {method} digest has {}",
                        raw.len(),
                        method.digest_len()
                    ),
                )
                .with_fix(format!(
                    "set value to the base64 of the raw {method} digest"
                )),
                method,
            ),
            Err(e) => ExpectedDigest::Unusable(
                Finding::new(INTEGRITY_PATH, format!("not valid base64 ({e})")).with_fix(format!(
                    "set value to the base64 of the raw {method} digest"
                )),
                method,
            ),
        }
    }

    /// The method to hash the data with.
    fn method(&self) -> Method {
        match self {
            ExpectedDigest::Absent => Method::default(),
            ExpectedDigest::Unusable(_, m)
            | ExpectedDigest::Hex(m, _)
            | ExpectedDigest::Base64(m, _, _) => *m,
        }
    }

    fn test(&self, got: &Digested, source: &str) -> TestResult {
        let actual = &got.integrity.value;
        match self {
            ExpectedDigest::Absent => TestResult::skipped(
                INTEGRITY_TEST_ID,
                "the message has no properties.integrity: nothing to compare",
            ),
            ExpectedDigest::Unusable(f, m) => {
                let mut f = f.clone();
                f.message = format!("{} (the {m} digest of {source} is {actual})", f.message);
                TestResult::from_errors(INTEGRITY_TEST_ID, vec![f])
            }
            ExpectedDigest::Hex(m, hex) => {
                let raw = B64.decode(actual).unwrap_or_default();
                let actual_hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                let message = if *hex == actual_hex {
                    format!(
                        "integrity.value is the hex {m} digest of {source}; WIS2 requires base64 (the same digest in base64 is {actual})"
                    )
                } else {
                    format!(
                        "integrity.value looks like a hex digest (WIS2 requires base64) and does not match {source} either: expected {hex} (hex), got {actual_hex} (hex) = {actual} (base64)"
                    )
                };
                TestResult::from_errors(
                    INTEGRITY_TEST_ID,
                    vec![Finding::new(INTEGRITY_PATH, message).with_fix(format!(
                        "set \"value\": \"{actual}\" (base64 of the raw digest, not hex)"
                    ))],
                )
            }
            ExpectedDigest::Base64(m, raw, value) => {
                let same = B64.decode(actual).is_ok_and(|a| a == *raw);
                if same {
                    return TestResult::from_errors(INTEGRITY_TEST_ID, Vec::new());
                }
                TestResult::from_errors(
                    INTEGRITY_TEST_ID,
                    vec![
                        Finding::new(
                            INTEGRITY_PATH,
                            format!("{m} digest mismatch: expected {value} (the message), got {actual} from {source}"),
                        )
                        .with_fix(format!("if {source} is the right file, set \"value\": \"{actual}\"; if the file changed after the message was built, announce it again with rel=update and its new digest")),
                    ],
                )
            }
        }
    }
}

/// Checks inline content: decodes it, compares `size`, the link's `length` and
/// `integrity` with the decoded data. No download.
fn inline(
    content: &Value,
    expected: &ExpectedDigest,
    declared: Option<&DeclaredLength>,
    max_bytes: Option<u64>,
) -> Vec<TestResult> {
    const P: &str = "/properties/content";
    let skip_download = TestResult::skipped(
        DOWNLOAD_TEST_ID,
        "inline content verified instead: the link was not downloaded",
    );
    let fail = |f: Finding| {
        let why = "not verified: the inline content cannot be decoded";
        vec![
            TestResult::from_errors(CONTENT_TEST_ID, vec![f]),
            TestResult::skipped(LENGTH_TEST_ID, why),
            TestResult::skipped(INTEGRITY_TEST_ID, why),
            skip_download.clone(),
        ]
    };
    let encoding = content.get("encoding").and_then(Value::as_str);
    let Some(value) = content.get("value").and_then(Value::as_str) else {
        return fail(
            Finding::new(format!("{P}/value"), "missing or not a string")
                .with_fix("put the encoded data in value, or drop content and keep the link"),
        );
    };
    let limit = max_bytes
        .unwrap_or(MAX_INLINE_DECODED)
        .min(MAX_INLINE_DECODED);
    let method = expected.method();
    let digested = match encoding {
        Some("utf-8") => digest_reader(method, value.as_bytes()).map_err(|e| e.to_string()),
        Some("base64") => match B64.decode(value) {
            Ok(bytes) => digest_reader(method, bytes.as_slice()).map_err(|e| e.to_string()),
            Err(e) => Err(format!("value is not valid base64 ({e})")),
        },
        Some("gzip") => match B64.decode(value) {
            Ok(bytes) => {
                let decoder = flate2::read::MultiGzDecoder::new(bytes.as_slice());
                match digest_reader(method, decoder.take(limit.saturating_add(1))) {
                    Ok(d) if d.length > limit => Err(format!(
                        "the gzip data decompresses to more than {limit} bytes"
                    )),
                    Ok(d) => Ok(d),
                    Err(e) => Err(format!("value is not base64 of gzip data ({e})")),
                }
            }
            Err(e) => Err(format!("gzip value is not valid base64 ({e})")),
        },
        Some(other) => {
            return fail(
                Finding::new(
                    format!("{P}/encoding"),
                    format!("`{other}` is not utf-8, base64 or gzip"),
                )
                .with_fix("use base64 for binary data, utf-8 for text"),
            );
        }
        None => {
            return fail(
                Finding::new(format!("{P}/encoding"), "missing or not a string")
                    .with_fix("set encoding to utf-8, base64 or gzip"),
            );
        }
    };
    let d = match digested {
        Ok(d) => d,
        Err(why) => {
            return fail(
                Finding::new(format!("{P}/value"), why)
                    .with_fix("encode the data as stated (base64 of the bytes; gzip is base64 of the gzipped bytes)"),
            );
        }
    };
    let mut errors = Vec::new();
    match content.get("size") {
        Some(s) => match s.as_u64() {
            Some(n) if n == d.length => {}
            Some(n) => errors.push(
                Finding::new(
                    format!("{P}/size"),
                    format!(
                        "size mismatch: expected {n} bytes (content.size), got {} decoded bytes",
                        d.length
                    ),
                )
                .with_fix(format!(
                    "set \"size\": {} (the length of the decoded data)",
                    d.length
                )),
            ),
            None => errors.push(
                Finding::new(format!("{P}/size"), format!("{s} is not a byte count"))
                    .with_fix(format!("set \"size\": {}", d.length)),
            ),
        },
        None => errors.push(
            Finding::new(format!("{P}/size"), "missing").with_fix(format!(
                "set \"size\": {} (the length of the decoded data)",
                d.length
            )),
        ),
    }
    let source = "the inline content";
    vec![
        TestResult::from_errors(CONTENT_TEST_ID, errors),
        length_test(declared, d.length, source),
        expected.test(&d, source),
        skip_download,
    ]
}
