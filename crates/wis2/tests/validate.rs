//! The WNM test suite and the topic checks against the standard's own examples, real
//! messages, the smallest violating variants of a valid message, and the
//! authoritative schema (differential test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use wis2::report::{Code, Finding, Report};
use wis2::topic::{self, Mode, TopicTables};
use wis2::validate::{Validator, ValidatorOptions, ids};

const ARGO: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

fn schema_path() -> PathBuf {
    shared("standards/wnm/wis2-notification-message-bundled.json")
}

/// Schema and WTH tables loaded.
fn full() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        Validator::new(&ValidatorOptions {
            schema: Some(schema_path()),
            wth_dir: Some(shared("standards/wth")),
            ..ValidatorOptions::default()
        })
        .expect("schema and tables load")
    })
}

fn builtin() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(Validator::builtin)
}

fn tables() -> &'static TopicTables {
    full().tables().expect("tables loaded")
}

/// The authoritative schema, compiled independently of the validator.
fn reference_schema() -> &'static jsonschema::Validator {
    static S: OnceLock<jsonschema::Validator> = OnceLock::new();
    S.get_or_init(|| {
        let text = std::fs::read(schema_path()).expect("schema readable");
        let doc: Value = serde_json::from_slice(&text).expect("schema JSON");
        jsonschema::options()
            .should_validate_formats(true)
            .build(&doc)
            .expect("schema compiles")
    })
}

fn read_json(p: PathBuf) -> Value {
    let text = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A valid Argo message: inline content, correct size and base64 sha512 integrity.
fn base() -> Value {
    json!({
        "id": "6f2d0c58-3c1e-4b4e-9f57-0e4c3f1d2a10",
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [22.86, 36.537]},
        "properties": {
            "data_id": "wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/R6903247_274.nc",
            "metadata_id": "urn:wmo:md:fr-ifremer-argo:core.ocean.argo",
            "pubtime": "2024-05-01T12:00:00Z",
            "datetime": "2022-04-18T09:48:00Z",
            "integrity": {
                "method": "sha512",
                "value": "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw=="
            },
            "content": {"encoding": "utf-8", "size": 11, "value": "hello world"}
        },
        "links": [{
            "href": "https://data.example.org/argo/R6903247_274.nc",
            "rel": "canonical",
            "type": "application/netcdf",
            "length": 122032
        }]
    })
}

fn failed(r: &Report) -> BTreeSet<String> {
    r.failed_ids().into_iter().map(str::to_string).collect()
}

fn code(r: &Report, id: &str) -> Option<Code> {
    r.ets_report
        .tests
        .iter()
        .find(|t| t.id == id)
        .map(|t| t.code)
}

/// Applies `edit` to the base message; asserts exactly `expected` fail, with the
/// schema and with the built-in rules alike.
fn assert_fails(what: &str, edit: impl FnOnce(&mut Value), expected: &[&str]) -> Report {
    let mut m = base();
    edit(&mut m);
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let r = full().check_value(&m, Some(ARGO));
    assert_eq!(failed(&r), want, "{what} (schema):\n{}", r.to_human());
    let b = builtin().check_value(&m, Some(ARGO));
    assert_eq!(failed(&b), want, "{what} (built-in):\n{}", b.to_human());
    r
}

fn props(m: &mut Value) -> &mut serde_json::Map<String, Value> {
    m["properties"].as_object_mut().expect("properties")
}

#[test]
fn base_message_is_valid_without_warnings() {
    let r = full().check_value(&base(), Some(ARGO));
    assert!(r.is_valid(), "{}", r.to_human());
    assert_eq!(r.ets_report.summary.passed, 12);
    assert!(
        r.ets_report.warnings.is_empty(),
        "{:?}",
        r.ets_report.warnings
    );
    let raw = serde_json::to_vec(&base()).expect("serialize");
    assert!(full().check_message(&raw, Some(ARGO)).is_valid());
}

#[test]
fn standard_examples_pass() {
    let dir = shared("standards/wnm/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        let raw = std::fs::read(&path).expect("example readable");
        let r = full().check_message(&raw, None);
        assert!(r.is_valid(), "{}: {}", path.display(), r.to_human());
        assert_eq!(code(&r, ids::VALIDATION), Some(Code::Passed));
        n += 1;
    }
    assert!(n >= 7);
}

#[test]
fn real_node_messages_pass() {
    let fc = read_json(shared("data/wnm/wis2watch_node_messages_gh_gmet.json"));
    let features = fc["features"].as_array().expect("a FeatureCollection");
    assert!(!features.is_empty());
    for f in features {
        let r = full().check_value(f, None);
        assert!(r.is_valid(), "{}", r.to_human());
        // Their topic is derived from the data_id's centre.
        let topic = "origin/a/wis2/gh-gmet/data/core/weather/surface-based-observations/synop";
        assert!(full().check_value(f, Some(topic)).is_valid());
    }
}

