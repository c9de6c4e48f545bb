//! `wis2-validate schema sync` for each WNM edition, from a real web server serving the
//! standards as their repositories publish them, then `message --profile` checking
//! against the cached schema of its edition.

use std::process::Command;

use wis2_tests::fixtures::shared;
use wis2_tests::process::binary;
use wis2_tests::web::Web;

fn validate(args: &[&str], cache: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(binary("wis2-validate"))
        .args(args)
        .env("WIS2_CACHE_DIR", cache)
        .env_remove("WIS2_WNM_PROFILE")
        .env_remove("WIS2_WNM_SCHEMA")
        .output()
        .expect("run wis2-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn schema_sync_keeps_one_schema_per_edition_and_message_uses_its_editions() {
    let web = Web::serving(&shared().join("standards"));
    let cache = tempfile::tempdir().expect("cache dir");
    let c = cache.path();
    let url13 = web.url("/wnm/wis2-notification-message-bundled.json");
    let draft = web.url("/wnm-infcom4-draft/schemas/wis2-notification-message-bundled.json");

    let (code, out) = validate(&["schema", "sync", "--url", &url13], c);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1.3.0 schema synced"), "{out}");
    let (code, out) = validate(
        &[
            "schema",
            "sync",
            "--profile",
            "infcom4-draft",
            "--url",
            &draft,
        ],
        c,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("infcom4-draft schema synced"), "{out}");
    assert!(c.join("wis2-notification-message-bundled.json").is_file());
    assert!(
        c.join("wis2-notification-message-infcom4-draft.json")
            .is_file()
    );

    // A message without metadata_id: valid against the cached 1.3.0 schema; under the
    // draft, its cached schema (`validation`) and its rule (`metadata_id`) both fail.
    let msg = cache.path().join("m.json");
    std::fs::write(
        &msg,
        r#"{"id": "6f2d0c58-3c1e-4b4e-9f57-0e4c3f1d2a10",
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature", "geometry": null,
        "properties": {"data_id": "argo/R6903247_274.nc", "pubtime": "2024-05-01T12:00:00Z",
          "datetime": "2022-04-18T09:48:00Z",
          "integrity": {"method": "sha512", "value": "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw=="}},
        "links": [{"href": "https://data.example.org/argo/R6903247_274.nc", "rel": "canonical"}]}"#,
    )
    .expect("write");
    let m = msg.to_str().expect("utf-8 path");
    let (code, out) = validate(&["message", "--json", m], c);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            r#"{"id":"http://wis.wmo.int/spec/wnm/1/conf/core/validation","code":"PASSED"}"#
        ),
        "the cached schema is used (validation not skipped): {out}"
    );
    let (code, out) = validate(&["message", "--profile", "infcom4-draft", m], c);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAILED http://wis.wmo.int/spec/wnm/1/conf/core/validation")
            && out.contains("FAILED http://wis.wmo.int/spec/wnm/1/conf/core/metadata_id"),
        "the draft's cached schema and its rule: {out}"
    );
}
