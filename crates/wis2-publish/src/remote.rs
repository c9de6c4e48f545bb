//! The remote WIS2 broker: every message published locally is also published there,
//! from a bounded, persistent outbox (`<WIS2_STATE_DIR>/remote-outbox.redb`) drained in
//! order by its own task with its own connection.
//!
//! - Local processing never waits for the remote broker: the stage only appends to the
//!   outbox (one local commit).
//! - A message leaves the outbox only once the remote broker acknowledged it (PUBACK).
//!   The outbox survives restarts; a crash between the remote PUBACK and the removal
//!   sends that message again, with the same id (at-least-once).
//! - Order: messages are sent in the order they were published locally (pipelined in
//!   batches, each batch removed in order up to the first unacknowledged message).
//! - Full outbox (`--remote-outbox`, `WIS2_REMOTE_OUTBOX`, default 10000 messages):
//!   a warning when it reaches 90 %; once full the *newest* message is dropped for the
//!   remote broker only, with an error naming it (it is still on the local broker, in
//!   the publication store and in WIS2_OUTPUT). Refusing instead would stop local
//!   publication because a remote broker is down, which is the failure this outbox
//!   exists to avoid.
//! - TLS (mqtts://, wss://): the server certificate is always verified, against the
//!   system roots or `--remote-ca-file`; there is no switch to turn verification off.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wis2_bus::{Broker, BrokerArgs, Bus, BusError, ConnectOptions};

use crate::queue::{DiskQueue, Pushed, Queued};

/// Settings of the remote WIS2 broker (optional).
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Remote WIS2 broker URL (mqtt://, mqtts://, ws://, wss://); messages are also published there.
    #[arg(long, env = "WIS2_REMOTE_BROKER_URL")]
    pub remote_broker_url: Option<String>,
    /// PEM file of the certificate authorities for the remote broker (default: system roots).
    #[arg(long, env = "WIS2_REMOTE_CA_FILE")]
    pub remote_ca_file: Option<PathBuf>,
    /// INSECURE: accept any TLS certificate from the remote broker (anyone on the path
    /// can impersonate it and read the credentials); give --remote-ca-file instead.
    #[arg(
        long,
        env = "WIS2_REMOTE_INSECURE_SKIP_TLS_VERIFY",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub remote_insecure_skip_tls_verify: bool,
    /// MQTT client id at the remote broker.
    #[arg(long, env = "WIS2_REMOTE_CLIENT_ID", default_value = "wis2-publish")]
    pub remote_client_id: String,
    /// Remote broker user (overrides the one in the URL).
    #[arg(long, env = "WIS2_REMOTE_USER")]
    pub remote_user: Option<String>,
    /// File holding the remote broker password (overrides the one in the URL).
    #[arg(long, env = "WIS2_REMOTE_PASSWORD_FILE")]
    pub remote_password_file: Option<PathBuf>,
    /// Messages kept (on disk, in `<state-dir>/remote-outbox.redb`) for the remote
    /// broker while it is unreachable; when full, newer messages are not forwarded.
    #[arg(long, env = "WIS2_REMOTE_OUTBOX", default_value_t = 10_000)]
    pub remote_outbox: usize,
}

/// The remote broker's settings, checked ([`RemoteArgs::check`]).
#[derive(Debug, Clone)]
pub struct Remote {
    broker: Broker,
    client_id: String,
    capacity: u64,
}

impl RemoteArgs {
    /// The remote broker's settings, checked; `None` when no remote broker is set.
    pub fn check(&self) -> anyhow::Result<Option<Remote>> {
        let Some(url) = self
            .remote_broker_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let mut broker = BrokerArgs::from_url(url);
        broker.ca_file = self.remote_ca_file.clone();
        broker.insecure_skip_tls_verify = self.remote_insecure_skip_tls_verify;
        broker.client_id = Some(self.remote_client_id.clone());
        broker.broker_user = self.remote_user.clone();
        broker.broker_password_file = self.remote_password_file.clone();
        Ok(Some(Remote {
            broker: broker.check().context("invalid WIS2_REMOTE_BROKER_URL")?,
            client_id: self.remote_client_id.clone(),
            capacity: self.remote_outbox as u64,
        }))
    }
}

/// Messages sent before waiting for their acknowledgements.
const BATCH: usize = 64;

/// Handle of the remote outbox.
#[derive(Clone)]
pub struct RemoteOutbox {
    queue: DiskQueue,
    bus: Bus,
    stop: watch::Sender<bool>,
    /// Set while the outbox is at or above 90 % (warned once per crossing).
    high: Arc<AtomicBool>,
    /// Its tasks, until [`RemoteOutbox::shutdown`].
    tasks: Arc<tokio::sync::Mutex<Option<Tasks>>>,
    /// Messages of the current batch waiting for [`RemoteOutbox::flush`], in arrival
    /// order (the lock is held across the commit, so commits keep that order).
    deferred: Arc<std::sync::Mutex<Vec<Queued>>>,
}

/// The drain task and the connection's event loop.
struct Tasks {
    drain: JoinHandle<()>,
    conn: JoinHandle<()>,
}

impl RemoteOutbox {
    /// Opens the outbox in `state_dir`, connects (in the background) and starts draining.
    pub fn start(remote: &Remote, state_dir: &Path) -> anyhow::Result<Self> {
        let queue = DiskQueue::open(&state_dir.join("remote-outbox.redb"), remote.capacity)?;
        let waiting = queue.len()?;
        tracing::info!(remote = %remote.broker.redacted_url(), waiting, capacity = queue.capacity(), "remote WIS2 broker configured");
        let conn = Bus::connect(ConnectOptions::new(
            remote.broker.mqtt_options(&remote.client_id),
            vec![],
        ));
        let bus = conn.bus.clone();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(drain(queue.clone(), bus.clone(), stop_rx));
        Ok(RemoteOutbox {
            queue,
            bus,
            stop,
            high: Arc::new(AtomicBool::new(false)),
            tasks: Arc::new(tokio::sync::Mutex::new(Some(Tasks {
                drain: task,
                conn: conn.task,
            }))),
            deferred: Arc::default(),
        })
    }

