//! wis2-create's command line, run as a user runs it (the binary cargo built).
//! Exit codes, one policy for the four binaries (`wis2_bus::cli`): 0 done, 1 done but
//! some inputs failed their checks or were refused, 2 not done (usage, settings, an
//! unreadable input, no broker), said on stderr.

use std::process::{Command, Output};

fn wis2_create(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_wis2-create");
    Command::new(bin)
        .args(args)
        .output()
        .expect("run wis2-create")
}

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    let help = wis2_create(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "message", "event"] {
        assert!(help.contains(&format!("\n  {command} ")), "{help}");
    }
    // The integrity methods are a closed list, named when another is asked for.
    let out = wis2_create(&["message", "--integrity", "md5", "x.nc"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("md5") && err.contains("sha3-512"), "{err}");
    let out = wis2_create(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--bogus'"));
}

#[test]
fn a_missing_file_is_named_with_its_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let file = tmp.path().join("R0000000_000.nc");
    let out = wis2_create(&[
        "message",
        "--data-dir",
        dir,
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no message for a missing file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&file.display().to_string()) && err.contains("check that the file exists"),
        "{err}"
    );
}
