//! Read-back of the WIS2 topic: closes wis2-publish's crash window.
//!
//! A `kill -9` between the broker's PUBACK of a WIS2 message and the commit of its
//! record would leave a message on the WIS2 topic that the store does not know; the
//! broker redelivers its input, and it would go out twice. So wis2-publish also reads
//! the WIS2 topic back, on a second connection (`<client-id>-echo`) whose persistent
//! session is subscribed to `origin/a/wis2/#` for as long as the service exists:
//!
//! - Mosquitto queues a message for every subscriber's session *before* it sends the
//!   PUBACK; so every message the broker acknowledged is waiting in the echo session,
//!   even when the process died right after the PUBACK.
//! - At start, before it takes any input, the service publishes a barrier (a fresh
//!   UUID on `chain/barrier/wis2-publish/<client-id>`) and reads the echo session
//!   until that barrier comes back: a session's queue is delivered in order, so every
//!   message published before the restart has been read by then. Each one the store
//!   does not know is recorded (and forwarded to the remote outbox and the output
//!   copy, which the crash also skipped): its redelivered input is a duplicate.
//! - While running, a message read back while its PUBACK is pending is marked (if the
//!   PUBACK is then lost with the connection, the message is recorded as published
//!   rather than sent again), and its copy is acknowledged only once the record is
//!   committed: a crash in between leaves the copy in the session for the next start.
//!
//! The broker's ACL lets `wis2-publish` read `origin/a/wis2/#` (it is the only writer
//! there) and read and write `chain/barrier/wis2-publish/#`. When the barrier does not
//! come back within [`BARRIER_TIMEOUT`] (an older ACL, say), the service starts all
//! the same, with a warning: the crash window is then open as before.

use std::sync::Arc;
use std::time::Duration;

use wis2_bus::{Broker, Bus, ConnectOptions};

use crate::stage::{Echoed, PublishStage};

/// What the echo connection subscribes to: every WIS2 topic of the local broker.
pub const ECHO_FILTER: &str = "origin/a/wis2/#";

/// Prefix of the barrier topics.
pub const BARRIER_PREFIX: &str = "chain/barrier/wis2-publish";

/// Most messages read back that one blocking task looks up.
const ECHO_BATCH: usize = 64;

/// How long the start waits for the barrier once connected.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// The running read-back.
pub struct Echo {
    bus: Bus,
    task: tokio::task::JoinHandle<()>,
    conn_task: tokio::task::JoinHandle<()>,
    /// Topic, payload and arrival of the start's barrier, until awaited.
    barrier: Option<(String, String, tokio::sync::oneshot::Receiver<()>)>,
}

/// The connection settings of the read-back for a service whose main connection uses
/// `main_client_id`.
pub fn options(broker: &Broker, main_client_id: &str) -> ConnectOptions {
    let mut mqtt = broker.mqtt_options(main_client_id);
    let id = format!("{}-echo", mqtt.client_id());
    mqtt.set_client_id(id.clone());
    let mut o = ConnectOptions::new(
        mqtt,
        vec![ECHO_FILTER.to_string(), format!("{BARRIER_PREFIX}/{id}")],
    );
    o.max_packet_bytes = broker.max_packet_bytes();
    o
}

