//! The services in-process, each on its `run(config, shutdown)` with a shutdown the
//! test holds, alone or as the whole chain on one broker and one data directory.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::fixtures::shared;
use crate::flags::{args, s};
use crate::net::{free_port, metric, wait_healthy};

/// The shutdown future a service's `run` gets: it resolves when the test stops the
/// service (or drops it).
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A running in-process service and the switch that stops it.
pub struct Service {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    /// The port of its `/healthz` and `/metrics`.
    pub health_port: u16,
}

/// Parses `flags` (plus a health endpoint on a free port) into `run`'s settings,
/// checks them and spawns `run` on the test's runtime.
pub fn spawn<A, F, Fut>(name: &'static str, run: F, flags: &[String]) -> Service
where
    A: clap::Args + wis2_bus::service::Settings,
    F: FnOnce(wis2_bus::Service, A::Config, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let health_port = free_port();
    let mut f = flags.to_vec();
    f.extend([s("--health-addr"), format!("127.0.0.1:{health_port}")]);
    let (tx, rx) = oneshot::channel();
    let (service, config) = args::<wis2_bus::Run<A>>(&f)
        .check(name)
        .expect("valid settings");
    Service {
        stop: Some(tx),
        task: tokio::spawn(run(service, config, Shutdown(rx))),
        health_port,
    }
}

impl Service {
    /// A counter or gauge from the service's `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric(self.health_port, name).await
    }

    /// Waits until the service's `/healthz` says it is connected and subscribed.
    pub async fn wait_ready(&self) {
        let port = self.health_port;
        assert!(
            wait_healthy(port, Duration::from_secs(20)).await,
            "service on health port {port} not ready within 20 s"
        );
    }

    /// [`Service::wait_ready`], then the service itself.
    pub async fn ready(self) -> Self {
        self.wait_ready().await;
        self
    }

    /// Triggers its shutdown and waits (at most 20 s) for `run` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task).await??
    }
}

/// The folders of a chain under one temporary root, removed when they are dropped.
pub struct ChainDirs {
    /// What wis2-watch watches.
    pub data: PathBuf,
    /// The services' embedded stores.
    pub state: PathBuf,
    /// wis2-publish's output folder (with a trailing `/`).
    pub output: PathBuf,
    /// Where every stage writes its dead letters.
    pub deadletters: PathBuf,
    _root: tempfile::TempDir,
}

impl ChainDirs {
    /// The folders under a new temporary root; only the data directory is created
    /// (the services create the others).
    pub fn temp() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let at = |name: &str| root.path().join(name);
        let d = ChainDirs {
            data: at("data"),
            state: at("state"),
            output: at("out/"),
            deadletters: at("deadletters"),
            _root: root,
        };
        std::fs::create_dir_all(&d.data).expect("data dir");
        d
    }

    /// wis2-watch's flags on `b`, with its store in `state`, then `extra`. The chain's
    /// tests drop their files before or after the start as it suits them and expect
    /// every one announced: `--announce-existing all`, unless `extra` names another
    /// (a test of the first start on an existing tree).
    pub fn watch_flags_with(&self, b: &Broker, state: &Path, extra: &[String]) -> Vec<String> {
        let mut flags = self.watch_flags(b, state);
        if !extra.iter().any(|f| f == "--announce-existing") {
            flags.extend([s("--announce-existing"), s("all")]);
        }
        with(flags, extra)
    }

    /// wis2-watch's flags on `b`, with its store in `state` (a first start on files
    /// already there announces none of them: see [`ChainDirs::watch_flags_with`]).
    fn watch_flags(&self, b: &Broker, state: &Path) -> Vec<String> {
        vec![
            s("--broker-url"),
            b.url("wis2-watch"),
            s("--data-dir"),
            self.data.display().to_string(),
            s("--state-dir"),
            state.display().to_string(),
            s("--settle-ms"),
            s(300),
            s("--deadletter-dir"),
            self.deadletters.display().to_string(),
        ]
    }

    /// wis2-create's flags on `b`.
    pub fn create_flags(&self, b: &Broker) -> Vec<String> {
        vec![
            s("--broker-url"),
            b.url("wis2-create"),
            s("--data-dir"),
            self.data.display().to_string(),
            s("--base-url"),
            s("https://data.example.org/argo"),
            s("--deadletter-dir"),
            self.deadletters.display().to_string(),
        ]
    }

    /// wis2-validate's flags on `b`, with the authoritative schema and topic tables.
    pub fn validate_flags(&self, b: &Broker) -> Vec<String> {
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
            self.deadletters.display().to_string(),
        ]
    }

    /// wis2-publish's flags on `b`.
    pub fn publish_flags(&self, b: &Broker) -> Vec<String> {
        vec![
            s("--broker-url"),
            b.url("wis2-publish"),
            s("--output"),
            self.output.display().to_string() + "/",
            s("--deadletter-dir"),
            self.deadletters.display().to_string(),
            s("--state-dir"),
            self.state.join("publish").display().to_string(),
        ]
    }
}

