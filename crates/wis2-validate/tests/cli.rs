//! wis2-validate's command line, run as a user runs it (the binary cargo built).
//! Exit codes: 0 valid, 1 invalid (the report says why), 2 a usage error or an
//! unreadable input.

use std::process::{Command, Output};

const WTH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/standards/wth");

fn wis2_validate(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_wis2-validate");
    Command::new(bin)
        .args(args)
        .output()
        .expect("run wis2-validate")
}

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    let help = wis2_validate(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "message", "topic", "schema", "verify", "metadata"] {
        assert!(help.contains(&format!("\n  {command} ")), "{help}");
    }
    let out = wis2_validate(&["message", "--bogus", "m.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--bogus'"));
}

#[test]
fn a_missing_file_is_an_input_error_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("missing.json");
    let out = wis2_validate(&["message", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read") && err.contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_valid_topic_exits_0_and_an_invalid_one_1_with_the_fix() {
    let topic = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";
    let out = wis2_validate(&["topic", "--wth-dir", WTH, topic]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("valid"), "{text}");

    let out = wis2_validate(&["topic", "--wth-dir", WTH, "origin/a/wis2/xx"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INVALID") && text.contains("too few") && text.contains("fix:"),
        "{text}"
    );
}
