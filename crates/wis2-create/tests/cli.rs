//! wis2-create's command line, run as a user runs it (the binary cargo built), with the
//! exit codes of the one policy for the four binaries (`wis2_bus::cli`).

#[path = "../../wis2-tests/src/cli.rs"]
#[allow(dead_code)]
mod cli;

const WIS2_CREATE: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-create"));

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    WIS2_CREATE.assert_help(&["run", "message", "event"]);
    // The integrity methods are a closed list, named when another is asked for.
    WIS2_CREATE.assert_error(
        &["message", "--integrity", "md5", "x.nc"],
        &["md5", "sha3-512"],
    );
}

#[test]
fn a_missing_file_is_named_with_its_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let file = tmp.path().join("R0000000_000.nc");
    let file = file.to_str().expect("utf-8 path");
    // No message (nothing on stdout) for a missing file.
    WIS2_CREATE.assert_error(
        &["message", "--data-dir", dir, file],
        &[file, "check that the file exists"],
    );
}
