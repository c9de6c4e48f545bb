//! Real servers for the tests: mosquitto started from the project's own `broker/`
//! configuration on a free port, the four services running in-process on their
//! `run(config, shutdown)`, and an MQTT observer. Readiness is awaited by connecting,
//! never by sleeping.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Passwords of the test broker's accounts.
pub const PASSWORDS: [(&str, &str); 5] = [
    ("wis2-watch", "watch-pw"),
    ("wis2-create", "create-pw"),
    ("wis2-validate", "validate-pw"),
    ("wis2-publish", "publish-pw"),
    ("operator", "operator-pw"),
];

pub const CENTRE: &str = "fr-ifremer-argo";
pub const TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` next to the repository.
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

pub fn password(user: &str) -> &'static str {
    if user == "everyone" {
        // The Global Brokers' account keeps its conventional password.
        return "everyone";
    }
    PASSWORDS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .unwrap_or("")
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A mosquitto process started with `broker/start.sh`.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, free_port())
    }

    /// Starts (or restarts) on a given state folder and port.
    pub fn start_in(dir: tempfile::TempDir, port: u16) -> Broker {
        Self::launch(dir, port, &[], &[])
    }

    /// Like [`Broker::start`], with more environment for `broker/start.sh` (the TLS
    /// listener's BROKER_TLS_PORT, BROKER_TLS_CERT, ...); returns once the plain port
    /// and every one of `more_ports` accept connections.
    pub fn start_with_env(env: &[(&str, String)], more_ports: &[u16]) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::launch(dir, free_port(), env, more_ports)
    }

    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        env: &[(&str, String)],
        more_ports: &[u16],
    ) -> Broker {
        assert!(
            Command::new("mosquitto")
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok(),
            "mosquitto is not installed: run scripts/test.sh, which installs it"
        );
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).expect("log file");
        let mut cmd = Command::new("sh");
        cmd.arg(repo().join("broker/start.sh"))
            .env("BROKER_RUN_DIR", dir.path().join("run"))
            .env("BROKER_DATA_DIR", dir.path().join("data"))
            .env("BROKER_PORT", port.to_string())
            .env("WIS2_CENTRE_ID", CENTRE)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log));
        for (user, pw) in PASSWORDS {
            let var = match user {
                "operator" => "WIS2_OPERATOR_PASSWORD".to_string(),
                u => format!("{}_PASSWORD", u.replace('-', "_").to_uppercase()),
            };
            cmd.env(var, pw);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start mosquitto");
        let b = Broker { port, dir, child };
        for p in std::iter::once(port).chain(more_ports.iter().copied()) {
            assert!(
                wait_port(p, Duration::from_secs(15)),
                "mosquitto did not listen on {p}: {}",
                b.log()
            );
        }
        b
    }

    /// What `start.sh` and mosquitto wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    pub fn url(&self, user: &str) -> String {
        format!("mqtt://{user}:{}@127.0.0.1:{}", password(user), self.port)
    }

    /// Kills mosquitto with SIGKILL and returns its state folder and port.
    pub fn kill(mut self) -> (tempfile::TempDir, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Take the fields out without running Drop twice.
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("dir"));
        (dir, port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running in-process service and the switch that stops it.
pub struct Service {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    health_port: u16,
}

/// The status code of `GET /healthz` on `port`, if something answers.
fn healthz(port: u16) -> Option<u16> {
    match ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call() {
        Ok(r) => Some(r.status().as_u16()),
        Err(ureq::Error::StatusCode(code)) => Some(code),
        Err(_) => None,
    }
}

impl Service {
    fn new(
        stop: oneshot::Sender<()>,
        task: JoinHandle<anyhow::Result<()>>,
        health_port: u16,
    ) -> Self {
        Service {
            stop: Some(stop),
            task,
            health_port,
        }
    }

    /// A counter or gauge from the service's `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.health_port);
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let body = ureq::get(&url)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .unwrap_or_default();
            body.lines()
                .find_map(|l| {
                    l.strip_prefix(&name)
                        .and_then(|rest| rest.strip_prefix(' '))
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0.0)
        })
        .await
        .unwrap_or(0.0)
    }

    /// Waits until the service's `/healthz` says it is connected and subscribed.
    pub async fn wait_ready(&self) {
        let port = self.health_port;
        let ok = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if healthz(port) == Some(200) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
        .await
        .expect("health poller");
        assert!(ok, "service on health port {port} not ready within 20 s");
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task).await??
    }
}

fn stop_pair() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

#[derive(Parser)]
struct P<T: clap::Args> {
    #[command(flatten)]
    a: T,
}

/// Parses a service's `RunArgs` from flags (so tests use the CLI contract).
pub fn args<T: clap::Args>(flags: &[String]) -> T {
    let mut v = vec!["test".to_string()];
    v.extend(flags.iter().cloned());
    P::<T>::try_parse_from(v).expect("valid flags").a
}