#[test]
fn builtin_without_schema_skips_only_the_schema_part() {
    let r = builtin().check_value(&base(), Some(ARGO));
    assert!(r.is_valid());
    assert_eq!(code(&r, ids::VALIDATION), Some(Code::Skipped));
    let msg = r.ets_report.tests[0].message.clone().unwrap_or_default();
    assert!(msg.contains("schema was not checked"), "{msg}");
    assert_eq!(r.ets_report.summary.skipped, 1);
    // The structural check still fails a broken message.
    let mut m = base();
    m["type"] = json!("FeatureCollection");
    let r = builtin().check_value(&m, None);
    assert_eq!(code(&r, ids::VALIDATION), Some(Code::Failed));
    assert!(r.to_human().contains("/type"));
    // What is not JSON fails validation, without a schema too.
    let r = builtin().check_message(b"{not json", None);
    assert_eq!(r.failed_ids(), vec![ids::VALIDATION]);
}

#[test]
fn report_shape_matches_pywis_pubsub() {
    let mut m = base();
    props(&mut m)["pubtime"] = json!("2024-05-01T14:00:00+02:00");
    let r = full().check_value(&m, None);
    let v: Value = serde_json::from_str(&r.to_json()).expect("JSON");
    let er = &v["ets-report"];
    assert_eq!(er["summary"]["FAILED"], 1);
    let t = er["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["id"] == ids::PUBTIME)
        .expect("pubtime test");
    assert_eq!(t["code"], "FAILED");
    assert_eq!(t["errors"][0]["path"], "/properties/pubtime");
    assert!(
        t["errors"][0]["fix"]
            .as_str()
            .unwrap_or("")
            .contains("2024-05-01T12:00:00Z")
    );
}

// ---- one rule at a time ------------------------------------------------------------

/// A smallest violating variant of the base message: what it is, the edit that makes
/// it, and the tests that must fail.
type Case = (&'static str, Edit, &'static [&'static str]);

/// An edit of the base message.
type Edit = fn(&mut Value);

fn links(m: &mut Value) -> &mut Vec<Value> {
    m["links"].as_array_mut().expect("links")
}

fn remove(m: &mut Value, key: &str) {
    m.as_object_mut().expect("msg").remove(key);
}

/// A second link, to another file.
fn second(rel: &str) -> Value {
    json!({"href": "https://data.example.org/argo/other.nc", "rel": rel})
}

/// A start and an end instead of `datetime`.
fn span(m: &mut Value, s: Value, e: Value) {
    let p = props(m);
    p.remove("datetime");
    p.insert("start_datetime".into(), s);
    p.insert("end_datetime".into(), e);
}

/// A Polygon of one ring.
fn poly(ring: Value) -> Value {
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// Inline content of `value`, declared as 4096 bytes.
fn content_4096(m: &mut Value, value: String) {
    props(m)["content"]["value"] = json!(value);
    props(m)["content"]["size"] = json!(4096);
}

const NINE: &str = "2022-04-18T09:00:00Z";
const TEN: &str = "2022-04-18T10:00:00Z";

/// Each rule's smallest violating variants, in the order of the suite's tests.
const CASES: &[Case] = &[
    (
        "size: padding",
        |m| {
            props(m).insert("padding".into(), json!("x".repeat(8200)));
        },
        &[ids::MESSAGE_SIZE],
    ),
    (
        "pubtime +02:00",
        |m| props(m)["pubtime"] = json!("2024-05-01T14:00:00+02:00"),
        &[ids::PUBTIME],
    ),
    (
        "pubtime -00:00",
        |m| props(m)["pubtime"] = json!("2024-05-01T12:00:00-00:00"),
        &[ids::PUBTIME],
    ),
    // +00:00 is UTC.
    (
        "pubtime +00:00",
        |m| props(m)["pubtime"] = json!("2024-05-01T12:00:00+00:00"),
        &[],
    ),
    (
        "pubtime missing",
        |m| {
            props(m).remove("pubtime");
        },
        &[ids::VALIDATION, ids::PUBTIME],
    ),
    (
        "datetime +02:00",
        |m| props(m)["datetime"] = json!("2022-04-18T11:48:00+02:00"),
        &[ids::TEMPORAL],
    ),
    (
        "datetime malformed",
        |m| props(m)["datetime"] = json!("2022-04-18"),
        &[ids::VALIDATION, ids::TEMPORAL],
    ),
    ("datetime null", |m| props(m)["datetime"] = Value::Null, &[]),
    ("span", |m| span(m, json!(NINE), json!(TEN)), &[]),
    (
        "span: start after end",
        |m| span(m, json!("2022-04-18T11:00:00Z"), json!(TEN)),
        &[ids::TEMPORAL],
    ),
    (
        "span: start null",
        |m| span(m, Value::Null, json!(TEN)),
        &[ids::VALIDATION, ids::TEMPORAL],
    ),
    (
        "span: start only",
        |m| {
            span(m, json!(NINE), Value::Null);
            props(m).remove("end_datetime");
        },
        &[ids::VALIDATION, ids::TEMPORAL],
    ),
    (
        "time: both forms",
        |m| {
            let p = props(m);
            p.insert("start_datetime".into(), json!(NINE));
            p.insert("end_datetime".into(), json!(TEN));
        },
        &[ids::VALIDATION, ids::TEMPORAL],
    ),
    (
        "time: none",
        |m| {
            props(m).remove("datetime");
        },
        &[ids::VALIDATION, ids::TEMPORAL],
    ),
    (
        "links: two canonical",
        |m| links(m).push(second("canonical")),
        &[ids::LINKS],
    ),
    (
        "links: canonical + update",
        |m| links(m).push(second("update")),
        &[ids::LINKS],
    ),
    (
        "links: update + deletion",
        |m| {
            m["links"][0]["rel"] = json!("update");
            links(m).push(second("deletion"));
        },
        &[ids::LINKS],
    ),
    (
        "links: deletion alone",
        |m| m["links"][0]["rel"] = json!("deletion"),
        &[],
    ),
    (
        "links: no canonical",
        |m| m["links"][0]["rel"] = json!("item"),
        &[ids::LINKS],
    ),
    (
        "links: extra alternate link",
        |m| links(m).push(second("alternate")),
        &[],
    ),
    (
        "links: empty",
        |m| m["links"] = json!([]),
        &[ids::VALIDATION, ids::LINKS],
    ),
    (
        "links: missing href",
        |m| {
            m["links"][0].as_object_mut().expect("link").remove("href");
        },
        &[ids::VALIDATION, ids::LINKS],
    ),
    (
        "geometry: latitude 120 (swapped)",
        |m| m["geometry"]["coordinates"] = json!([36.5, 120.0]),
        &[ids::GEOMETRY],
    ),
    (
        "geometry: longitude 200",
        |m| m["geometry"]["coordinates"] = json!([200.0, 36.5]),
        &[ids::GEOMETRY],
    ),
    (
        "geometry: height",
        |m| m["geometry"]["coordinates"] = json!([22.86, 36.537, -1000.0]),
        &[],
    ),
    (
        "geometry: LineString",
        |m| m["geometry"] = json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}),
        &[ids::VALIDATION, ids::GEOMETRY],
    ),
    (
        "geometry: string coordinates",
        |m| m["geometry"]["coordinates"] = json!(["22.86", "36.537"]),
        &[ids::VALIDATION, ids::GEOMETRY],
    ),
    ("geometry: null", |m| m["geometry"] = Value::Null, &[]),
    (
        "geometry: missing",
        |m| remove(m, "geometry"),
        &[ids::VALIDATION, ids::GEOMETRY],
    ),
    (
        "geometry: closed polygon",
        |m| m["geometry"] = poly(json!([[0, 0], [1, 0], [1, 1], [0, 0]])),
        &[],
    ),
    (
        "geometry: open polygon",
        |m| m["geometry"] = poly(json!([[0, 0], [1, 0], [1, 1], [0, 1]])),
        &[ids::GEOMETRY],
    ),
    (
        "geometry: 3-position ring",
        |m| m["geometry"] = poly(json!([[0, 0], [1, 0], [0, 0]])),
        &[ids::VALIDATION, ids::GEOMETRY],
    ),
    (
        "geometry: polygon out of range",
        |m| m["geometry"] = poly(json!([[0, 0], [181, 0], [1, 1], [0, 0]])),
        &[ids::GEOMETRY],
    ),
    (
        "data_id: missing",
        |m| {
            props(m).remove("data_id");
        },
        &[ids::VALIDATION, ids::DATA_ID],
    ),
    (
        "data_id: empty",
        |m| props(m)["data_id"] = json!(""),
        &[ids::DATA_ID],
    ),
    (
        "data_id: number",
        |m| props(m)["data_id"] = json!(7),
        &[ids::VALIDATION, ids::DATA_ID],
    ),
    (
        "conformsTo: missing",
        |m| remove(m, "conformsTo"),
        &[ids::VALIDATION, ids::CONFORMANCE],
    ),
    (
        "conformsTo and version",
        |m| m["version"] = json!("v04"),
        &[ids::VALIDATION, ids::CONFORMANCE],
    ),
    (
        "version v04 only",
        |m| {
            remove(m, "conformsTo");
            m["version"] = json!("v04");
        },
        &[],
    ),
    (
        "conformsTo: other class",
        |m| m["conformsTo"] = json!(["http://wis.wmo.int/spec/wnm/2/conf/core"]),
        &[ids::VALIDATION, ids::CONFORMANCE],
    ),
    (
        "id: not a uuid",
        |m| m["id"] = json!("message-1"),
        &[ids::VALIDATION, ids::IDENTIFIER],
    ),
    (
        "id: missing",
        |m| remove(m, "id"),
        &[ids::VALIDATION, ids::IDENTIFIER],
    ),
    (
        "metadata_id: other centre",
        |m| props(m)["metadata_id"] = json!("urn:wmo:md:fr-meteo-france:core.ocean.argo"),
        &[ids::METADATA_ID],
    ),
    (
        "metadata_id: not a urn",
        |m| props(m)["metadata_id"] = json!("argo"),
        &[ids::METADATA_ID],
    ),
    (
        "metadata_id: absent (recommended only)",
        |m| {
            props(m).remove("metadata_id");
        },
        &[],
    ),
    (
        "content: encoding zip",
        |m| props(m)["content"]["encoding"] = json!("zip"),
        &[ids::VALIDATION, ids::CONTENT],
    ),
    // 2100 two-byte characters: within the schema's maxLength (characters), over 4096
    // bytes.
    (
        "content: 4200 bytes",
        |m| content_4096(m, "é".repeat(2100)),
        &[ids::CONTENT],
    ),
    (
        "content: 5000 characters",
        |m| content_4096(m, "a".repeat(5000)),
        &[ids::VALIDATION, ids::CONTENT],
    ),
    (
        "content: bad base64",
        |m| props(m)["content"] = json!({"encoding": "base64", "size": 3, "value": "%%%"}),
        &[ids::CONTENT],
    ),
    (
        "content: missing size",
        |m| {
            props(m)["content"]
                .as_object_mut()
                .expect("content")
                .remove("size");
        },
        &[ids::VALIDATION, ids::CONTENT],
    ),
];

#[test]
fn each_rule_fails_exactly_its_tests() {
    let reports: BTreeMap<&str, Report> = CASES
        .iter()
        .map(|(what, edit, expected)| (*what, assert_fails(what, edit, expected)))
        .collect();
    let says = |what: &str, text: &str| {
        let human = reports[what].to_human();
        assert!(human.contains(text), "{what}: {human}");
    };
    says("pubtime +02:00", "2024-05-01T12:00:00Z");
    says("links: two canonical", "2 links with rel canonical");
    says("links: canonical + update", "canonical and update");
    says("geometry: latitude 120 (swapped)", "swapped");
    says(
        "metadata_id: other centre",
        "urn:wmo:md:fr-ifremer-argo:core.ocean.argo",
    );
}

#[test]
fn message_over_8192_bytes_as_received() {
    // Measured as received: whitespace counts.
    let pretty = format!(
        "{}{}",
        serde_json::to_string(&base()).expect("json"),
        " ".repeat(8000)
    );
    let r = full().check_message(pretty.as_bytes(), None);
    assert_eq!(failed(&r), BTreeSet::from([ids::MESSAGE_SIZE.to_string()]));
}

#[test]
fn malformed_pubtime() {
    for bad in [
        "2024-05-01 12:00:00Z",
        "2024-05-01T12:00:00",
        "2024-13-01T12:00:00Z",
        "yesterday",
    ] {
        assert_fails(
            bad,
            |m| props(m)["pubtime"] = json!(bad),
            &[ids::VALIDATION, ids::PUBTIME],
        );
    }
}

#[test]
fn link_hrefs() {
    for bad in [
        "mailto:argo@example.org",
        "httpx://example.org/a",
        "file:///data/a.nc",
        "/data/a.nc",
    ] {
        assert_fails(bad, |m| m["links"][0]["href"] = json!(bad), &[ids::LINKS]);
    }
    for good in [
        "http://example.org/a",
        "ftp://example.org/a",
        "sftp://example.org/a",
    ] {
        assert_fails(good, |m| m["links"][0]["href"] = json!(good), &[]);
    }
}

/// Valid messages whose content or integrity deserve a warning, and what it says.
#[test]
fn content_and_integrity_warnings() {
    let cases: [(&str, Edit, &[&str]); 3] = [
        (
            "size 12",
            |m| props(m)["content"]["size"] = json!(12),
            &["\"size\": 11"],
        ),
        (
            "other content, its size",
            |m| {
                props(m)["content"]["value"] = json!("hello world!");
                props(m)["content"]["size"] = json!(12);
            },
            &["digest of the inline content differs"],
        ),
        // A hex digest: the usual mistake, converted in the fix.
        (
            "hex digest",
            |m| {
                props(m).remove("content");
                props(m)["integrity"]["value"] = json!(
                    "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
                );
            },
            &[
                "hex",
                "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw==",
            ],
        ),
    ];
    for (what, edit, says) in cases {
        let mut m = base();
        edit(&mut m);
        let r = full().check_value(&m, None);
        assert!(r.is_valid(), "{what}: {}", r.to_human());
        let human = r.to_human();
        for text in says {
            assert!(human.contains(text), "{what}: {human}");
        }
    }

    // base64 content, same bytes: no warning.
    let mut m = base();
    props(&mut m)["content"] =
        json!({"encoding": "base64", "size": 11, "value": "aGVsbG8gd29ybGQ="});
    let r = full().check_value(&m, None);
    assert!(r.ets_report.warnings.is_empty(), "{}", r.to_human());

    // The real EUMETSAT example carries a hex digest too.
    let ex = read_json(shared(
        "standards/wnm/examples/eumetsat-msg-seviri-core-notification.json",
    ));
    let r = full().check_value(&ex, None);
    assert!(r.is_valid());
    assert!(
        r.ets_report
            .warnings
            .iter()
            .any(|w| w.message.contains("hex"))
    );

    // A digest of the wrong length for the method.
    let mut m = base();
    props(&mut m)["integrity"]["method"] = json!("sha256");
    let r = full().check_value(&m, None);
    assert!(r.to_human().contains("32 bytes"), "{}", r.to_human());
}

#[test]
fn topic_is_a_test_of_the_message_report() {
    let bad = ARGO.replace("data/core", "core/data");
    let r = full().check_message(&serde_json::to_vec(&base()).expect("json"), Some(&bad));
    assert_eq!(failed(&r), BTreeSet::from([ids::TOPIC.to_string()]));
}

// ---- differential: our schema verdict = the authoritative schema's -------------------

fn corpus() -> Vec<Value> {
    let mut seeds = vec![base()];
    for entry in std::fs::read_dir(shared("standards/wnm/examples")).expect("examples") {
        seeds.push(read_json(entry.expect("entry").path()));
    }
    let fc = read_json(shared("data/wnm/wis2watch_node_messages_gh_gmet.json"));
    seeds.extend(
        fc["features"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .take(3),
    );

    let odd = [
        Value::Null,
        json!(1),
        json!(1.5),
        json!("x"),
        json!(""),
        json!(true),
        json!([]),
        json!({}),
        json!("2024-05-01T12:00:00+02:00"),
        json!("2024-05-01T12:00:00"),
        json!(["http://wis.wmo.int/spec/wnm/1/conf/core"]),
    ];
    let mut out = Vec::new();
    for seed in &seeds {
        out.push(seed.clone());
        let Some(obj) = seed.as_object() else {
            continue;
        };
        for key in obj.keys() {
            let mut m = seed.clone();
            m.as_object_mut().expect("obj").remove(key);
            out.push(m);
            for o in &odd {
                let mut m = seed.clone();
                m[key] = o.clone();
                out.push(m);
            }
        }
        if let Some(p) = seed["properties"].as_object() {
            for key in p.keys() {
                let mut m = seed.clone();
                m["properties"].as_object_mut().expect("props").remove(key);
                out.push(m);
                for o in &odd {
                    let mut m = seed.clone();
                    m["properties"][key] = o.clone();
                    out.push(m);
                }
            }
            for key in ["integrity", "content"] {
                if let Some(inner) = p.get(key).and_then(Value::as_object) {
                    for k in inner.keys() {
                        let mut m = seed.clone();
                        m["properties"][key]
                            .as_object_mut()
                            .expect("inner")
                            .remove(k);
                        out.push(m);
                        for o in &odd {
                            let mut m = seed.clone();
                            m["properties"][key][k] = o.clone();
                            out.push(m);
                        }
                    }
                }
            }
        }
        if let Some(l) = seed["links"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(Value::as_object)
        {
            for k in l.keys() {
                let mut m = seed.clone();
                m["links"][0].as_object_mut().expect("link").remove(k);
                out.push(m);
                for o in &odd {
                    let mut m = seed.clone();
                    m["links"][0][k] = o.clone();
                    out.push(m);
                }
            }
        }
        for g in [
            json!({"type": "Point", "coordinates": [1]}),
            json!({"type": "Point", "coordinates": [1, 2, 3, 4]}),
            json!({"type": "Point"}),
            json!({"type": "Polygon", "coordinates": []}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
            json!({"type": "MultiPoint", "coordinates": [[0, 0]]}),
            json!({"coordinates": [0, 0]}),
        ] {
            let mut m = seed.clone();
            m["geometry"] = g;
            out.push(m);
        }
    }
    out.push(json!([]));
    out.push(json!("a string"));
    out
}

#[test]
fn differential_schema_verdict() {
    let corpus = corpus();
    assert!(corpus.len() > 200, "corpus of {}", corpus.len());
    let (mut valid, mut invalid) = (0, 0);
    for m in &corpus {
        let reference = reference_schema().is_valid(m);
        if reference {
            valid += 1;
        } else {
            invalid += 1;
        }
        let ours = full().check_value(m, None);
        let ours_ok = code(&ours, ids::VALIDATION) == Some(Code::Passed);
        assert_eq!(
            ours_ok,
            reference,
            "schema verdict differs on {m}\n{}",
            ours.to_human()
        );
        // The built-in structural check (no schema) agrees too.
        let b = builtin().check_value(m, None);
        let b_ok = code(&b, ids::VALIDATION) != Some(Code::Failed);
        assert_eq!(
            b_ok,
            reference,
            "built-in verdict differs on {m}\n{}",
            b.to_human()
        );
    }
    eprintln!("differential corpus: {valid} valid, {invalid} invalid");
    assert!(
        valid > 20 && invalid > 100,
        "{valid} valid, {invalid} invalid"
    );
}

// ---- topics ---------------------------------------------------------------------

/// A finding's fix, `""` when it has none.
fn fix(f: &Finding) -> &str {
    f.fix.as_deref().unwrap_or("")
}

#[test]
fn argo_topic_is_valid() {
    assert!(topic::check(ARGO, Some(tables()), Mode::Publish).is_empty());
    assert!(topic::check(ARGO, None, Mode::Publish).is_empty());
    assert_eq!(topic::centre_id(ARGO), Some("fr-ifremer-argo"));
    let r = full().check_topic(ARGO, Mode::Publish);
    assert!(r.is_valid());
    assert_eq!(r.ets_report.tests[0].id, topic::TOPIC_TEST_ID);
}

#[test]
fn core_data_swap_gives_the_corrected_topic() {
    let bad = "origin/a/wis2/fr-ifremer-argo/core/data/ocean/surface-based-observations/drifting-ocean-profilers";
    for t in [Some(tables()), None] {
        let f = topic::check(bad, t, Mode::Publish);
        assert_eq!(f.len(), 1, "{f:?}");
        let fix = f[0].fix.clone().unwrap_or_default();
        assert!(fix.contains("level 5 is the notification type"), "{fix}");
        assert!(fix.contains("level 6 the data policy"), "{fix}");
        assert!(fix.contains(ARGO), "{fix}");
    }
    let r = full().check_topic(bad, Mode::Publish);
    assert!(!r.is_valid());
    assert!(r.to_human().contains(ARGO));
}

#[test]
fn wildcards_only_when_subscribing() {
    for t in [
        "origin/a/wis2/+/data/core/#",
        "origin/a/wis2/fr-ifremer-argo/#",
        "#",
        "+/a/wis2/+/data/+/ocean/#",
        "origin/a/wis2/+/metadata",
    ] {
        assert!(
            topic::check(t, Some(tables()), Mode::Subscribe).is_empty(),
            "{t}: {:?}",
            topic::check(t, Some(tables()), Mode::Subscribe)
        );
        assert!(
            !topic::check(t, Some(tables()), Mode::Publish).is_empty(),
            "{t}"
        );
    }
    for t in [
        "origin/a/wis2/#/data",
        "origin/a/wis2/fr-*/data/core/ocean/#",
        "origin/a/wis2/fr+/data/core/#",
    ] {
        assert!(
            !topic::check(t, Some(tables()), Mode::Subscribe).is_empty(),
            "{t}"
        );
    }
    let f = topic::check(
        "origin/a/wis2/+/data/core/ocean/#",
        Some(tables()),
        Mode::Publish,
    );
    assert!(f.iter().any(|x| { fix(x).contains("subscriptions only") }));
}

#[test]
fn metadata_topic() {
    assert!(
        topic::check(
            "origin/a/wis2/fr-ifremer-argo/metadata",
            Some(tables()),
            Mode::Publish
        )
        .is_empty()
    );
    let f = topic::check(
        "origin/a/wis2/fr-ifremer-argo/metadata/core/ocean",
        Some(tables()),
        Mode::Publish,
    );
    assert_eq!(f.len(), 1);
    assert!(fix(&f[0]).contains("use origin/a/wis2/fr-ifremer-argo/metadata"));
    let f = topic::check(
        "origin/a/wis2/fr-ifremer-argo/core/metadata",
        Some(tables()),
        Mode::Publish,
    );
    assert!(fix(&f[0]).contains("origin/a/wis2/fr-ifremer-argo/metadata"));
}

#[test]
fn centre_id_against_the_registry() {
    let t = "origin/a/wis2/xx-nowhere/data/core/ocean/surface-based-observations/drifting-ocean-profilers";
    let f = topic::check(t, Some(tables()), Mode::Publish);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "level 4");
    assert!(f[0].message.contains("not in the WTH centre-id registry"));
    // Built-in rules cannot know the registry.
    assert!(topic::check(t, None, Mode::Publish).is_empty());
    // A similar id is suggested.
    let f = topic::check(
        &t.replace("xx-nowhere", "fr-ifremer"),
        Some(tables()),
        Mode::Publish,
    );
    assert!(fix(&f[0]).contains("fr-ifremer-argo"));
    // Retired centres are refused.
    let f = topic::check(
        &t.replace("xx-nowhere", "uk-metoffice-nmc"),
        Some(tables()),
        Mode::Publish,
    );
    assert!(f[0].message.contains("retired"));
    assert!(tables().centre_ids().any(|c| c == "fr-ifremer-argo"));
    // A test centre (ends with -test) is in no registry: its check is skipped, as
    // pywcmp does, and the report says so.
    let test_topic = t.replace("xx-nowhere", "fr-ifremer-argo-test");
    assert!(topic::check(&test_topic, Some(tables()), Mode::Publish).is_empty());
    let report = topic::check_report(&test_topic, Some(tables()), Mode::Publish);
    assert!(report.is_valid());
    let notes = &report.ets_report.warnings;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].message.contains("registry check was skipped"),
        "{notes:?}"
    );
    assert!(
        topic::notes(t, Some(tables())).is_empty(),
        "only test centres get the note"
    );
}

#[test]
fn topic_levels() {
    let cases: &[(&str, &str)] = &[
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean",
            "level 8 or deeper",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/argo",
            "not a WTH sub-level",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/oceans/surface-based-observations",
            "not a WTH earth-system discipline",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/public/ocean/surface-based-observations/drifting-ocean-profilers",
            "not a WTH data policy",
        ),
        (
            "origin/b/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers",
            "not a WTH version",
        ),
        (
            "origins/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers",
            "not a WTH channel",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/Drifting-Ocean-Profilers",
            "not lowercase",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting_ocean_profilers",
            "joins words",
        ),
        (
            "origin/a/wis2/fr.ifremer/data/core/ocean/surface-based-observations/drifting-ocean-profilers",
            "dot",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean//drifting-ocean-profilers",
            "empty level",
        ),
        (
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/",
            "empty level",
        ),
    ];
    for (t, want) in cases {
        let f = topic::check(t, Some(tables()), Mode::Publish);
        assert!(f.iter().any(|x| x.message.contains(want)), "{t}: {f:?}");
        assert!(f.iter().all(|x| x.fix.is_some()), "{t}: {f:?}");
    }
    // experimental takes any sub-levels.
    assert!(
        topic::check(
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/experimental/my/own/levels",
            Some(tables()),
            Mode::Publish
        )
        .is_empty()
    );
    assert!(topic::check("cache/a/wis2/fr-ifremer-argo/data/recommended/weather/surface-based-observations/synop", Some(tables()), Mode::Publish).is_empty());
    // Sub-level fix lists the allowed children.
    let f = topic::check(cases[1].0, Some(tables()), Mode::Publish);
    assert!(fix(&f[0]).contains("drifting-ocean-profilers"));
}

#[test]
fn tables_error_names_the_path_and_fix() {
    let err = TopicTables::load_dir(std::path::Path::new("/nonexistent/wth")).expect_err("no dir");
    let s = err.to_string();
    assert!(
        s.contains("/nonexistent/wth/channel.csv") && s.contains("topic sync"),
        "{s}"
    );
    let err = Validator::new(&ValidatorOptions {
        schema: Some("/nonexistent/wnm.json".into()),
        ..ValidatorOptions::default()
    })
    .expect_err("no schema");
    let s = err.to_string();
    assert!(
        s.contains("/nonexistent/wnm.json") && s.contains("schema sync"),
        "{s}"
    );
}

/// What a finding's text must be.
enum Text {
    Is(&'static str),
    StartsWith(&'static str),
    Any,
}

impl Text {
    fn check(&self, what: &str, actual: &str) {
        match self {
            Text::Is(t) => assert_eq!(actual, *t, "{what}"),
            Text::StartsWith(t) => assert!(actual.starts_with(t), "{what}: {actual}"),
            Text::Any => {}
        }
    }
}

/// The message and fix of the finding at `path` (not the schema's).
fn finding(r: &Report, path: &str) -> (String, String) {
    let f = r
        .ets_report
        .tests
        .iter()
        .filter(|t| t.id != ids::VALIDATION)
        .flat_map(|t| t.errors.iter())
        .chain(r.ets_report.warnings.iter())
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no finding at {path}:\n{}", r.to_human()));
    (f.message.clone(), f.fix.clone().unwrap_or_default())
}

/// The findings whose texts and paths are built only on failure keep their exact
/// paths, messages and fixes.
#[test]
fn failure_texts_and_paths_are_exact() {
    use Text::{Any, Is, StartsWith};
    let cases: [(Edit, &str, Text, Text); 8] = [
        // Three canonical links: reported at the second one.
        (
            |m| {
                for _ in 0..2 {
                    links(m)
                        .push(json!({"href": "https://data.example.org/x.nc", "rel": "canonical"}));
                }
            },
            "/links/1",
            Is("3 links with rel canonical (exactly one is allowed)"),
            StartsWith("keep one canonical link"),
        ),
        // canonical + update + deletion: all named, in order.
        (
            |m| {
                for rel in ["update", "deletion"] {
                    links(m).push(json!({"href": "https://data.example.org/x.nc", "rel": rel}));
                }
            },
            "/links",
            Is(
                "rel canonical and update and deletion are combined in one message (never together)",
            ),
            Any,
        ),
        // Polygon: the position path, and the ring path of an open ring.
        (
            |m| m["geometry"] = poly(json!([[0, 0], [1, 0], [1, 95], [0, 0]])),
            "/geometry/coordinates/0/2",
            Is("latitude 95 is outside -90..90"),
            Any,
        ),
        (
            |m| m["geometry"] = poly(json!([[0, 0], [1, 0], [1, 1], [0, 1]])),
            "/geometry/coordinates/0",
            StartsWith("ring is not closed"),
            Is("repeat the first position at the end of the ring"),
        ),
        (
            |m| m["geometry"]["coordinates"] = json!([22.86]),
            "/geometry/coordinates",
            Is("has 1 values"),
            Any,
        ),
        // conformsTo and metadata_id fixes.
        (
            |m| m["conformsTo"] = json!(["x"]),
            "/conformsTo",
            Any,
            Is("declare \"conformsTo\": [\"http://wis.wmo.int/spec/wnm/1/conf/core\"]"),
        ),
        (
            |m| {
                remove(m, "conformsTo");
                m["version"] = json!("v03");
            },
            "/version",
            Any,
            Is(
                "declare \"conformsTo\": [\"http://wis.wmo.int/spec/wnm/1/conf/core\"] instead of version",
            ),
        ),
        (
            |m| props(m)["metadata_id"] = json!("urn:wmo:md:fr-ifremer-argo:"),
            "/properties/metadata_id",
            Is("has an empty local id"),
            Is("use the WCMP2 record id, urn:wmo:md:fr-ifremer-argo:<local-id>"),
        ),
    ];
    for (edit, path, message, fix) in cases {
        let mut m = base();
        edit(&mut m);
        let r = builtin().check_value(&m, Some(ARGO));
        let (msg, fx) = finding(&r, path);
        message.check(path, &msg);
        fix.check(path, &fx);
    }

    // Wrong size and wrong digest together: both warnings (the digest is still
    // computed when the size disagrees).
    let mut m = base();
    props(&mut m)["content"] =
        json!({"encoding": "base64", "size": 5, "value": "aGVsbG8gd29ybGQh"});
    let r = full().check_value(&m, None);
    assert!(r.is_valid(), "{}", r.to_human());
    let (msg, fix) = finding(&r, "/properties/content/size");
    assert_eq!(msg, "size is 5 but the decoded content is 12 bytes");
    assert_eq!(fix, "set \"size\": 12");
    let (msg, _) = finding(&r, "/properties/integrity/value");
    assert_eq!(
        msg,
        "the sha512 digest of the inline content differs from integrity.value"
    );

    // sha3-512 of the inline content, correct: no warning; gzip size from the trailer.
    let mut m = base();
    props(&mut m)["integrity"] = json!({
        "method": "sha3-512",
        "value": "hAAGZT6ayelRF6FckVyquBZikY6SXengBPd0/4LXB5pA1NJ7GzcmV8YdRtRwMEyIx4izpFJ60HTR3MvuXbqpmg=="
    });
    let r = full().check_value(&m, None);
    assert!(r.ets_report.warnings.is_empty(), "{}", r.to_human());
    let mut m = base();
    props(&mut m).remove("integrity");
    // gzip of "hello world" (11 bytes).
    props(&mut m)["content"] = json!({
        "encoding": "gzip",
        "size": 12,
        "value": "H4sIAAAAAAACA8tIzcnJVyjPL8pJAQCFEUoNCwAAAA=="
    });
    let r = full().check_value(&m, None);
    let (msg, _) = finding(&r, "/properties/content/size");
    assert_eq!(msg, "size is 12 but the decoded content is 11 bytes");
}

/// The WTH as the repository keeps it (`wth-tree/`): one `index.csv` per node with
/// a `Status` column, and the satellites' `index-flat.csv`.
fn tree_tables() -> &'static TopicTables {
    static T: OnceLock<TopicTables> = OnceLock::new();
    T.get_or_init(|| TopicTables::load_dir(&shared("standards/wth-tree")).expect("tree loads"))
}

#[test]
fn the_repository_layout_of_the_wth_gives_the_bundle_s_topics() {
    // Every path of the official bundle is in the tree.
    let text = std::fs::read_to_string(shared("standards/wth/earth-system-discipline.csv"))
        .expect("bundle");
    let bundle: BTreeSet<String> = text
        .lines()
        .skip(1)
        .map(|l| l.trim().trim_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let tree = tree_tables();
    let missing: Vec<&String> = bundle.iter().filter(|p| !tree.has_path(p)).collect();
    assert!(missing.is_empty(), "not in the tree: {missing:?}");
    let disciplines: BTreeSet<&str> = tree.disciplines().collect();
    assert_eq!(
        disciplines,
        tables().disciplines().collect::<BTreeSet<_>>(),
        "the same disciplines"
    );
    // The folder itself or its topic-hierarchy/ folder.
    let inner = TopicTables::load_dir(&shared("standards/wth-tree/topic-hierarchy"))
        .expect("inner folder loads");
    assert!(inner.has_path("ocean/surface-based-observations/drifting-ocean-profilers"));
    // The bundle has no status; the tree has.
    assert_eq!(
        tables().path_status("hydrology/surface-based-observations"),
        None
    );
    assert_eq!(
        tree.path_status("hydrology/surface-based-observations"),
        Some("Experimental")
    );
    assert_eq!(
        tree.path_status("weather/space-based-observations/co2m-a/map"),
        Some("Planned")
    );
}

#[test]
fn the_wth_status_of_a_topic_decides_whether_it_is_published() {
    let tree = Some(tree_tables());
    let base = "origin/a/wis2/fr-ifremer-argo/data/core";
    // Operational: nothing to say.
    let argo = format!("{base}/ocean/surface-based-observations/drifting-ocean-profilers");
    assert!(topic::check(&argo, tree, Mode::Publish).is_empty());
    assert!(topic::notes(&argo, tree).is_empty());
    // Experimental: valid, with a warning naming the experimental level.
    let hydro = format!("{base}/hydrology/surface-based-observations/water-quantity");
    assert!(topic::check(&hydro, tree, Mode::Publish).is_empty());
    let notes = topic::notes(&hydro, tree);
    assert!(
        notes.iter().any(|n| n.message.contains(
            "`hydrology/surface-based-observations` is experimental in the WIS2 Topic Hierarchy"
        )),
        "{notes:?}"
    );
    // Planned: fails, saying why and what to do.
    let planned = format!("{base}/weather/space-based-observations/co2m-a/map");
    let f = topic::check(&planned, tree, Mode::Publish);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("planned"), "{}", f[0]);
    assert!(
        f[0].fix.as_deref().unwrap_or("").contains("Operational"),
        "{}",
        f[0]
    );
    // Subscribing to it is allowed (it will carry data one day).
    assert!(topic::check(&planned, tree, Mode::Subscribe).is_empty());
    // With the old bundle (no status), the same topic is only checked as a path.
    assert!(topic::check(&planned, Some(tables()), Mode::Publish).is_empty());

    // Retired: a copy of the tree where the Argo topic is retired.
    let dir = tempfile::tempdir().expect("dir");
    copy_dir(&shared("standards/wth-tree"), dir.path());
    let index = dir
        .path()
        .join("topic-hierarchy/earth-system-discipline/ocean/surface-based-observations/index.csv");
    let text = std::fs::read_to_string(&index).expect("index");
    let retired: String = text
        .lines()
        .map(|l| {
            if l.starts_with("drifting-ocean-profilers,") {
                format!("{},Retired", l.rsplit_once(',').map_or(l, |(a, _)| a))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(retired, text, "the Argo row is in {}", index.display());
    std::fs::write(&index, retired).expect("write");
    let t = TopicTables::load_dir(dir.path()).expect("copy loads");
    let f = topic::check(&argo, Some(&t), Mode::Publish);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("is retired"), "{}", f[0]);
    assert!(
        f[0].message
            .contains("ocean/surface-based-observations/drifting-ocean-profilers")
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}
