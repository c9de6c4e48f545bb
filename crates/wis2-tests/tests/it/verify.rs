//! Data verification against a real web server: nginx serving a temporary directory
//! on a free port (the kit's [`Web`]), with real Argo files copied from `shared/data`
//! (never into the repository).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::Digest;
use wis2::report::{Code, Report};
use wis2_tests::fixtures::{TOPIC, argo};
use wis2_tests::net::free_port;
use wis2_tests::process::binary;
use wis2_tests::web::Web;
use wis2_validate::verify::{
    self, CONTENT_TEST_ID, DOWNLOAD_TEST_ID, INTEGRITY_TEST_ID, LENGTH_TEST_ID,
};

const FILE: &str = "R6903247_274.nc";
const OTHER: &str = "D5900865_001.nc";

/// nginx serving the two Argo test files under `/argo/`; with `tls`, over https too.
fn argo_server(tls: bool) -> Web {
    let web = Web::start_with(tls);
    let dir = web.www().join("argo");
    std::fs::create_dir_all(&dir).expect("www/argo");
    for f in [FILE, OTHER] {
        std::fs::copy(argo(f), dir.join(f)).expect("copy an Argo file");
    }
    web
}

fn sha512_b64(data: &[u8]) -> String {
    B64.encode(sha2::Sha512::digest(data))
}

fn sha512_hex(data: &[u8]) -> String {
    sha2::Sha512::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A complete WNM for `file` served at `href`, with the given length and digest.
fn message(file: &str, href: &str, length: u64, digest: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [22.86, 36.537]},
        "properties": {
            "data_id": format!("wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/{file}"),
            "metadata_id": "urn:wmo:md:fr-ifremer-argo:cor:msg:argo",
            "pubtime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "datetime": "2022-04-18T09:48:00Z",
            "integrity": {"method": "sha512", "value": digest}
        },
        "links": [{"href": href, "rel": "canonical", "type": "application/netcdf", "length": length}]
    })
}

/// The correct message for `FILE` on `web`.
fn good_message(web: &Web) -> Value {
    let data = std::fs::read(argo(FILE)).expect("read the Argo file");
    message(
        FILE,
        &web.url(&format!("argo/{FILE}")),
        data.len() as u64,
        &sha512_b64(&data),
    )
}

fn agent() -> ureq::Agent {
    verify::agent(Duration::from_secs(30))
}

fn test<'a>(r: &'a Report, id: &str) -> &'a wis2::report::TestResult {
    r.ets_report
        .tests
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("no test {id} in {}", r.to_json()))
}

fn message_of(r: &Report, id: &str) -> String {
    test(r, id).message.clone().unwrap_or_default()
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).expect("json")).expect("write message");
    p
}

fn cli(args: &[&str]) -> Output {
    Command::new(binary("wis2-validate"))
        .arg("verify")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run wis2-validate")
}

fn json_reports(out: &Output) -> Vec<Report> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a report ({e}): {l}")))
        .collect()
}

