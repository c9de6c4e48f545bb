//! wis2-watch's command line, run as a user runs it (the binary cargo built), with the
//! exit codes of the one policy for the four binaries (`wis2_bus::cli`).

#[path = "../../wis2-tests/src/cli.rs"]
#[allow(dead_code)]
mod cli;

const WIS2_WATCH: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-watch"));

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    WIS2_WATCH.assert_help(&["run", "emit"]);
    WIS2_WATCH.assert_error(&["run", "--settle-ms", "soon"], &["'soon'", "--settle-ms"]);
    // No subcommand: the help, on stderr.
    WIS2_WATCH.assert_error(&[], &["\n  emit "]);
}

#[test]
fn a_missing_data_directory_is_named_with_its_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("missing");
    let file = missing.join("R6903247_274.nc");
    let missing = missing.to_str().expect("utf-8 path");
    let file = file.to_str().expect("utf-8 path");
    WIS2_WATCH.assert_error(
        &["emit", "--data-dir", missing, file],
        &[missing, "WIS2_DATA_DIR"],
    );
}
