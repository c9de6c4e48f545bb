//! # wis2-publish: validated messages onto the WIS2 topic
//!
//! Publishes each validated message on its WIS2 topic at QoS 1, retain off, and
//! waits for the broker's acknowledgement; then records it, hands it to the remote
//! WIS2 broker when one is configured, writes it to the output file or folder, and
//! only then confirms it on the internal confirmation topic (so `wis2-watch` drops
//! the file from its pending list). A confirmation sent with the message, before its
//! PUBACK, could reach wis2-watch while the message itself is lost with a killed
//! broker: the file would then never be announced again.
//!
//! ## Once and only once on the WIS2 topic
//! - [`store`] (`<WIS2_STATE_DIR>/published.redb`) keeps, per `data_id`, the state it
//!   was last published in — the key (data_id, integrity value or "deletion", rel) —
//!   and, per message id, an audit entry (topic, pubtime, time acknowledged).
//! - [`dedup`] checks the store and an in-memory in-flight set (same key, same message
//!   id) under one lock: a redelivered message (same id), or the same state again (a
//!   re-announcement), is not published; when it is already recorded its
//!   confirmation is sent (when its original is still in flight, the original's
//!   confirmation will be), and the input is acknowledged ("duplicate suppressed" at
//!   info). A changed file (new integrity, `rel=update`) and a file created again
//!   after a deletion are published.
//!   Periodic re-announcements (`Envelope::reannounce`) skip the state check, not the
//!   message-id check.
//! - The record is written by the stage's step after the acknowledgement ([`stage`],
//!   [`after`]): after the PUBACK, before the input is acknowledged. A crash in between (a message on the WIS2 topic that the
//!   store does not know, its input redelivered) is covered by [`echo`]: the WIS2
//!   topic is read back on a second persistent session, and the next start records
//!   what it finds there before taking input. If the WIS2 PUBACK is lost with the
//!   connection but the message was read back, it is recorded as published.
//! - Two different states of one data_id in flight at once are both published, in the
//!   order the concurrent handlers reach the broker (`--concurrency 1` for strict order).
//! - The store belongs to one instance: do not scale wis2-publish out with shared
//!   subscriptions (each replica would have its own record).
//!
//! ## Remote WIS2 broker
//! See [`remote`]: a persistent, bounded outbox drained in arrival order; the newest
//! message is dropped (error log naming it) when it is full; never blocks local work.
//!
//! ## Output copies
//! See [`output`]: written after the PUBACK and the record; a failed write is queued
//! (on disk, bounded) and retried, the input is acknowledged anyway.
//!
//! ## Dead letters
//! See [`replay`]: `wis2-publish replay` re-injects them, checking the broker ACL first.

pub mod after;
pub mod dedup;
pub mod echo;
pub mod fields;
pub mod jsonl;
pub mod monitor;
pub mod output;
pub mod queue;
pub mod remote;
pub mod replay;
pub mod stage;
pub mod store;
pub mod unechoed;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use wis2_bus::{Bus, Service, Settings, Shutdown, StateArgs};

use crate::after::AfterPublication;
use crate::dedup::Dedup;
use crate::stage::PublishStage;

const STATE_DIR_HELP: &str = "Folder of the durable state: published.redb (what was published: duplicate suppression and audit), remote-outbox.redb, output-retry.redb";

/// The service's own settings (`run` takes them after every service's).
#[derive(Debug, Clone, Args)]
#[command(
    about = "Run the service: validated messages in, the WIS2 topic out",
    mut_arg("concurrency", |a| a.default_value("32")),
    mut_arg("state_dir", |a| a.help(STATE_DIR_HELP))
)]
pub struct RunArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub remote: remote::RemoteArgs,
    #[command(flatten)]
    pub monitor: monitor::MonitorArgs,
    /// File or folder (existing, or ending with `/`) where each published message is written.
    #[arg(long, env = "WIS2_OUTPUT")]
    pub output: Option<PathBuf>,
    /// How a WIS2_OUTPUT folder holds the messages: `hourly`, one JSON-lines file per
    /// hour of publication (`wis2-messages-<YYYY-MM-DDTHH>Z.jsonl`), or `files`, one
    /// `<file name>.<message id>.json` per message.
    #[arg(long, env = "WIS2_OUTPUT_LAYOUT", value_enum, default_value = "hourly")]
    pub output_layout: output::Layout,
    /// Topic the validated messages arrive on.
    #[arg(long, env = "WIS2_VALIDATED_TOPIC", default_value = wis2_bus::topics::VALIDATED)]
    pub validated_topic: String,
    /// Topic the confirmations go to.
    #[arg(long, env = "WIS2_PUBLISHED_TOPIC", default_value = wis2_bus::topics::PUBLISHED)]
    pub published_topic: String,
    /// Failed WIS2_OUTPUT writes kept for a retry (on disk); when full, the copy of a
    /// newer message is dropped (the message itself is published and recorded).
    #[arg(long = "output-retry", env = "WIS2_OUTPUT_RETRY", default_value_t = 1000)]
    pub output_retry_capacity: usize,
    /// Milliseconds between retries of failed WIS2_OUTPUT writes.
    #[arg(long, env = "WIS2_OUTPUT_RETRY_MS", default_value = "10000")]
    pub output_retry_ms: wis2_bus::service::Millis,
}