#[test]
fn cli_a_correct_message_verifies_and_exits_0() {
    let web = argo_server(false);
    let tmp = tempfile::tempdir().expect("temp dir");
    let m = write_json(tmp.path(), "good.json", &good_message(&web));
    let out = cli(&["--json", m.to_str().expect("utf-8 path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.ets_report.subject.as_deref(), m.to_str());
    for id in [DOWNLOAD_TEST_ID, LENGTH_TEST_ID, INTEGRITY_TEST_ID] {
        assert_eq!(test(r, id).code, Code::Passed, "{id}: {}", r.to_json());
    }
    assert_eq!(r.ets_report.summary.failed, 0);
    // The raw shape is the ets-report one.
    let raw: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(raw["ets-report"]["summary"]["PASSED"], 3);
}

#[test]
fn cli_a_wrong_length_fails_the_length_test_and_exits_1() {
    let web = argo_server(false);
    let tmp = tempfile::tempdir().expect("temp dir");
    let size = std::fs::metadata(argo(FILE)).expect("size").len();
    let mut m = good_message(&web);
    m["links"][0]["length"] = json!(size + 1);
    let p = write_json(tmp.path(), "long.json", &m);
    let out = cli(&["--json", p.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_reports(&out)[0];
    assert_eq!(test(r, LENGTH_TEST_ID).code, Code::Failed);
    let msg = message_of(r, LENGTH_TEST_ID);
    assert!(
        msg.contains(&format!("expected {} bytes", size + 1))
            && msg.contains(&format!("got {size} bytes")),
        "{msg}"
    );
    assert!(msg.contains(&web.url(&format!("argo/{FILE}"))), "{msg}");
    assert!(msg.contains(&format!("set \"length\": {size}")), "{msg}");
    assert_eq!(test(r, INTEGRITY_TEST_ID).code, Code::Passed);

    // The human form names the failed test and the fix.
    let out = cli(&[p.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("FAILED {LENGTH_TEST_ID}")), "{text}");
    assert!(text.contains("fix:"), "{text}");
}

#[test]
fn a_wrong_digest_fails_integrity() {
    let web = argo_server(false);
    let mut m = good_message(&web);
    let other = std::fs::read(argo(OTHER)).expect("read");
    let wrong = sha512_b64(&other);
    m["properties"]["integrity"]["value"] = json!(wrong);
    let r = verify::verify_message(&m, &agent(), None);
    assert!(!r.is_valid());
    assert_eq!(r.failed_ids(), vec![INTEGRITY_TEST_ID]);
    let msg = message_of(&r, INTEGRITY_TEST_ID);
    let right = sha512_b64(&std::fs::read(argo(FILE)).expect("read"));
    assert!(
        msg.contains(&format!("expected {wrong}")) && msg.contains(&format!("got {right}")),
        "{msg}"
    );
    assert_eq!(test(&r, LENGTH_TEST_ID).code, Code::Passed);
}

#[test]
fn a_hex_digest_fails_integrity_and_says_hex() {
    let web = argo_server(false);
    let data = std::fs::read(argo(FILE)).expect("read");
    let mut m = good_message(&web);
    m["properties"]["integrity"]["value"] = json!(sha512_hex(&data));
    let r = verify::verify_message(&m, &agent(), None);
    assert_eq!(r.failed_ids(), vec![INTEGRITY_TEST_ID]);
    let t = test(&r, INTEGRITY_TEST_ID);
    let msg = t.message.clone().unwrap_or_default();
    assert!(msg.contains("hex") && msg.contains("base64"), "{msg}");
    assert!(
        msg.contains(&sha512_b64(&data)),
        "the fix gives the base64 value: {msg}"
    );

    // Another method, hex and wrong: still said to be hex.
    m["properties"]["integrity"] = json!({"method": "sha256", "value": "ab".repeat(32)});
    let r = verify::verify_message(&m, &agent(), None);
    let msg = message_of(&r, INTEGRITY_TEST_ID);
    assert!(
        msg.contains("hex") && msg.contains("does not match"),
        "{msg}"
    );
}

#[test]
fn cli_a_missing_file_fails_the_download_naming_the_url() {
    let web = argo_server(false);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut m = good_message(&web);
    let url = web.url("argo/R0000000_000.nc");
    m["links"][0]["href"] = json!(url);
    let p = write_json(tmp.path(), "404.json", &m);
    let out = cli(&["--json", p.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_reports(&out)[0];
    assert_eq!(r.failed_ids(), vec![DOWNLOAD_TEST_ID]);
    let msg = message_of(r, DOWNLOAD_TEST_ID);
    assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
    assert_eq!(test(r, LENGTH_TEST_ID).code, Code::Skipped);
    assert_eq!(test(r, INTEGRITY_TEST_ID).code, Code::Skipped);

    // Nothing listening: a download failure too, with the URL.
    let url = format!("http://127.0.0.1:{}/argo/{FILE}", free_port());
    m["links"][0]["href"] = json!(url);
    let r = verify::verify_message(&m, &agent(), None);
    assert_eq!(r.failed_ids(), vec![DOWNLOAD_TEST_ID]);
    assert!(message_of(&r, DOWNLOAD_TEST_ID).contains(&url));
}

#[test]
fn a_redirect_is_followed_and_named() {
    let web = argo_server(false);
    let mut m = good_message(&web);
    m["links"][0]["href"] = json!(web.url(&format!("moved/argo/{FILE}")));
    let r = verify::verify_message(&m, &agent(), None);
    assert!(r.is_valid(), "{}", r.to_human());
    m["links"][0]["length"] = json!(1);
    let r = verify::verify_message(&m, &agent(), None);
    let msg = message_of(&r, LENGTH_TEST_ID);
    assert!(msg.contains("redirected to"), "{msg}");
}

#[test]
fn a_file_over_the_byte_limit_is_not_verified() {
    let web = argo_server(false);
    let m = good_message(&web);
    let r = verify::verify_message(&m, &agent(), Some(1000));
    assert!(r.is_valid(), "{}", r.to_human());
    assert_eq!(test(&r, INTEGRITY_TEST_ID).code, Code::Skipped);
    assert!(message_of(&r, INTEGRITY_TEST_ID).contains("1000-byte limit"));
    // A length within the limit while the file is larger is a mismatch.
    let mut small = m.clone();
    small["links"][0]["length"] = json!(10);
    let r = verify::verify_message(&small, &agent(), Some(1000));
    assert_eq!(r.failed_ids(), vec![LENGTH_TEST_ID]);
    // A file that changed on the server after the message: both tests fail.
    std::fs::copy(argo(OTHER), web.www().join("argo").join(FILE)).expect("overwrite");
    let r = verify::verify_message(&m, &agent(), None);
    assert_eq!(r.failed_ids(), vec![LENGTH_TEST_ID, INTEGRITY_TEST_ID]);
}

/// A message with inline content and a link to a port nothing listens on.
fn inline_message(encoding: &str, value: &str, size: u64, data: &[u8]) -> Value {
    let href = format!("http://127.0.0.1:{}/nothing-here.txt", free_port());
    let mut m = message("note.txt", &href, data.len() as u64, &sha512_b64(data));
    m["properties"]["content"] = json!({"encoding": encoding, "size": size, "value": value});
    m
}

#[test]
fn inline_content_is_checked_without_a_server() {
    let data = b"PLATFORM 6903247 cycle 274: 220 levels\n";
    let n = data.len() as u64;
    let text = std::str::from_utf8(data).expect("utf-8");

    let r = verify::verify_message(&inline_message("utf-8", text, n, data), &agent(), None);
    assert!(r.is_valid(), "{}", r.to_human());
    assert_eq!(test(&r, CONTENT_TEST_ID).code, Code::Passed);
    assert_eq!(test(&r, INTEGRITY_TEST_ID).code, Code::Passed);
    assert_eq!(test(&r, LENGTH_TEST_ID).code, Code::Passed);
    assert_eq!(test(&r, DOWNLOAD_TEST_ID).code, Code::Skipped);

    let r = verify::verify_message(
        &inline_message("base64", &B64.encode(data), n, data),
        &agent(),
        None,
    );
    assert!(r.is_valid(), "{}", r.to_human());

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    let gz = B64.encode(gz.finish().expect("gzip"));
    let r = verify::verify_message(&inline_message("gzip", &gz, n, data), &agent(), None);
    assert!(r.is_valid(), "{}", r.to_human());

    // Wrong size.
    let r = verify::verify_message(
        &inline_message("base64", &B64.encode(data), n + 3, data),
        &agent(),
        None,
    );
    assert_eq!(r.failed_ids(), vec![CONTENT_TEST_ID]);
    assert!(message_of(&r, CONTENT_TEST_ID).contains(&format!("got {n} decoded bytes")));

    // Wrong digest (of other data).
    let mut m = inline_message("gzip", &gz, n, data);
    m["properties"]["integrity"]["value"] = json!(sha512_b64(b"other"));
    let r = verify::verify_message(&m, &agent(), None);
    assert_eq!(r.failed_ids(), vec![INTEGRITY_TEST_ID]);
    assert!(message_of(&r, INTEGRITY_TEST_ID).contains("inline content"));

    // Not decodable.
    let r = verify::verify_message(
        &inline_message("gzip", &B64.encode(data), n, data),
        &agent(),
        None,
    );
    assert_eq!(r.failed_ids(), vec![CONTENT_TEST_ID]);
    let r = verify::verify_message(
        &inline_message("base64", "not base64!", n, data),
        &agent(),
        None,
    );
    assert_eq!(r.failed_ids(), vec![CONTENT_TEST_ID]);
}

#[test]
fn a_deletion_is_skipped() {
    let href = format!("http://127.0.0.1:{}/argo/{FILE}", free_port());
    let mut m = message(FILE, &href, 1, &sha512_b64(b"x"));
    m["links"][0]["rel"] = json!("deletion");
    let r = verify::verify_message(&m, &agent(), None);
    assert!(r.is_valid());
    let t = test(&r, DOWNLOAD_TEST_ID);
    assert_eq!(t.code, Code::Skipped);
    assert!(
        t.message.as_deref().unwrap_or("").contains("deletion"),
        "{t:?}"
    );
    assert_eq!(r.ets_report.summary.passed, 0);
}

#[test]
fn cli_feature_collections_and_local_errors() {
    let web = argo_server(false);
    let tmp = tempfile::tempdir().expect("temp dir");
    let good = good_message(&web);
    let mut bad = good_message(&web);
    bad["links"][0]["length"] = json!(3);
    let fc = json!({"type": "FeatureCollection", "features": [good, bad]});
    let p = write_json(tmp.path(), "fc.json", &fc);
    let name = p.to_str().expect("utf-8 path");
    let out = cli(&["--json", name]);
    assert_eq!(out.status.code(), Some(1));
    let reports = json_reports(&out);
    assert_eq!(reports.len(), 2);
    assert!(reports[0].is_valid());
    assert_eq!(reports[1].failed_ids(), vec![LENGTH_TEST_ID]);
    assert_eq!(
        reports[1].ets_report.subject,
        Some(format!("{name}#/features/1"))
    );

    // A missing file and a file that is not JSON: usage/I-O errors, exit 2.
    let missing = tmp.path().join("missing.json");
    let out = cli(&[missing.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    let notjson = tmp.path().join("x.json");
    std::fs::write(&notjson, "{oops").expect("write");
    let out = cli(&[notjson.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
}

fn stage() -> wis2_validate::VerifyingStage {
    let validator = wis2::validate::Validator::new(&wis2::validate::ValidatorOptions::default())
        .expect("built-in validator");
    let inner = wis2_validate::ValidateStage::new(
        validator,
        "chain/validated".to_string(),
        "chain/rejected".to_string(),
    );
    wis2_validate::VerifyingStage::new(Arc::new(inner)).with_agent(agent(), None)
}

/// A stage's parse and handle of a delivery, as the runner does them.
struct Handles<'a, S>(&'a S);

impl<S: wis2_bus::Stage> Handles<'_, S> {
    fn handle(&self, d: &wis2_bus::Delivery) -> Result<Vec<wis2_bus::Output>, wis2_bus::Failure> {
        self.0.parse(d).and_then(|input| self.0.handle(&input))
    }

    /// The failure of `m`, which the stage must reject with a reason naming `test`.
    fn rejects(&self, m: &Value, test: &str) -> wis2_bus::Failure {
        let Err(failure) = self.handle(&delivery(m)) else {
            panic!("passed: {test} should have failed");
        };
        assert!(failure.reason.contains(test), "{}", failure.reason);
        failure
    }
}

/// The envelope of `m` under a fresh data_id (the validator remembers data_ids).
fn delivery(m: &Value) -> wis2_bus::Delivery {
    let mut m = m.clone();
    m["properties"]["data_id"] = json!(format!(
        "wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/{}/{FILE}",
        uuid::Uuid::new_v4()
    ));
    let env = wis2_bus::envelope::Envelope::new(
        TOPIC,
        Some("event-1".to_string()),
        Some(wis2::path::RelPath::parse(&format!("argo/{FILE}")).expect("a relative path")),
        m.to_string(),
    )
    .expect("envelope");
    wis2_bus::Delivery::detached("chain/created", env.to_vec())
}

#[test]
fn the_pipeline_stage_rejects_a_message_whose_data_disagrees() {
    let web = argo_server(false);
    let stage = stage();
    let s = Handles(&stage);

    let good = good_message(&web);
    let out = s
        .handle(&delivery(&good))
        .expect("a verified message passes");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "chain/validated");

    let mut bad = good_message(&web);
    bad["properties"]["integrity"]["value"] = json!(sha512_b64(b"not the file"));
    // A digest mismatch is rejected.
    let failure = s.rejects(&bad, "verify/integrity");
    assert_eq!(failure.outputs.len(), 1);
    assert_eq!(failure.outputs[0].topic, "chain/rejected");
    let rejection: Value = serde_json::from_slice(&failure.outputs[0].payload).expect("JSON");
    assert_eq!(rejection["topic"], TOPIC);
    assert_eq!(rejection["event_id"], "event-1");
    let report: Report = serde_json::from_value(rejection["report"].clone()).expect("report");
    assert_eq!(report.failed_ids(), vec![INTEGRITY_TEST_ID]);

    let mut gone = good_message(&web);
    gone["links"][0]["href"] = json!(web.url("argo/gone.nc"));
    // A failed download is rejected.
    s.rejects(&gone, "verify/download");

    // A message the validator rejects is not downloaded: its report is the validator's.
    let mut invalid = good_message(&web);
    invalid["properties"]["integrity"]["value"] = json!(sha512_b64(b"not the file"));
    invalid["properties"]["pubtime"] = json!("yesterday");
    let failure = s.handle(&delivery(&invalid)).expect_err("invalid");
    assert!(!failure.reason.contains("verify/"), "{}", failure.reason);
}

#[test]
fn tls_certificates_are_verified() {
    let web = argo_server(true);
    let port = web.tls_port.expect("https port");
    let mut m = good_message(&web);
    let url = format!("https://127.0.0.1:{port}/argo/{FILE}");
    m["links"][0]["href"] = json!(url);
    let r = verify::verify_message(&m, &agent(), None);
    assert_eq!(r.failed_ids(), vec![DOWNLOAD_TEST_ID], "{}", r.to_human());
    let t = test(&r, DOWNLOAD_TEST_ID);
    let msg = t.message.clone().unwrap_or_default();
    assert!(msg.contains(&url) && msg.contains("TLS"), "{msg}");
    assert!(msg.contains("valid certificate"), "{msg}");
}
