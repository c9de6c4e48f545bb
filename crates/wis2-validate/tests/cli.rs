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
