//! A binary of the chain run as a user runs it, for the tests of its command line and
//! its exit codes (one policy for the four binaries, `wis2_bus::cli`: 0 done, 1 done
//! but some inputs refused, 2 not done, said on stderr).
//!
//! Each service crate's `tests/cli.rs` includes this file by path (`#[path]`): those
//! crates cannot depend on the kit, which depends on them (and not every one of them
//! uses every check).

use std::process::Command;

/// A binary of the chain, by path (`env!("CARGO_BIN_EXE_<name>")` in its crate's tests).
pub struct Binary(pub &'static str);

impl Binary {
    /// Runs it with `args`: its exit code, stdout and stderr.
    pub fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(self.0).args(args).output().expect(self.0);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    /// Asserts that `--help` lists every one of `subcommands` (exit code 0, on stdout)
    /// and that an unknown flag is a usage error.
    pub fn assert_help(&self, subcommands: &[&str]) {
        let (code, help, _) = self.run(&["--help"]);
        assert_eq!(code, Some(0), "{help}");
        for command in subcommands {
            assert!(help.contains(&format!("\n  {command} ")), "{help}");
        }
        self.assert_error(&["--bogus"], &["'--bogus'"]);
    }

    /// Asserts that `args` are refused, not done (exit code 2): nothing on stdout, and
    /// on stderr every one of `says` (what is wrong, how to fix it).
    pub fn assert_error(&self, args: &[&str], says: &[&str]) {
        let (code, out, err) = self.run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        for s in says {
            assert!(err.contains(s), "{args:?}: `{s}` not in: {err}");
        }
    }

    /// Asserts that `<subcommand> <file>`, of a file that does not exist, is an input
    /// error (see [`Binary::assert_error`]) that says it cannot read the file, by its
    /// path.
    pub fn assert_cannot_read(&self, subcommand: &str) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let file = tmp.path().join("missing.json");
        let file = file.to_str().expect("utf-8 path");
        self.assert_error(&[subcommand, file], &["cannot read", file]);
    }
}