impl Settings for RunArgs {
    type Config = Config;

    /// The other brokers' settings (remote, monitoring), the output.
    fn check(&self) -> anyhow::Result<Config> {
        Ok(Config {
            output: self
                .output
                .clone()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| output::OutputTarget::new(p, self.output_layout))
                .transpose()?,
            remote: self.remote.check()?,
            monitor: self.monitor.check("wis2-publish")?,
            args: self.clone(),
        })
    }
}

/// The settings of the service, checked.
pub struct Config {
    output: Option<output::OutputTarget>,
    remote: Option<remote::Remote>,
    monitor: Option<monitor::MonitorConfig>,
    args: RunArgs,
}

/// Runs the service until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    let Config {
        output,
        remote,
        monitor,
        args,
    } = config;
    let state_dir = &args.state.state_dir;
    let store = store::PublishedStore::open(state_dir)?;
    let monitor = monitor.map(|m| monitor::Monitor::start(&m, store.clone()));
    let output = output
        .map(|target| {
            output::OutputWriter::new(
                target,
                &state_dir.join("output-retry.redb"),
                args.output_retry_capacity as u64,
            )
        })
        .transpose()?;
    let remote = remote
        .map(|r| remote::RemoteOutbox::start(&r, state_dir))
        .transpose()?;
    tracing::info!(
        broker = %service.broker.redacted_url(),
        output = ?args.output,
        remote = remote.is_some(),
        state_dir = %state_dir.display(),
        published = store.len().unwrap_or(0),
        "wis2-publish starting"
    );
    let (stop_retry, retry_task) = match &output {
        Some(out) => {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let every = args.output_retry_ms.0.max(Duration::from_millis(10));
            (
                Some(tx),
                Some(tokio::spawn(retry_output(out.clone(), every, rx))),
            )
        }
        None => (None, None),
    };
    let stage = Arc::new(PublishStage::new(
        Dedup::new(store.clone()),
        AfterPublication::new(store, output, remote.clone(), args.published_topic.clone()),
    ));
    // The output copies an earlier run recorded and may not have written, each once,
    // before any new one.
    let s = stage.clone();
    tokio::task::spawn_blocking(move || s.after().recover_output()).await?;
    // Read the WIS2 topic back first: what an earlier run published without
    // recording it is recorded before any input is taken (see [`echo`]).
    let mut echo = echo::Echo::start(echo::options(&service.broker, service.name), stage.clone());
    tokio::pin!(shutdown);
    let started = tokio::select! {
        _ = echo.caught_up() => true,
        _ = &mut shutdown => false,
    };
    let result = if started {
        let conn = Bus::connect(service.connect_options(vec![args.validated_topic.clone()]));
        stage
            .unechoed()
            .count_into(conn.bus.metrics().messages_republished.clone());
        let holding = tokio::spawn(hold_after_state_loss(conn.bus.session(), stage.clone()));
        let r = service.run_stage(stage.clone(), conn, shutdown).await;
        // It holds the stage (and so the store): gone before this returns.
        holding.abort();
        let _ = holding.await;
        r
    } else {
        Ok(())
    };
    echo.stop().await;
    let s = stage.clone();
    let _ = tokio::task::spawn_blocking(move || s.after().flush()).await;
    if let Some(tx) = stop_retry {
        let _ = tx.send(true);
    }
    if let Some(task) = retry_task {
        let _ = task.await;
    }
    if let Some(remote) = remote {
        remote.shutdown().await;
    }
    if let Some(monitor) = monitor {
        monitor.stop().await;
    }
    result
}

/// Holds the WIS2 topic for [`unechoed::RESUBSCRIBE_GRACE`] each time the broker
/// comes back without this service's session (so without its subscribers' either).
async fn hold_after_state_loss(
    mut session: tokio::sync::watch::Receiver<wis2_bus::bus::Session>,
    stage: Arc<stage::PublishStage>,
) {
    while session.changed().await.is_ok() {
        let s = *session.borrow_and_update();
        if s.is_reconnection() && !s.present {
            stage.grace().start(unechoed::RESUBSCRIBE_GRACE);
            tracing::warn!(
                hold_s = unechoed::RESUBSCRIBE_GRACE.as_secs(),
                "the broker came back without its state (sessions lost): the WIS2 topic is held for a few seconds, for subscribers to subscribe again"
            );
        }
    }
}

/// Retries failed WIS2_OUTPUT writes every `every` until `stop`.
async fn retry_output(
    out: output::OutputWriter,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let o = out.clone();
        if let Ok(left) =
            tokio::task::spawn_blocking(move || if o.waiting() == 0 { 0 } else { o.retry() }).await
            && left > 0
        {
            tracing::debug!(
                waiting = left,
                "WIS2_OUTPUT writes still waiting for a retry"
            );
        }
    }
}