impl Echo {
    /// Connects and reads the WIS2 topic back in the background; see
    /// [`Echo::caught_up`].
    pub(crate) fn start(opts: ConnectOptions, stage: Arc<PublishStage>) -> Echo {
        let barrier_topic = opts
            .subscriptions
            .get(1)
            .cloned()
            .unwrap_or_else(|| BARRIER_PREFIX.to_string());
        let wis2_bus::Connection {
            bus,
            mut deliveries,
            task: conn_task,
        } = Bus::connect(opts);
        let nonce = uuid::Uuid::new_v4().to_string();
        let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
        let reader = bus.clone();
        let barrier = barrier_topic.clone();
        let expected = nonce.clone();
        let task = tokio::spawn(async move {
            let mut reached = Some(reached_tx);
            let mut orphans = 0usize;
            while let Some(d) = deliveries.recv().await {
                // What arrived together is looked up in one blocking task (one thread
                // hand-off for all), then acknowledged in arrival order.
                let mut batch = vec![d];
                while batch.len() < ECHO_BATCH {
                    match deliveries.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                let stage = stage.clone();
                let barrier_topic = barrier.clone();
                let looked_up = tokio::task::spawn_blocking(move || {
                    let seen: Vec<Option<Echoed>> = batch
                        .iter()
                        .map(|d| {
                            (d.topic != barrier_topic).then(|| {
                                // One message's failure is not the batch's: it is
                                // acknowledged as before, with a warning.
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    stage.echoed(&d.topic, &d.payload)
                                }))
                                .unwrap_or_else(|_| {
                                    tracing::warn!("read-back step crashed");
                                    Echoed::Known
                                })
                            })
                        })
                        .collect();
                    (batch, seen)
                })
                .await;
                let (batch, seen) = match looked_up {
                    Ok(r) => r,
                    Err(e) => {
                        // Left unacknowledged: the session keeps them for the next start.
                        tracing::warn!(error = %e, "read-back step crashed");
                        continue;
                    }
                };
                for (d, echoed) in batch.into_iter().zip(seen) {
                    match echoed {
                        None => {
                            if d.payload == expected.as_bytes()
                                && let Some(tx) = reached.take()
                            {
                                if orphans > 0 {
                                    tracing::warn!(
                                        orphans,
                                        "messages published before the restart but not recorded were found on the WIS2 topic and recorded: they are not published again"
                                    );
                                }
                                let _ = tx.send(());
                            }
                        }
                        Some(Echoed::Orphan) => orphans += 1,
                        Some(Echoed::Known) => {}
                        Some(Echoed::InFlight(recorded)) => {
                            // Acknowledged once recorded: a crash before leaves this
                            // copy in the session, for the next start to find.
                            let reader = reader.clone();
                            tokio::spawn(async move {
                                let _ = recorded.await;
                                if let Err(e) = reader.ack(&d).await {
                                    tracing::debug!(error = %e, "cannot acknowledge a read-back message");
                                }
                            });
                            continue;
                        }
                    }
                    if let Err(e) = reader.ack(&d).await {
                        tracing::debug!(error = %e, "cannot acknowledge a read-back message");
                    }
                }
            }
        });
        Echo {
            bus,
            task,
            conn_task,
            barrier: Some((barrier_topic, nonce, reached_rx)),
        }
    }

    /// Waits until the barrier comes back: everything published before this start is
    /// then read back and recorded. Waits for the broker as long as it is down; gives
    /// up with a warning [`BARRIER_TIMEOUT`] after the barrier was acknowledged.
    pub(crate) async fn caught_up(&mut self) {
        let Some((topic, nonce, reached)) = self.barrier.take() else {
            return;
        };
        // A barrier published into a session the broker then loses never returns:
        // publish it again after a failed acknowledgement.
        loop {
            if self.bus.wait_ready().await.is_err() {
                return;
            }
            match self.bus.publish(&topic, nonce.clone().into_bytes()).await {
                Ok(()) => break,
                Err(e) => tracing::debug!(error = %e, "barrier not acknowledged; retrying"),
            }
        }
        match tokio::time::timeout(BARRIER_TIMEOUT, reached).await {
            Ok(_) => tracing::debug!("read-back of the WIS2 topic caught up"),
            Err(_) => tracing::warn!(
                topic,
                "the read-back barrier did not come back within {} s: starting without it; messages acknowledged but not recorded before a crash could be published twice. Check that the broker ACL lets wis2-publish read origin/a/wis2/# and read and write {BARRIER_PREFIX}/#",
                BARRIER_TIMEOUT.as_secs()
            ),
        }
    }

    /// Disconnects (the session stays: the next start reads what it queues).
    pub async fn stop(self) {
        self.bus.close(self.conn_task).await;
        // The reader holds the stage (and so the store): wait until it is gone.
        self.task.abort();
        let _ = self.task.await;
    }
}