/// `flags` followed by `extra`.
fn with(mut flags: Vec<String>, extra: &[String]) -> Vec<String> {
    flags.extend(extra.iter().cloned());
    flags
}

/// wis2-watch in-process, its store in the chain's state folder, with more flags
/// (`--announce-existing all` unless they name it: [`ChainDirs::watch_flags_with`]).
pub fn start_watch(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    spawn::<wis2_watch::RunArgs, _, _>(
        "wis2-watch",
        wis2_watch::run,
        &d.watch_flags_with(b, &d.state, extra),
    )
}

/// wis2-create in-process.
pub fn start_create(b: &Broker, d: &ChainDirs) -> Service {
    start_create_with(b, d, &[])
}

/// Like [`start_create`], with more flags.
pub fn start_create_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    spawn::<wis2_create::RunArgs, _, _>(
        "wis2-create",
        wis2_create::run,
        &with(d.create_flags(b), extra),
    )
}

/// wis2-validate in-process.
pub fn start_validate(b: &Broker, d: &ChainDirs) -> Service {
    start_validate_with(b, d, &[])
}

/// Like [`start_validate`], with more flags.
pub fn start_validate_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    spawn::<wis2_validate::RunArgs, _, _>(
        "wis2-validate",
        wis2_validate::run,
        &with(d.validate_flags(b), extra),
    )
}

/// wis2-publish in-process.
pub fn start_publish(b: &Broker, d: &ChainDirs) -> Service {
    start_publish_with(b, d, &[])
}

/// Like [`start_publish`], with more flags.
pub fn start_publish_with(b: &Broker, d: &ChainDirs, extra: &[String]) -> Service {
    spawn::<wis2_publish::RunArgs, _, _>(
        "wis2-publish",
        wis2_publish::run,
        &with(d.publish_flags(b), extra),
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

/// The four services wired to one broker and one data directory.
pub struct Chain {
    /// Each service with its short name (`publish`, ..., `watch`).
    pub services: Vec<(&'static str, Service)>,
}

impl Chain {
    /// Stops the service `name` (`watch`, `create`, ...) cleanly; the others run on.
    pub async fn stop_one(&mut self, name: &str) {
        let at = self
            .services
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no service {name} in the chain"));
        let (_, service) = self.services.remove(at);
        if let Err(e) = service.stop().await {
            panic!("{name} did not stop cleanly: {e:#}");
        }
    }

    /// The whole chain, each service ready.
    pub async fn start(b: &Broker, d: &ChainDirs) -> Chain {
        let mut services = start_downstream(b, d).await;
        let watch = start_watch(b, d, &[]);
        watch.wait_ready().await;
        services.push(("watch", watch));
        Chain { services }
    }

    /// Stops every service, downstream first; panics naming one that fails to stop.
    pub async fn stop(self) {
        for (name, s) in self.services {
            if let Err(e) = s.stop().await {
                panic!("{name} did not stop cleanly: {e:#}");
            }
        }
    }
}
