//! wis2-validate's command line, run as a user runs it (the binary cargo built).
//! Exit codes: 0 valid, 1 invalid (the report says why), 2 a usage error or an
//! unreadable input.

#[path = "../../wis2-tests/src/cli.rs"]
mod cli;

const WIS2_VALIDATE: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-validate"));
const WTH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/standards/wth");

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    WIS2_VALIDATE.assert_help(&["run", "message", "topic", "schema", "verify", "metadata"]);
    WIS2_VALIDATE.assert_error(&["message", "--bogus", "m.json"], &["'--bogus'"]);
}

#[test]
fn a_missing_file_is_an_input_error_naming_it() {
    WIS2_VALIDATE.assert_cannot_read("message");
}

#[test]
fn a_valid_topic_exits_0_and_an_invalid_one_1_with_the_fix() {
    let topic = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";
    let (code, text, _) = WIS2_VALIDATE.run(&["topic", "--wth-dir", WTH, topic]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("valid"), "{text}");

    let (code, text, _) = WIS2_VALIDATE.run(&["topic", "--wth-dir", WTH, "origin/a/wis2/xx"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("INVALID") && text.contains("too few") && text.contains("fix:"),
        "{text}"
    );
}

#[test]
fn the_infcom4_draft_profile_requires_metadata_id_and_a_base64_integrity() {
    const DRAFT_SCHEMA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/standards/wnm-infcom4-draft/schemas/wis2-notification-message-bundled.json"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = dir.path().join("m.json");
    // Valid WNM 1.3.0: no metadata_id, a hex digest (a warning of 1.3.0).
    let text = r#"{"id": "6f2d0c58-3c1e-4b4e-9f57-0e4c3f1d2a10",
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature", "geometry": null,
        "properties": {"data_id": "argo/R6903247_274.nc", "pubtime": "2024-05-01T12:00:00Z",
          "datetime": "2022-04-18T09:48:00Z",
          "integrity": {"method": "sha256", "value": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"}},
        "links": [{"href": "https://data.example.org/argo/R6903247_274.nc", "rel": "canonical"}]}"#;
    std::fs::write(&msg, text).expect("write");
    let m = msg.to_str().expect("utf-8 path");
    let (code, out, _) = WIS2_VALIDATE.run(&["message", m]);
    assert_eq!(code, Some(0), "valid under 1.3.0: {out}");

    let draft = [
        "message",
        "--profile",
        "infcom4-draft",
        "--schema",
        DRAFT_SCHEMA,
        m,
    ];
    let (code, out, _) = WIS2_VALIDATE.run(&draft);
    assert_eq!(code, Some(1), "invalid under the draft: {out}");
    for says in [
        "/conf/core/metadata_id",
        "/conf/core/integrity",
        "hex sha256 digest",
        "required from WNM 1.4.0",
    ] {
        assert!(out.contains(says), "`{says}` in:\n{out}");
    }
    WIS2_VALIDATE.assert_error(
        &["message", "--profile", "1.4", m],
        &["`1.4` is not a WNM profile", "infcom4-draft"],
    );
}
