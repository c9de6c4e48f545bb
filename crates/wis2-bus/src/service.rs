//! The scaffold every service of the chain stands on: the settings they all take
//! ([`ServiceArgs`], one clap struct flattened into each service's own), checked once
//! into a [`Service`] before the service runs; its connection; and the one-shot
//! connection of the command-line tools ([`OneShot`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::builder::NonEmptyStringValueParser;

use crate::bus::{Bus, ConnectOptions, Connection};
use crate::config::{Broker, BrokerArgs};
use crate::deadletter::DeadLetters;
use crate::runner::Runner;
use crate::runtime::RuntimeArgs;
use crate::stage::{Stage, StageConfig};

/// Settings every service takes (flattened before the service's own in [`Run`]: the
/// service's settings struct may give `--concurrency` its own default, or hide it,
/// with `#[command(mut_arg("concurrency", ...))]`).
#[derive(Clone, Debug, clap::Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Dead-letter topic: what the service cannot process is published there, with
    /// the stage and the reason.
    #[arg(
        long,
        env = "WIS2_DEADLETTER_TOPIC",
        default_value = crate::topics::DEADLETTER,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub deadletter_topic: String,
    /// Folder where dead letters are also written, whole (empty: none).
    #[arg(long, env = "WIS2_DEADLETTER_DIR")]
    pub deadletter_dir: Option<PathBuf>,
    /// Inputs in hand at once.
    #[arg(
        long,
        env = "WIS2_CONCURRENCY",
        default_value_t = 8,
        value_parser = at_least_one
    )]
    pub concurrency: usize,
    /// Address to serve /healthz and /metrics on (e.g. 0.0.0.0:9101); none by default.
    #[arg(long, env = "WIS2_HEALTH_ADDR")]
    pub health_addr: Option<SocketAddr>,
}

/// The folder of a service's durable state (flattened into the settings of the
/// services that keep one).
#[derive(Clone, Debug, clap::Args)]
pub struct StateArgs {
    /// Folder of the service's durable state.
    #[arg(long, env = "WIS2_STATE_DIR", default_value = ".wis2-state")]
    pub state_dir: PathBuf,
}

// The settings of a service's `run` subcommand: every service's, then the service's
// own (`S`). Not a doc comment: clap would make it the help of `run`, which is `S`'s
// (what the service does).
#[derive(Clone, Debug, clap::Args)]
pub struct Run<S: clap::Args> {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub settings: S,
}

impl<S: Settings> Run<S> {
    /// Every setting checked, once, before the service `name` runs (`name` is its
    /// client id unless `--client-id` says otherwise, and its stage name).
    pub fn check(&self, name: &'static str) -> anyhow::Result<(Service, S::Config)> {
        Ok((self.service.check(name)?, self.settings.check()?))
    }
}

/// A service's own settings (its clap struct), checked once into the configuration its
/// `run` takes: durations typed, URLs parsed, files read, empty strings refused.
/// What the service does is the help of `run`: `#[command(about = "...")]` on the
/// struct.
pub trait Settings: clap::Args {
    /// The checked configuration.
    type Config;
    /// The settings checked, or what is wrong with them and how to fix it.
    fn check(&self) -> anyhow::Result<Self::Config>;
}

/// A duration given in whole seconds (the `--*-secs` and `--*-timeout` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secs(pub Duration);

/// A duration given in milliseconds (the `--*-ms` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Millis(pub Duration);

impl std::str::FromStr for Secs {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<u64>()
            .map(|n| Secs(Duration::from_secs(n)))
            .map_err(|e| format!("`{s}` is not a number of seconds ({e}): give a whole number"))
    }
}

impl std::str::FromStr for Millis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<u64>()
            .map(|n| Millis(Duration::from_millis(n)))
            .map_err(|e| {
                format!("`{s}` is not a number of milliseconds ({e}): give a whole number")
            })
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 inputs in hand would take none: give at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!(
            "`{s}` is not a count ({e}): give a whole number, at least 1"
        )),
    }
}