pub fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The four services wired to one broker and one data directory.
pub struct Chain {
    pub services: Vec<(&'static str, Service)>,
}

pub struct ChainDirs {
    pub data: PathBuf,
    pub state: PathBuf,
    pub output: PathBuf,
    pub deadletters: PathBuf,
}

impl ChainDirs {
    pub fn new(root: &Path) -> Self {
        let d = ChainDirs {
            data: root.join("data"),
            state: root.join("state"),
            output: root.join("out/"),
            deadletters: root.join("deadletters"),
        };
        std::fs::create_dir_all(&d.data).expect("data dir");
        d
    }
}

fn health_flags() -> (u16, [String; 2]) {
    let port = free_port();
    (port, [s("--health-addr"), format!("127.0.0.1:{port}")])
}

pub fn start_watch(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    let (hp, hf) = health_flags();
    let mut f = vec![
        s("--broker-url"),
        b.url("wis2-watch"),
        s("--data-dir"),
        d.data.display().to_string(),
        s("--state-dir"),
        d.state.display().to_string(),
        s("--settle-ms"),
        s(300),
    ];
    f.extend(extra.iter().cloned());
    f.extend(hf);
    let a: wis2_watch::RunArgs = args(&f);
    let (tx, rx) = stop_pair();
    Service::new(
        tx,
        tokio::spawn(wis2_watch::run(a.check().expect("valid settings"), rx)),
        hp,
    )
}

pub fn start_create(b: &Broker, d: &ChainDirs) -> Service {
    start_create_with(b, d, &[])
}

/// Like [`start_create`], with more flags.
pub fn start_create_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    let (hp, [h1, h2]) = health_flags();
    let mut f = vec![
        h1,
        h2,
        s("--broker-url"),
        b.url("wis2-create"),
        s("--data-dir"),
        d.data.display().to_string(),
        s("--base-url"),
        s("https://data.example.org/argo"),
        s("--deadletter-dir"),
        d.deadletters.display().to_string(),
    ];
    f.extend(extra.iter().cloned());
    let a: wis2_create::RunArgs = args(&f);
    let (tx, rx) = stop_pair();
    Service::new(
        tx,
        tokio::spawn(wis2_create::run(a.check().expect("valid settings"), rx)),
        hp,
    )
}

pub fn start_validate(b: &Broker, d: &ChainDirs) -> Service {
    start_validate_with(b, d, &[])
}

/// Like [`start_validate`], with more flags.
pub fn start_validate_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    let (hp, [h1, h2]) = health_flags();
    let mut f = vec![
        h1,
        h2,
        s("--broker-url"),
        b.url("wis2-validate"),
        s("--schema"),
        shared()
            .join("standards/wnm/wis2-notification-message-bundled.json")
            .display()
            .to_string(),
        s("--wth-dir"),
        shared().join("standards/wth").display().to_string(),
        s("--deadletter-dir"),
        d.deadletters.display().to_string(),
    ];
    f.extend(extra.iter().cloned());
    let a: wis2_validate::RunArgs = args(&f);
    let (tx, rx) = stop_pair();
    Service::new(
        tx,
        tokio::spawn(wis2_validate::run(a.check().expect("valid settings"), rx)),
        hp,
    )
}

pub fn start_publish(b: &Broker, d: &ChainDirs) -> Service {
    start_publish_with(b, d, &[])
}

pub fn start_publish_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    let (hp, [h1, h2]) = health_flags();
    let mut f = vec![
        h1,
        h2,
        s("--broker-url"),
        b.url("wis2-publish"),
        s("--output"),
        d.output.display().to_string() + "/",
        s("--deadletter-dir"),
        d.deadletters.display().to_string(),
        s("--state-dir"),
        d.state.join("publish").display().to_string(),
    ];
    f.extend(extra.iter().cloned());
    let a: wis2_publish::RunArgs = args(&f);
    let (tx, rx) = stop_pair();
    Service::new(
        tx,
        tokio::spawn(wis2_publish::run(a.check().expect("valid settings"), rx)),
        hp,
    )
}

/// Starts publish, validate and create and waits until each is connected and
/// subscribed, so that nothing is published before its reader has a session.
pub async fn start_downstream(b: &Broker, d: &ChainDirs) -> Vec<(&'static str, Service)> {
    let services = vec![
        ("publish", start_publish(b, d)),
        ("validate", start_validate(b, d)),
        ("create", start_create(b, d)),
    ];
    for (_, s) in &services {
        s.wait_ready().await;
    }
    services
}

impl Chain {
    /// The whole chain, each service ready.
    pub async fn start(b: &Broker, d: &ChainDirs) -> Chain {
        let mut services = start_downstream(b, d).await;
        let watch = start_watch(b, d, &[]);
        watch.wait_ready().await;
        services.push(("watch", watch));
        Chain { services }
    }

