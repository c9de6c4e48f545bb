//! The INFCOM-4 draft profile (WNM 1.4.0) against WNM 1.3.0: the same messages,
//! each difference of the draft failing exactly its test under the draft and not under
//! 1.3.0, with the draft's own schema and with the built-in rules.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use wis2::report::Report;
use wis2::validate::{Profile, Validator, ValidatorOptions, ids};

const ARGO: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/standards")
        .join(rel)
}

fn validator(profile: Profile, schema: Option<&str>) -> Validator {
    Validator::new(&ValidatorOptions {
        schema: schema.map(shared),
        wth_dir: Some(shared("wth")),
        profile,
    })
    .expect("schema and tables load")
}

/// WNM 1.3.0 with its schema.
fn wnm13() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        validator(
            Profile::Wnm13,
            Some("wnm/wis2-notification-message-bundled.json"),
        )
    })
}

/// The INFCOM-4 draft with the draft's schema.
fn draft() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        validator(
            Profile::Infcom4Draft,
            Some("wnm-infcom4-draft/schemas/wis2-notification-message-bundled.json"),
        )
    })
}

/// The INFCOM-4 draft, built-in rules only.
fn draft_builtin() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::builtin().with_profile(Profile::Infcom4Draft))
}

/// A message valid under both editions: metadata_id, base64 sha512 integrity, no
/// `version`, a data_id that starts with the record's local id.
fn base() -> Value {
    json!({
        "id": "6f2d0c58-3c1e-4b4e-9f57-0e4c3f1d2a10",
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [22.86, 36.537]},
        "properties": {
            "data_id": "core.ocean.argo/R6903247_274.nc",
            "metadata_id": "urn:wmo:md:fr-ifremer-argo:core.ocean.argo",
            "pubtime": "2024-05-01T12:00:00Z",
            "datetime": "2022-04-18T09:48:00Z",
            "integrity": {
                "method": "sha512",
                "value": "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw=="
            }
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

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn props(m: &mut Value) -> &mut serde_json::Map<String, Value> {
    m["properties"].as_object_mut().expect("properties")
}

#[test]
fn the_base_message_passes_both_editions_without_warnings() {
    for (name, v) in [("1.3.0", wnm13()), ("draft", draft())] {
        let r = v.check_value(&base(), Some(ARGO));
        assert!(r.is_valid(), "{name}: {}", r.to_human());
        assert!(r.ets_report.warnings.is_empty(), "{name}: {}", r.to_human());
    }
    let report = draft().check_value(&base(), Some(ARGO));
    let ids: Vec<&str> = report
        .ets_report
        .tests
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert!(
        ids.contains(&ids::INTEGRITY),
        "the draft reports integrity: {ids:?}"
    );
    let r13 = wnm13().check_value(&base(), Some(ARGO));
    assert!(
        r13.ets_report.tests.iter().all(|t| t.id != ids::INTEGRITY),
        "1.3.0 has no integrity test (a recommendation: warnings)"
    );
}

/// Each difference of the draft: the tests that fail under the draft with its schema
/// (`schema`), with the built-in rules (`builtin`: the schema's verdict is not
/// there), and under 1.3.0 (`wnm13`).
#[test]
fn each_difference_of_the_draft_fails_exactly_its_test() {
    type Edit = fn(&mut Value);
    /// What, the edit, failing under the draft with its schema, with the built-in
    /// rules, and under 1.3.0.
    type Case = (
        &'static str,
        Edit,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: [Case; 8] = [
        (
            "no metadata_id",
            |m| drop(props(m).remove("metadata_id")),
            &[ids::VALIDATION, ids::METADATA_ID],
            &[ids::METADATA_ID],
            &[],
        ),
        (
            "no integrity",
            |m| drop(props(m).remove("integrity")),
            &[ids::INTEGRITY],
            &[ids::INTEGRITY],
            &[],
        ),
        (
            "integrity method md5",
            |m| m["properties"]["integrity"]["method"] = json!("md5"),
            &[ids::VALIDATION, ids::INTEGRITY],
            &[ids::VALIDATION, ids::INTEGRITY],
            &[ids::VALIDATION],
        ),
        (
            "integrity value in hex",
            |m| {
                m["properties"]["integrity"]["value"] = json!(
                    "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da3425 5b45b0cfd830e81f605dcf7dc5542e93ae9cd76f".replace(' ', "")
                )
            },
            &[ids::INTEGRITY],
            &[ids::INTEGRITY],
            &[],
        ),
        (
            "integrity value base64 without its padding",
            |m| {
                let v = m["properties"]["integrity"]["value"]
                    .as_str()
                    .expect("value")
                    .trim_end_matches('=')
                    .to_string();
                m["properties"]["integrity"]["value"] = json!(v);
            },
            &[ids::INTEGRITY],
            &[ids::INTEGRITY],
            &[],
        ),
        (
            "integrity without value",
            |m| {
                drop(
                    m["properties"]["integrity"]
                        .as_object_mut()
                        .expect("o")
                        .remove("value"),
                )
            },
            &[ids::VALIDATION, ids::INTEGRITY],
            &[ids::VALIDATION, ids::INTEGRITY],
            &[ids::VALIDATION],
        ),
        (
            "version v04 instead of conformsTo",
            |m| {
                m.as_object_mut().expect("o").remove("conformsTo");
                m["version"] = json!("v04");
            },
            &[ids::VALIDATION, ids::CONFORMANCE],
            &[ids::CONFORMANCE],
            &[],
        ),
        (
            "version beside conformsTo",
            |m| m["version"] = json!("v04"),
            &[ids::CONFORMANCE],
            &[ids::VALIDATION, ids::CONFORMANCE],
            &[ids::VALIDATION, ids::CONFORMANCE],
        ),
    ];
    for (what, edit, schema, builtin, wnm13_fails) in cases {
        let mut m = base();
        edit(&mut m);
        let r = draft().check_value(&m, Some(ARGO));
        assert_eq!(
            failed(&r),
            set(schema),
            "{what} (draft, schema):\n{}",
            r.to_human()
        );
        let b = draft_builtin().check_value(&m, Some(ARGO));
        assert_eq!(
            failed(&b),
            set(builtin),
            "{what} (draft, built-in):\n{}",
            b.to_human()
        );
        let o = wnm13().check_value(&m, Some(ARGO));
        assert_eq!(
            failed(&o),
            set(wnm13_fails),
            "{what} (1.3.0):\n{}",
            o.to_human()
        );
        for t in r.ets_report.tests.iter().filter(|t| {
            t.id == ids::INTEGRITY || t.id == ids::METADATA_ID || t.id == ids::CONFORMANCE
        }) {
            for e in &t.errors {
                assert!(
                    e.fix.as_deref().is_some_and(|f| !f.is_empty()),
                    "{what}: a fix for {e:?}"
                );
            }
        }
    }
}

#[test]
fn a_data_id_not_starting_with_the_record_id_is_a_warning_of_the_draft_only() {
    let mut m = base();
    props(&mut m).insert(
        "data_id".into(),
        json!("wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/R6903247_274.nc"),
    );
    let r = draft().check_value(&m, Some(ARGO));
    assert!(r.is_valid(), "a recommendation: {}", r.to_human());
    let w: Vec<_> = r
        .ets_report
        .warnings
        .iter()
        .filter(|w| w.path == "/properties/data_id")
        .collect();
    assert_eq!(w.len(), 1, "{}", r.to_human());
    assert!(
        w[0].message.contains("core.ocean.argo") && w[0].message.contains("/rec/core/data_id"),
        "{:?}",
        w[0]
    );
    let o = wnm13().check_value(&m, Some(ARGO));
    assert!(o.ets_report.warnings.is_empty(), "{}", o.to_human());
    // The whole identifier as prefix is fine too.
    props(&mut m).insert(
        "data_id".into(),
        json!("urn:wmo:md:fr-ifremer-argo:core.ocean.argo/R6903247_274.nc"),
    );
    let r = draft().check_value(&m, Some(ARGO));
    assert!(r.ets_report.warnings.is_empty(), "{}", r.to_human());
}

#[test]
fn a_message_that_is_not_json_skips_the_drafts_integrity_test_too() {
    let r = draft().check_message(b"{not json", Some(ARGO));
    let t = r
        .ets_report
        .tests
        .iter()
        .find(|t| t.id == ids::INTEGRITY)
        .expect("integrity reported");
    assert_eq!(t.code, wis2::report::Code::Skipped, "{t:?}");
    assert_eq!(failed(&r), set(&[ids::VALIDATION]));
}

/// Every message of the standard's examples that is valid under 1.3.0 and carries a
/// metadata_id and an integrity is valid under the draft too, unless its integrity
/// value is not base64 (a warning of 1.3.0, a failure of the draft: the examples write a
/// hex digest, or an elided one); the same digest in base64 passes.
#[test]
fn the_1_3_0_examples_pass_the_draft_unless_their_digest_is_not_base64() {
    let dir = shared("wnm/examples");
    let (mut passed, mut hex) = (0, 0);
    for entry in std::fs::read_dir(&dir).expect("examples") {
        let p = entry.expect("entry").path();
        let text = std::fs::read(&p).expect("read");
        let v: Value = serde_json::from_slice(&text).expect("an example is JSON");
        let p13 = wnm13().check_value(&v, None);
        let props = &v["properties"];
        if !p13.is_valid()
            || props.get("metadata_id").is_none()
            || props.get("integrity").is_none()
            || v.get("version").is_some()
        {
            continue;
        }
        let r = draft().check_value(&v, None);
        if r.is_valid() {
            passed += 1;
            continue;
        }
        assert_eq!(
            failed(&r),
            set(&[ids::INTEGRITY]),
            "{}: {}",
            p.display(),
            r.to_human()
        );
        assert!(
            p13.ets_report
                .warnings
                .iter()
                .any(|w| w.path == "/properties/integrity/value"),
            "{}: 1.3.0 warns about the same value: {}",
            p.display(),
            p13.to_human()
        );
        hex += 1;
        // The same digest in base64 passes the draft.
        let value = props["integrity"]["value"].as_str().unwrap_or_default();
        if let Ok(raw) = hex::decode(value) {
            let mut fixed = v.clone();
            fixed["properties"]["integrity"]["value"] = json!(B64.encode(raw));
            let r = draft().check_value(&fixed, None);
            assert!(r.is_valid(), "{} in base64: {}", p.display(), r.to_human());
            passed += 1;
        }
    }
    assert!(
        passed > 0 && hex > 0,
        "{passed} passed, {hex} with a digest not in base64 in {}",
        dir.display()
    );
}
