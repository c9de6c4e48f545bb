//! wis2-console's command line, run as a user runs it (the binary cargo built): what
//! it checks before it connects to a broker, with the exit codes of the one policy
//! for the binaries (`wis2_bus::cli`).

// The console has no one-shot command reading a file: `assert_cannot_read` is unused.
#[allow(dead_code)]
#[path = "../../wis2-tests/src/cli.rs"]
mod cli;

const WIS2_CONSOLE: cli::Binary = cli::Binary(env!("CARGO_BIN_EXE_wis2-console"));

fn run(state: &std::path::Path) -> Vec<String> {
    vec![
        "run".to_string(),
        "--centre-id".into(),
        "fr-ifremer-argo".into(),
        "--state-dir".into(),
        state.display().to_string(),
    ]
}

#[test]
fn help_lists_run_and_a_wrong_flag_is_a_usage_error() {
    WIS2_CONSOLE.assert_help(&["run"]);
}

#[test]
fn a_history_that_cannot_be_opened_is_a_clear_error_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The state folder is a file.
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, b"x").expect("write");
    let args = run(&file);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    WIS2_CONSOLE.assert_error(
        &args,
        &[
            "cannot open the console's history",
            &file.display().to_string(),
        ],
    );

    // A journal of deliveries that is something else.
    let dir = tmp.path().join("state");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::write(dir.join("console.wal"), b"some other file").expect("write");
    let args = run(&dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    WIS2_CONSOLE.assert_error(
        &args,
        &["console.wal", "not a console journal", "move it away"],
    );
}
