//! wis2-watch's command line, run as a user runs it (the binary cargo built).
//! Exit codes, one policy for the four binaries (`wis2_bus::cli`): 0 done, 1 done but
//! some inputs failed their checks or were refused, 2 not done (usage, settings, an
//! unreadable input, no broker), said on stderr.

use std::process::{Command, Output};

fn wis2_watch(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_wis2-watch");
    Command::new(bin)
        .args(args)
        .output()
        .expect("run wis2-watch")
}

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    let help = wis2_watch(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("\n  run ") && help.contains("\n  emit "),
        "{help}"
    );

    let out = wis2_watch(&["run", "--settle-ms", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'soon'") && err.contains("--settle-ms"),
        "{err}"
    );
    let out = wis2_watch(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--bogus'"));
    // No subcommand: the help, on stderr.
    let out = wis2_watch(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\n  emit "));
}

#[test]
fn a_missing_data_directory_is_named_with_its_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("missing");
    let file = missing.join("R6903247_274.nc");
    let out = wis2_watch(&[
        "emit",
        "--data-dir",
        missing.to_str().expect("utf-8 path"),
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("WIS2_DATA_DIR"),
        "{err}"
    );
}