impl ServiceArgs {
    /// The settings checked once, for the service `name` (its client id unless
    /// `--client-id` says otherwise, and its name in logs).
    pub fn check(&self, name: &'static str) -> anyhow::Result<Service> {
        Ok(Service {
            name,
            broker: self.broker.check().context("invalid broker settings")?,
            runtime: self.runtime.clone(),
            dead_letters: DeadLetters {
                topic: self.deadletter_topic.clone(),
                dir: self
                    .deadletter_dir
                    .clone()
                    .filter(|d| !d.as_os_str().is_empty()),
            },
            concurrency: self.concurrency,
            health_addr: self.health_addr,
        })
    }
}

/// The checked settings of a service ([`ServiceArgs::check`]).
#[derive(Clone, Debug)]
pub struct Service {
    /// The service's name: its client id (unless `--client-id`) and stage name.
    pub name: &'static str,
    pub broker: Broker,
    pub runtime: RuntimeArgs,
    pub dead_letters: DeadLetters,
    /// Inputs in hand at once (at least 1).
    pub concurrency: usize,
    pub health_addr: Option<SocketAddr>,
}

impl Service {
    /// The options of this service's connection, subscribed to `subscriptions`,
    /// serving `/healthz` and `/metrics` when asked to.
    pub fn connect_options(&self, subscriptions: Vec<String>) -> ConnectOptions {
        let mut o = self.broker.service_connection(self.name, subscriptions);
        o.health_addr = self.health_addr;
        o.status = Some(self.name.to_string());
        o
    }

    /// Connects this service, subscribed to `subscriptions`.
    pub fn connect(&self, subscriptions: Vec<String>) -> Connection {
        Bus::connect(self.connect_options(subscriptions))
    }

    /// Runs `stage` on `conn` until `shutdown` completes.
    pub async fn run_stage<S: Stage>(
        &self,
        stage: Arc<S>,
        conn: Connection,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let cfg = StageConfig {
            concurrency: self.concurrency,
            ..StageConfig::new(self.name)
        };
        Runner::new(stage, self.dead_letters.clone(), cfg)
            .run(conn, shutdown)
            .await
    }
}

/// The `run` subcommand of service `name`: its settings checked, its `run` on its
/// runtime (see [`RuntimeArgs::block_on`]) until SIGTERM or Ctrl-C.
pub fn serve<S, F>(
    name: &'static str,
    args: &Run<S>,
    run: impl FnOnce(Service, S::Config, crate::shutdown::Signal) -> F,
) -> anyhow::Result<()>
where
    S: Settings,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (service, config) = args.check(name)?;
    let runtime = service.runtime.clone();
    runtime.block_on(run(service, config, crate::shutdown::signal()))
}

/// How long a one-shot command waits for its broker.
pub const ONESHOT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection of a one-shot command: a fresh client id and a clean session, so
/// that it leaves no session behind on the broker.
pub struct OneShot {
    conn: Connection,
}

impl OneShot {
    /// Connects as `<prefix>-<random>`; an error when the broker cannot be reached
    /// within [`ONESHOT_CONNECT_TIMEOUT`].
    pub async fn connect(broker: &Broker, prefix: &str) -> anyhow::Result<Self> {
        let conn = Bus::connect(ConnectOptions::new(broker.oneshot_options(prefix), vec![]));
        tokio::time::timeout(ONESHOT_CONNECT_TIMEOUT, conn.bus.wait_connected())
            .await
            .with_context(|| {
                format!(
                    "cannot connect to {} within {} s: check WIS2_BROKER_URL and the credentials",
                    broker.redacted_url(),
                    ONESHOT_CONNECT_TIMEOUT.as_secs()
                )
            })??;
        Ok(OneShot { conn })
    }

    pub fn bus(&self) -> &Bus {
        &self.conn.bus
    }

    /// Closes the connection (what was published is out: it was acknowledged).
    pub async fn close(self) {
        self.conn.close().await;
    }
}

/// Publishes `payload` on `topic` with a [`OneShot`] connection and returns after the
/// broker's acknowledgement.
pub async fn publish_once(
    broker: &Broker,
    prefix: &str,
    topic: &str,
    payload: Vec<u8>,
) -> anyhow::Result<()> {
    let one = OneShot::connect(broker, prefix).await?;
    let published = one
        .bus()
        .publish(topic, payload)
        .await
        .with_context(|| format!("publishing on {topic}"));
    one.close().await;
    published
}
