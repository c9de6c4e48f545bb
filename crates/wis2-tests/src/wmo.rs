//! The WMO's own Python tools (pywis-pubsub, pywcmp, pywis-topics, wis2downloader),
//! from the virtual environment `scripts/test.sh` makes (its path in `WIS2_WMO_VENV`),
//! run offline: each gets a home folder of its own whose caches (what their `bundle
//! sync` and `schema sync` would download) point into `../shared/standards`, and a
//! proxy that refuses every connection but loopback, so that nothing is fetched from
//! the network and nothing is written in the user's home.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::shared;

/// The environment variable that names the virtual environment.
pub const VENV: &str = "WIS2_WMO_VENV";

/// The tools' virtual environment and a home folder with their caches filled.
pub struct Wmo {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Wmo {
    /// The tools of `$WIS2_WMO_VENV`, with a fresh home; panics, saying how to make
    /// the environment, when it is not there.
    pub fn offline() -> Wmo {
        let venv = std::env::var_os(VENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "{VENV} is not set: the WMO's tools come from the virtual environment that \
                 scripts/test.sh makes (target/wmo-venv, with the versions of \
                 scripts/wmo-requirements.txt); run scripts/test.sh, or make it as it does \
                 and set {VENV} to its path"
                )
            });
        let bin = venv.join("bin");
        for tool in ["pywis-pubsub", "pywcmp", "pywis-topics", "wis2downloader"] {
            assert!(
                bin.join(tool).is_file(),
                "{VENV}={}: no {tool} in it; run scripts/test.sh, which installs \
                 scripts/wmo-requirements.txt there",
                venv.display()
            );
        }
        let home = tempfile::tempdir().expect("temp dir");
        fill_caches(home.path());
        Wmo { bin, home }
    }

    /// The home folder the tools run with.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `tool` of the environment, with the tools' home and no network but loopback.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.env("HOME", self.home.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(self.home.path());
        // Port 9 (discard) on loopback: nothing listens, so any download from the
        // network fails at once instead of reaching it.
        for var in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            cmd.env(var, "http://127.0.0.1:9");
        }
        for var in ["no_proxy", "NO_PROXY"] {
            cmd.env(var, "127.0.0.1,localhost");
        }
        cmd
    }

    /// Runs `tool args` to its end.
    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool} did not start: {e}"))
    }

    /// Starts `tool args` in the background, its stdout and stderr in one log file.
    pub fn spawn(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let log = self.home.path().join(format!("{tool}.log"));
        let out = File::create(&log).expect("log file");
        let mut cmd = self.command(tool);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} did not start: {e}"));
        Running {
            name: tool.to_string(),
            child,
            log,
        }
    }
}

/// A tool running in the background; killed on drop.
pub struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Running {
    /// What it wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its log says `line` (its own word that it is ready: a subscription
    /// acknowledged, say); panics with the log if it exits or `timeout` passes first.
    pub fn wait_for(&mut self, line: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.log().contains(line) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            assert!(
                start.elapsed() < timeout,
                "{} did not say {line:?} within {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tools' caches in `home`, each a link into `../shared/standards`:
/// - pywcmp (`~/.pywcmp`): `wcmp-2/wcmp2-bundled.json`, `wcmp-2/codelists/`,
///   `wcmp-2/link-relations-1.csv` (IANA's) and `wis2-topic-hierarchy/` (the WTH
///   bundle's CSVs), as its `bundle sync` lays them out;
/// - pywis-topics (`~/.pywis-topics`): `wis2-topic-hierarchy/`;
/// - pywis-pubsub (`~/.pywis-pubsub`): the WNM schema, as its `schema sync` puts it.
fn fill_caches(home: &Path) {
    let standards = std::fs::canonicalize(shared().join("standards"))
        .expect("../shared/standards next to the repository");
    let links = [
        (
            ".pywcmp/wcmp-2/wcmp2-bundled.json",
            "wcmp2/wcmp2-bundled.json",
        ),
        (".pywcmp/wcmp-2/codelists", "wcmp2/codelists"),
        (
            ".pywcmp/wcmp-2/link-relations-1.csv",
            "iana/link-relations-1.csv",
        ),
        (".pywcmp/wis2-topic-hierarchy", "wth"),
        (".pywis-topics/wis2-topic-hierarchy", "wth"),
        (
            ".pywis-pubsub/wis2-notification-message/wis2-notification-message-bundled.json",
            "wnm/wis2-notification-message-bundled.json",
        ),
    ];
    for (at, target) in links {
        let at = home.join(at);
        let target = standards.join(target);
        assert!(target.exists(), "{} is missing", target.display());
        std::fs::create_dir_all(at.parent().expect("a parent")).expect("cache folder");
        std::os::unix::fs::symlink(&target, &at).expect("link into ../shared/standards");
    }
}
