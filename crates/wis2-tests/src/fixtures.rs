//! Where things are: the repository, the reference material in `../shared` (read in
//! place, never copied into the repository), and the WIS2 topic of the test centre.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wis2_bus::topics::{DEADLETTER, REJECTED};

/// What the chain ends a file with, for an observer: its message on a WIS2 topic, its
/// rejection or its dead letter.
pub const OUTCOMES: [&str; 3] = ["origin/a/wis2/#", REJECTED, DEADLETTER];

/// The centre id the test broker's ACL is made for.
pub const CENTRE: &str = "fr-ifremer-argo";

/// The WIS2 topic the services publish the test centre's Argo data on.
pub const TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` next to the repository.
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

/// A real Argo file of `../shared/data/argo`.
pub fn argo(name: &str) -> PathBuf {
    shared().join("data/argo").join(name)
}

/// Writes `bytes` into `dir` atomically (a temporary name, then a rename), as a data
/// centre's producer would.
pub fn put(dir: &Path, name: impl AsRef<OsStr>, bytes: &[u8]) -> PathBuf {
    let name = name.as_ref();
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    let tmp = dir.join(tmp);
    std::fs::write(&tmp, bytes).expect("write");
    let dst = dir.join(name);
    std::fs::rename(&tmp, &dst).expect("rename");
    dst
}

/// Copies the file `src` atomically into `dir` as `name` (see [`put`]).
pub fn drop_file(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let bytes = std::fs::read(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    put(dir, name, &bytes)
}

/// `PATH` with the sbin folders appended: Debian installs mosquitto and nginx in
/// `/usr/sbin`, which is not on every user's `PATH`.
pub fn tool_path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    std::env::join_paths(dirs).expect("PATH without ':' in its folders")
}

/// The first `name` found on [`tool_path`], or a panic that says how to install it.
pub fn tool(name: &str, package: &str) -> PathBuf {
    std::env::split_paths(&tool_path())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found (looked on PATH and in the sbin folders): run scripts/test.sh, \
                 which installs it (Debian package {package})"
            )
        })
}

/// Runs `cmd` to its end; panics, saying what `what` is and what it wrote on stderr,
/// unless it started and succeeded.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
