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
//! - After every reconnection of the read-back, once a new barrier came back, the
//!   messages the broker acknowledged before it and that have not come back are
//!   published again, same bytes, same id: the broker lost them ([`crate::unechoed`]).
//!
//! The broker's ACL lets `wis2-publish` read `origin/a/wis2/#` (it is the only writer
//! there) and read and write `chain/barrier/wis2-publish/#`. When the barrier does not
//! come back within [`BARRIER_TIMEOUT`] (an older ACL, say), the service starts all
//! the same, with a warning: the crash window is then open as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// Barriers published and not back yet: nonce → who waits for it.
type Barriers = Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>>;

/// The running read-back.
pub struct Echo {
    bus: Bus,
    task: tokio::task::JoinHandle<()>,
    conn_task: tokio::task::JoinHandle<()>,
    /// The topic of this session's barriers, and the barriers awaited.
    barrier_topic: String,
    barriers: Barriers,
    stage: Arc<PublishStage>,
    /// Re-publishes what a broker that lost its state lost; from [`Echo::caught_up`].
    recovery: Option<tokio::task::JoinHandle<()>>,
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

fn lock_barriers(
    b: &Barriers,
) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::oneshot::Sender<()>>> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

impl Echo {
    /// Connects and reads the WIS2 topic back in the background; see
    /// [`Echo::caught_up`].
    pub fn start(opts: ConnectOptions, stage: Arc<PublishStage>) -> Echo {
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
        let barriers: Barriers = Arc::default();
        let reader = bus.clone();
        let barrier = barrier_topic.clone();
        let waiting = barriers.clone();
        let reading_stage = stage.clone();
        let task = tokio::spawn(async move {
            let stage = reading_stage;
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
                            let nonce = String::from_utf8_lossy(&d.payload).into_owned();
                            if let Some(tx) = lock_barriers(&waiting).remove(&nonce) {
                                if orphans > 0 {
                                    tracing::warn!(
                                        orphans,
                                        "messages published before the restart but not recorded were found on the WIS2 topic and recorded: they are not published again"
                                    );
                                    orphans = 0;
                                }
                                let _ = tx.send(());
                            }
                        }
                        Some(Echoed::Orphan) => orphans += 1,
                        Some(Echoed::Known) => {}
                        Some(Echoed::Settled(confirmations)) => {
                            // Acknowledged once its confirmations are out.
                            let reader = reader.clone();
                            tokio::spawn(async move {
                                send_all(&reader, confirmations).await;
                                if let Err(e) = reader.ack(&d).await {
                                    tracing::debug!(error = %e, "cannot acknowledge a read-back message");
                                }
                            });
                            continue;
                        }
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
            barrier_topic,
            barriers,
            stage,
            recovery: None,
        }
    }

    /// Waits until the barrier comes back: everything published before this start is
    /// then read back and recorded. Waits for the broker as long as it is down; gives
    /// up with a warning [`BARRIER_TIMEOUT`] after the barrier was acknowledged. Then
    /// watches the read-back's reconnections (see [`recover`]).
    pub async fn caught_up(&mut self) {
        if self.recovery.is_some() {
            return;
        }
        let reached = barrier(&self.bus, &self.barrier_topic, &self.barriers).await;
        if reached {
            tracing::debug!("read-back of the WIS2 topic caught up");
            let (bus, topic, barriers, stage) = (
                self.bus.clone(),
                self.barrier_topic.clone(),
                self.barriers.clone(),
                self.stage.clone(),
            );
            self.recovery = Some(tokio::spawn(recover(bus, topic, barriers, stage)));
        } else {
            tracing::warn!(
                topic = self.barrier_topic,
                "the read-back barrier did not come back within {} s: starting without it; messages acknowledged but not recorded before a crash could be published twice, and messages a broker crash lost are not published again. Check that the broker ACL lets wis2-publish read origin/a/wis2/# and read and write {BARRIER_PREFIX}/#",
                BARRIER_TIMEOUT.as_secs()
            );
        }
    }

