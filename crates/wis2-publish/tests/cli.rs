//! wis2-publish's command line, run as a user runs it (the binary cargo built), on
//! what it checks before it connects to a broker.
//! Exit codes, one policy for the four binaries (`wis2_bus::cli`): 0 done, 1 done but
//! some inputs failed their checks or were refused, 2 not done (usage, settings, an
//! unreadable input, no broker), said on stderr.

use std::process::{Command, Output};

fn wis2_publish(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_wis2-publish");
    Command::new(bin)
        .args(args)
        .output()
        .expect("run wis2-publish")
}

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    let help = wis2_publish(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "message", "replay"] {
        assert!(help.contains(&format!("\n  {command} ")), "{help}");
    }
    // replay needs the folder.
    let out = wis2_publish(&["replay", "--dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--dir <DIR>'"));
}

#[test]
fn a_missing_message_file_or_dead_letter_folder_is_named() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("missing.json");
    let out = wis2_publish(&["message", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read") && err.contains(&file.display().to_string()),
        "{err}"
    );

    let dir = tmp.path().join("deadletters");
    let out = wis2_publish(&["replay", "--dir", dir.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("--dir or WIS2_DEADLETTER_DIR"),
        "{err}"
    );
}
