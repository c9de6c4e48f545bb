//! The services' binaries as processes, so that a test can `kill -9` them, restart
//! them, and read their logs and threads.
//!
//! Cargo builds the binaries, never a test: `cargo test` at the workspace root builds
//! them with the tests (each service crate has an integration test of its command
//! line, which makes cargo build its binary first), next to the test executables.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::net::{free_port, wait_healthy};
use crate::service::ChainDirs;

/// The peak resident memory of process `pid` (VmHWM of /proc/<pid>/status), in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `target/<profile>`: where cargo put this test executable's binaries.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/<profile>/deps/it-<hash>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// The path of the service binary `name`; panics at once, saying how to build it,
/// when cargo has not built it.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace` (it builds the four service \
         binaries before any test runs), or `cargo build --bins` first",
        path.display()
    );
    path
}

/// A service running as its own process.
pub struct Proc {
    /// The binary's name (`wis2-watch`, ...).
    pub name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// The port of its `/healthz`, the same across restarts.
    pub health_port: u16,
}

impl Proc {
    /// Starts `<bin> run <args>` with a health endpoint on a free port, its output
    /// appended to `<log_dir>/<bin>.log`.
    pub fn start(bin: &str, args: Vec<String>, log_dir: &Path) -> Proc {
        let mut p = Proc {
            name: bin.to_string(),
            args,
            log: log_dir.join(format!("{bin}.log")),
            child: None,
            health_port: free_port(),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new(binary(&self.name))
            .arg("run")
            .args(&self.args)
            .args(["--health-addr", &format!("127.0.0.1:{}", self.health_port)])
            .env("RUST_LOG", "info")
            .env("WIS2_LOG_FORMAT", "human")
            .current_dir(self.log.parent().unwrap_or(Path::new(".")))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start service");
        self.child = Some(child);
    }

    /// Waits until `/healthz` answers 200.
    pub async fn wait_ready(&self) {
        assert!(
            wait_healthy(self.health_port, Duration::from_secs(30)).await,
            "{} not ready: {}",
            self.name,
            self.log()
        );
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (at most 15 s); returns how long it took.
    pub fn terminate(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            while start.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = c.try_wait() {
                    return start.elapsed();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        start.elapsed()
    }

    /// SIGKILL (when running), then the same command again.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// What the process wrote so far, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id while it runs (for /proc/<pid>/status, /proc/<pid>/fd).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its peak resident memory so far, in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        peak_rss_kb(self.pid().expect("the service runs")).expect("/proc/<pid>/status")
    }

    /// Name and CPU scheduling policy of each of its threads (field 41 of
    /// /proc/<pid>/task/<tid>/stat: 0 SCHED_OTHER, 3 SCHED_BATCH).
    pub fn thread_policies(&self) -> Vec<(String, u32)> {
        let pid = self.pid().expect("the service runs");
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/<pid>/task");
        let mut out = Vec::new();
        for t in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                continue; // the thread ended meanwhile
            };
            let (head, rest) = stat.rsplit_once(')').expect("stat: (comm)");
            let name = head.split_once('(').map_or("", |(_, n)| n).to_string();
            // Fields after the name start at field 3.
            let policy = rest
                .split_whitespace()
                .nth(41 - 3)
                .and_then(|f| f.parse().ok())
                .expect("stat: policy field");
            out.push((name, policy));
        }
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The four services as processes.
pub struct ProcChain {
    /// wis2-publish.
    pub publish: Proc,
    /// wis2-validate.
    pub validate: Proc,
    /// wis2-create.
    pub create: Proc,
    /// wis2-watch.
    pub watch: Proc,
}

impl ProcChain {
    /// Starts the four, downstream first and each ready before the next, wis2-watch with
    /// `watch_extra` flags; their logs go next to the state folder.
    pub async fn start(b: &Broker, d: &ChainDirs, watch_extra: &[String]) -> ProcChain {
        let logs = d.state.parent().unwrap_or(&d.state).to_path_buf();
        std::fs::create_dir_all(&d.state).expect("state");
        let publish = Proc::start("wis2-publish", d.publish_flags(b), &logs);
        publish.wait_ready().await;
        let validate = Proc::start("wis2-validate", d.validate_flags(b), &logs);
        validate.wait_ready().await;
        let create = Proc::start("wis2-create", d.create_flags(b), &logs);
        create.wait_ready().await;
        let wargs = d.watch_flags_with(b, &d.state.join("watch"), watch_extra);
        let watch = Proc::start("wis2-watch", wargs, &logs);
        watch.wait_ready().await;
        ProcChain {
            publish,
            validate,
            create,
            watch,
        }
    }
}
