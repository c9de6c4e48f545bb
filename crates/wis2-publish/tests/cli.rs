//! wis2-publish's command line, run as a user runs it (the binary cargo built), on
//! what it checks before it connects to a broker, with the exit codes of the one
//! policy for the four binaries (`wis2_bus::cli`).

#[path = "../../wis2-tests/src/cli.rs"]
mod cli;

const WIS2_PUBLISH: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-publish"));

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    WIS2_PUBLISH.assert_help(&["run", "message", "replay"]);
    // replay needs the folder.
    WIS2_PUBLISH.assert_error(&["replay", "--dir"], &["'--dir <DIR>'"]);
}

#[test]
fn a_missing_message_file_or_dead_letter_folder_is_named() {
    WIS2_PUBLISH.assert_cannot_read("message");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("deadletters");
    let dir = dir.to_str().expect("utf-8 path");
    WIS2_PUBLISH.assert_error(
        &["replay", "--dir", dir],
        &[dir, "--dir or WIS2_DEADLETTER_DIR"],
    );
}