    /// Queues a message for the next [`RemoteOutbox::flush`] (in memory: the messages
    /// of a batch go to disk together).
    pub fn defer(&self, item: Queued) {
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(item);
    }

    /// Commits the deferred messages, in order, in one transaction (blocking). Never
    /// fails the caller: a full outbox or a storage error is logged with each message.
    pub fn flush(&self) {
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        if deferred.is_empty() {
            return;
        }
        let items = std::mem::take(&mut *deferred);
        match self.queue.push_many(&items) {
            Ok(pushed) => {
                for (item, p) in items.iter().zip(pushed) {
                    self.pushed(item, Ok(p));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for item in &items {
                    self.pushed(item, Err(e.clone()));
                }
            }
        }
    }

    fn pushed(&self, item: &Queued, result: Result<Pushed, String>) {
        match result {
            Ok(Pushed::Queued { len }) => {
                let cap = self.queue.capacity();
                if len.saturating_mul(10) >= cap.saturating_mul(9) {
                    if !self.high.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            waiting = len,
                            capacity = cap,
                            "remote outbox 90 % full: the remote broker is unreachable or slower than the local flow; when it is full, new messages are NOT forwarded to it (raise WIS2_REMOTE_OUTBOX, or fix WIS2_REMOTE_BROKER_URL)"
                        );
                    }
                } else if len.saturating_mul(2) < cap {
                    self.high.store(false, Ordering::Relaxed);
                }
            }
            Ok(Pushed::Full { capacity }) => tracing::error!(
                message_id = item.message_id,
                data_id = item.data_id,
                topic = item.topic,
                capacity,
                "remote outbox full (WIS2_REMOTE_OUTBOX): message NOT forwarded to the remote broker (it is published locally); fix the remote broker, or raise WIS2_REMOTE_OUTBOX"
            ),
            Err(e) => tracing::error!(
                message_id = item.message_id,
                data_id = item.data_id,
                error = %e,
                "cannot queue the message for the remote broker: NOT forwarded"
            ),
        }
    }

    /// Messages waiting for the remote broker.
    pub fn waiting(&self) -> u64 {
        self.queue.len().unwrap_or(0)
    }

    /// Stops draining (what is left stays in the outbox for the next start) and
    /// disconnects.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let Some(Tasks { drain, conn }) = self.tasks.lock().await.take() else {
            return;
        };
        if tokio::time::timeout(std::time::Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tracing::warn!("remote outbox task did not stop within 5 s");
        }
        let left = self.waiting();
        if left > 0 {
            tracing::info!(
                waiting = left,
                "messages kept in the remote outbox for the next start"
            );
        }
        self.bus.close(conn).await;
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// The drain loop: oldest first, removed after the remote PUBACK.
/// How long a stop waits for the acknowledgements of messages already sent.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

async fn drain(queue: DiskQueue, bus: Bus, mut stop: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let q = queue.clone();
        let batch = match blocking(move || q.peek(BATCH)).await {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read the remote outbox");
                failures = failures.saturating_add(1);
                if pause(&mut stop, failures).await {
                    return;
                }
                continue;
            }
            None => return,
        };
        if batch.is_empty() {
            tokio::select! {
                _ = queue.notify.notified() => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        // Send the batch, then wait for the acknowledgements in order.
        let mut sent = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for (key, item) in batch {
            let Some(item) = item else {
                tracing::error!(key, "unreadable entry in the remote outbox: dropped");
                unreadable.push(key);
                continue;
            };
            match bus
                .publish_nowait(&item.topic, item.message.clone().into_bytes())
                .await
            {
                Ok(rx) => sent.push((key, item, rx)),
                Err(BusError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot hand the message to the remote connection; retrying");
                    break;
                }
            }
        }
        let mut done = unreadable;
        let mut complete = true;
        // Asked to stop, the acknowledgements of what was sent are still waited for a
        // moment: a clean stop then leaves in the outbox no message the remote broker
        // has (to be sent again at the next start), and a remote broker that is down
        // delays it by a second at most (one grace for the whole batch).
        {
            let mut stop = stop.clone();
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
                tokio::time::sleep(STOP_GRACE).await;
            };
            tokio::pin!(stopping);
            for (key, item, rx) in sent {
                tokio::select! {
                    r = bus.wait_ack(&item.topic, rx) => match r {
                        Ok(()) => {
                            tracing::debug!(message_id = item.message_id, "forwarded to the remote broker");
                            done.push(key);
                        }
                        Err(BusError::Closed) => { complete = false; break; }
                        Err(e) => {
                            tracing::warn!(error = %e, message_id = item.message_id, "remote broker did not acknowledge; retrying");
                            complete = false;
                            break;
                        }
                    },
                    _ = &mut stopping => { complete = false; break; }
                }
            }
        }
        let q = queue.clone();
        match blocking(move || q.remove(&done)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot remove forwarded messages from the remote outbox: they will be sent again")
            }
            None => return,
        }
        if complete {
            failures = 0;
        } else {
            failures = failures.saturating_add(1);
            if pause(&mut stop, failures).await {
                return;
            }
        }
    }
}

/// Backs off after a failure; true when asked to stop.
async fn pause(stop: &mut watch::Receiver<bool>, failures: u32) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wis2_bus::bus::backoff(failures)) => false,
        _ = stop.changed() => true,
    }
}
