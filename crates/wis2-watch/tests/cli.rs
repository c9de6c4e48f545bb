//! wis2-watch's command line, run as a user runs it (the binary cargo built), with the
//! exit codes of the one policy for the four binaries (`wis2_bus::cli`).

#[path = "../../wis2-tests/src/cli.rs"]
#[allow(dead_code)]
mod cli;

const WIS2_WATCH: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-watch"));

#[test]
fn help_lists_the_subcommands_and_a_wrong_flag_is_a_usage_error() {
    WIS2_WATCH.assert_help(&["run", "emit", "baseline"]);
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

#[test]
fn a_wrong_announce_existing_names_the_setting_and_its_forms() {
    for bad in ["some", "7x", "0s"] {
        WIS2_WATCH.assert_error(
            &["run", "--announce-existing", bad],
            &[
                "WIS2_ANNOUNCE_EXISTING",
                bad,
                "`none`",
                "`all`",
                "`24h`",
                "`7d`",
            ],
        );
    }
}

#[test]
fn baseline_records_a_tree_as_known_and_says_how_many() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let argo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/argo");
    for (dir, name) in [("a", "R6903247_274.nc"), ("b", "D1900857_000D.nc")] {
        std::fs::create_dir_all(data.join(dir)).expect("mkdir");
        std::fs::copy(argo.join(name), data.join(dir).join(name)).expect("copy");
    }
    std::fs::create_dir_all(data.join("metadata")).expect("mkdir");
    std::fs::write(data.join("metadata/r.json"), br#"{"id":"urn:x"}"#).expect("write");
    let state = tmp.path().join("state");
    let args = [
        "baseline",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--state-dir",
        state.to_str().expect("utf-8"),
    ];
    let (code, out, err) = WIS2_WATCH.run(&args);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("2 files of "), "{out}");
    assert!(
        out.contains("(0 known already); 1 left to announce"),
        "{out}"
    );
    assert!(state.join("announced.redb").is_file());
    // Again: nothing new.
    let (code, out, err) = WIS2_WATCH.run(&args);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("0 files of ") && out.contains("(2 known already)"),
        "{out}"
    );
}
