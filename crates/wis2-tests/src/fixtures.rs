//! Where things are: the repository, the reference material in `../shared` (read in
//! place, never copied into the repository), and the WIS2 topic of the test centre.

use std::path::{Path, PathBuf};

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

/// Copies a file atomically into `dir` (temporary name, then rename), as a data
/// centre's producer would.
pub fn drop_file(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::copy(src, &tmp).expect("copy");
    let dst = dir.join(name);
    std::fs::rename(&tmp, &dst).expect("rename");
    dst
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