    pub async fn stop(self) {
        for (name, s) in self.services {
            if let Err(e) = s.stop().await {
                panic!("{name} did not stop cleanly: {e:#}");
            }
        }
    }
}

/// A message seen by the observer.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// An MQTT client that records what arrives on its subscriptions.
pub struct Observer {
    pub rx: mpsc::UnboundedReceiver<Seen>,
    /// Kept so that the connection lives as long as the observer.
    _client: AsyncClient,
    _task: JoinHandle<()>,
}

impl Observer {
    /// Connects as `user`, subscribes, and returns once the subscriptions are acknowledged.
    pub async fn connect(b: &Broker, user: &str, filters: &[&str]) -> Observer {
        let mut o = MqttOptions::new(
            format!("obs-{}", uuid::Uuid::new_v4().simple()),
            "127.0.0.1",
            b.port,
        );
        o.set_credentials(user, password(user))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 1000);
        for f in filters {
            client
                .subscribe(*f, QoS::AtLeastOnce)
                .await
                .expect("subscribe");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let want = filters.len();
        let task = tokio::spawn(async move {
            let mut subacks = 0;
            let mut ready = Some(ready_tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks += 1;
                        if subacks >= want
                            && let Some(r) = ready.take()
                        {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("subscriptions acknowledged")
            .expect("observer alive");
        Observer {
            rx,
            _client: client,
            _task: task,
        }
    }

    /// Collects messages on topics accepted by `keep` until `n` are in or `timeout`.
    pub async fn collect(
        &mut self,
        n: usize,
        timeout: Duration,
        keep: impl Fn(&Seen) -> bool,
    ) -> Vec<Seen> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while out.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) if keep(&m) => out.push(m),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        out
    }
}

impl Drop for Observer {
    /// Stops the observer's event loop with it.
    fn drop(&mut self) {
        self._task.abort();
    }
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

/// `target/debug` (or wherever this test binary's profile lives).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/<profile>/deps/it-<hash>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// The path of a service binary, built first when missing.
pub fn binary(name: &str) -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let path = bin_dir().join(name);
    if !path.exists() {
        BUILD.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--bins",
                    "-p",
                    "wis2-watch",
                    "-p",
                    "wis2-create",
                    "-p",
                    "wis2-validate",
                    "-p",
                    "wis2-publish",
                ])
                .current_dir(repo())
                .status()
                .expect("cargo build");
            assert!(status.success(), "building the service binaries failed");
        });
    }
    path
}

/// A service running as its own process (so that tests can `kill -9` it).
pub struct Proc {
    pub name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    pub health_port: u16,
}

impl Proc {
    /// Starts `<bin> run <args>` with a health endpoint on a free port.
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
        let port = self.health_port;
        let ok = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if healthz(port) == Some(200) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
        .await
        .expect("poller");
        assert!(
            ok,
            "{} not ready: {}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
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

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id while it runs (for /proc/<pid>/status, /proc/<pid>/fd).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
    pub publish: Proc,
    pub validate: Proc,
    pub create: Proc,
    pub watch: Proc,
}

impl ProcChain {
    pub async fn start(b: &Broker, d: &ChainDirs, watch_extra: &[String]) -> ProcChain {
        let logs = d.state.parent().unwrap_or(&d.state).to_path_buf();
        std::fs::create_dir_all(&d.state).expect("state");
        let publish = Proc::start(
            "wis2-publish",
            vec![
                s("--broker-url"),
                b.url("wis2-publish"),
                s("--output"),
                d.output.display().to_string() + "/",
                s("--deadletter-dir"),
                d.deadletters.display().to_string(),
                s("--state-dir"),
                d.state.join("publish").display().to_string(),
            ],
            &logs,
        );
        publish.wait_ready().await;
        let validate = Proc::start(
            "wis2-validate",
            vec![
                s("--broker-url"),
                b.url("wis2-validate"),
                s("--schema"),
                shared()
                    .join("standards/wnm/wis2-notification-message-bundled.json")
                    .display()
                    .to_string(),
                s("--wth-dir"),
                shared().join("standards/wth").display().to_string(),
                s("--deadletter-dir"),
                d.deadletters.display().to_string(),
            ],
            &logs,
        );
        validate.wait_ready().await;
        let create = Proc::start(
            "wis2-create",
            vec![
                s("--broker-url"),
                b.url("wis2-create"),
                s("--data-dir"),
                d.data.display().to_string(),
                s("--base-url"),
                s("https://data.example.org/argo"),
                s("--deadletter-dir"),
                d.deadletters.display().to_string(),
            ],
            &logs,
        );
        create.wait_ready().await;
        let mut wargs = vec![
            s("--broker-url"),
            b.url("wis2-watch"),
            s("--data-dir"),
            d.data.display().to_string(),
            s("--state-dir"),
            d.state.join("watch").display().to_string(),
            s("--settle-ms"),
            s(300),
        ];
        wargs.extend(watch_extra.iter().cloned());
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