    /// Disconnects (the session stays: the next start reads what it queues).
    pub async fn stop(self) {
        // The recovery and the reader hold the stage (and so the store): each is
        // awaited once aborted, so that the store is closed when this returns.
        if let Some(r) = self.recovery {
            r.abort();
            let _ = r.await;
        }
        self.bus.close(self.conn_task).await;
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Publishes a barrier on `topic` and waits until the read-back reads it: everything
/// the broker queued for the read-back before it has been read. Retries while the
/// broker does not acknowledge it; false when it does not come back within
/// [`BARRIER_TIMEOUT`] of its acknowledgement.
async fn barrier(bus: &Bus, topic: &str, barriers: &Barriers) -> bool {
    let nonce = uuid::Uuid::new_v4().to_string();
    let (tx, reached) = tokio::sync::oneshot::channel();
    lock_barriers(barriers).insert(nonce.clone(), tx);
    // A barrier published into a session the broker then loses never returns:
    // publish it again after a failed acknowledgement.
    loop {
        if bus.wait_ready().await.is_err() {
            return false;
        }
        match bus.publish(topic, nonce.clone().into_bytes()).await {
            Ok(()) => break,
            Err(e) => tracing::debug!(error = %e, "barrier not acknowledged; retrying"),
        }
    }
    let r = matches!(
        tokio::time::timeout(BARRIER_TIMEOUT, reached).await,
        Ok(Ok(()))
    );
    lock_barriers(barriers).remove(&nonce);
    r
}

/// Publishes `outputs` and waits for their acknowledgements; false when one failed.
async fn send_all(bus: &Bus, outputs: Vec<wis2_bus::Output>) -> bool {
    let mut sent = Vec::with_capacity(outputs.len());
    for o in outputs {
        let r = bus.publish_nowait(&o.topic, o.payload).await;
        sent.push((o.topic, r));
    }
    let mut ok = true;
    for (topic, r) in sent {
        let acked = match r {
            Ok(done) => bus.wait_ack(&topic, done).await,
            Err(e) => Err(e),
        };
        if let Err(e) = acked {
            tracing::warn!(error = %e, topic, "not acknowledged; sent again at the next reconnection");
            ok = false;
        }
    }
    ok
}

/// How often publications in doubt are tried again while the connection stays up
/// (their acknowledgement timed out without a reconnection).
const IN_DOUBT_RETRY: Duration = Duration::from_secs(30);

/// At every reconnection of the read-back: once a barrier came back, what the broker
/// acknowledged before the reconnection and did not hand back is published again,
/// same bytes, same id (see [`crate::unechoed`]); and so is every publication in doubt,
/// which is then settled.
async fn recover(bus: Bus, topic: String, barriers: Barriers, stage: Arc<PublishStage>) {
    let mut session = bus.session();
    session.mark_unchanged();
    let mut retry = tokio::time::interval(IN_DOUBT_RETRY);
    retry.tick().await;
    loop {
        let s = tokio::select! {
            c = session.changed() => {
                if c.is_err() {
                    return;
                }
                let s = *session.borrow_and_update();
                if !s.is_reconnection() {
                    continue;
                }
                s
            }
            _ = retry.tick() => {
                if stage.unechoed().doubtful() == 0 || !bus.is_ready() {
                    continue;
                }
                // No reconnection: the broker kept its state.
                wis2_bus::bus::Session { present: true, ..*session.borrow() }
            }
        };
        let cutoff = tokio::time::Instant::now();
        if stage.unechoed().is_empty() && stage.unechoed().doubtful() == 0 {
            continue;
        }
        let reached = barrier(&bus, &topic, &barriers).await;
        if !s.present {
            // The subscribers lost their sessions too: give them time to come back.
            tokio::time::sleep(crate::unechoed::RESUBSCRIBE_GRACE).await;
        }
        let lost = stage.unechoed().acknowledged_before(cutoff);
        let doubtful = stage.unechoed().take_all_in_doubt();
        if lost.is_empty() && doubtful.is_empty() {
            continue;
        }
        let mut republished = 0;
        let lost_messages: Vec<wis2_bus::Output> = lost
            .iter()
            .map(|p| wis2_bus::Output::new(p.topic.clone(), p.message.clone()))
            .collect();
        if send_all(&bus, lost_messages).await {
            republished += lost.len();
        }
        let mut settled = 0;
        for d in doubtful {
            let out = vec![wis2_bus::Output::new(d.topic.clone(), d.message.clone())];
            if !send_all(&bus, out).await {
                stage.unechoed().in_doubt(d);
                continue;
            }
            republished += 1;
            let st = stage.clone();
            let confirmations = match tokio::task::spawn_blocking(move || {
                st.settle(
                    &d,
                    "published again with the same id after its PUBACK was lost",
                )
            })
            .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "settling a publication crashed");
                    continue;
                }
            };
            send_all(&bus, confirmations).await;
            settled += 1;
        }
        stage.unechoed().republished(republished);
        tracing::warn!(
            session_present = s.present,
            barrier_back = reached,
            lost = lost.len(),
            in_doubt = settled,
            republished,
            "messages the broker may have lost on the WIS2 topic (acknowledged or not, they had not come back on the read-back): published again with the same id"
        );
    }
}
