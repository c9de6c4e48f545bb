//! The task that owns and polls the rumqttc event loop: it hands deliveries to the
//! service, pairs PUBACKs with their publishes ([`crate::acks`]), subscribes again
//! on every connection, and reconnects with a capped backoff.
//!
//! rumqttc buffers events: after a connection error it would hand out the
//! `Outgoing::Publish` of a packet that left just before, and the deliveries read in
//! the same batch, only after the next ConnAck, when the session they belong to may
//! be gone. They are handled at the error, before reconnecting, so that a new session
//! fails exactly the publishes the old one took with it (and rumqttc's collided
//! publish, which it would otherwise wait for forever). Test:
//! `crates/wis2-tests/tests/it/bus.rs`.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::acks::{AckTracker, lock};
use crate::delivery::Delivery;
use crate::metrics::Metrics;

/// What the event loop tells the rest of the service.
pub(crate) struct Signals {
    /// Connected to the broker.
    pub(crate) connected: watch::Sender<bool>,
    /// Connected with every subscription acknowledged.
    pub(crate) ready: watch::Sender<bool>,
    /// The session of the current connection (changes at every CONNACK).
    pub(crate) session: watch::Sender<Session>,
}

/// What a CONNACK said about the session: the how-manyth connection of this client it
/// is, and whether the broker still had the session. A service reads it to re-send
/// what the broker may have lost (see `docs/delivery.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// Connections so far (0: never connected; 1: the first; more: reconnections).
    pub connects: u64,
    /// The broker still had the session (MQTT's `session_present`).
    pub present: bool,
}

impl Session {
    /// A reconnection: the broker may have lost what it held for this client (all of
    /// it when `present` is false; after a restart from its last snapshot, what it
    /// took since, even when `present` is true).
    pub fn is_reconnection(&self) -> bool {
        self.connects > 1
    }
}

/// What the event loop keeps between events.
pub(crate) struct LoopState {
    client: AsyncClient,
    subscriptions: Vec<String>,
    tx: mpsc::UnboundedSender<Delivery>,
    tracker: Arc<std::sync::Mutex<AckTracker>>,
    stats: Arc<Metrics>,
    signals: Signals,
    failures: u32,
    ever_connected: bool,
    subacks_missing: usize,
    /// Publishes rumqttc took from the queue but had not sent when the connection was
    /// lost (they wait in its `pending` list with no packet id yet).
    lost_unsent: usize,
    /// Deliveries so far.
    received: u64,
}

impl LoopState {
    /// The state of a new connection's loop: it subscribes to `subscriptions` on
    /// every connection and sends what it receives to `tx`.
    pub(crate) fn new(
        client: AsyncClient,
        subscriptions: Vec<String>,
        tx: mpsc::UnboundedSender<Delivery>,
        tracker: Arc<std::sync::Mutex<AckTracker>>,
        stats: Arc<Metrics>,
        signals: Signals,
    ) -> Self {
        LoopState {
            client,
            subscriptions,
            tx,
            tracker,
            stats,
            signals,
            failures: 0,
            ever_connected: false,
            subacks_missing: 0,
            lost_unsent: 0,
            received: 0,
        }
    }
}

/// Whether the event loop goes on.
enum Flow {
    Continue,
    Stop,
}

impl LoopState {
    fn on_event(&mut self, eventloop: &mut EventLoop, event: Event) -> Flow {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                self.on_connack(eventloop, ack.session_present)
            }
            Event::Incoming(Packet::Publish(p)) => {
                self.stats.received.inc();
                self.received += 1;
                if self.tx.send(Delivery::received(p, self.received)).is_err() {
                    debug!("delivery receiver gone; message stays unacknowledged for redelivery");
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => lock(&self.tracker).sent(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => lock(&self.tracker).collided(pkid),
            Event::Incoming(Packet::PubAck(ack)) => {
                self.stats.published.inc();
                if let Some(done) = lock(&self.tracker).sent.remove(&ack.pkid) {
                    let _ = done.send(());
                }
            }
            Event::Incoming(Packet::SubAck(s)) => {
                for code in &s.return_codes {
                    if matches!(code, rumqttc::SubscribeReasonCode::Failure) {
                        warn!("the broker refused a subscription: check the ACL of this account");
                    }
                }
                self.subacks_missing = self.subacks_missing.saturating_sub(1);
                if self.subacks_missing == 0 {
                    let _ = self.signals.ready.send(true);
                    self.stats.ready.set(1);
                }
            }
            Event::Outgoing(Outgoing::Disconnect) => {
                let _ = self.signals.connected.send(false);
                let _ = self.signals.ready.send(false);
                debug!("disconnected");
                return Flow::Stop;
            }
            _ => {}
        }
        Flow::Continue
    }

    fn on_connack(&mut self, eventloop: &mut EventLoop, session_present: bool) {
        self.failures = 0;
        self.stats.connected.set(1);
        if self.ever_connected {
            self.stats.reconnects.inc();
            if !session_present {
                self.stats.sessions_lost.inc();
            }
        }
        self.ever_connected = true;
        info!(session_present, "connected to the broker");
        self.signals.session.send_modify(|s| {
            s.connects += 1;
            s.present = session_present;
        });
        if !session_present {
            // A new session: rumqttc dropped what it held for the old one (the
            // publishes sent and not acknowledged, and those it had taken from the
            // queue but not sent: the oldest waiting ones). Their waiters fail (callers
            // retry; the end-to-end loop covers the rest); requests still queued are
            // sent now and keep theirs. rumqttc keeps a collided publish across the
            // reconnection and would take no new request until that packet id is
            // acknowledged, which a new session never does: it is dropped here too.
            eventloop.state.collision = None;
            let dropped = lock(&self.tracker).session_lost(self.lost_unsent);
            if dropped > 0 {
                warn!(
                    dropped,
                    "the broker lost the session: unacknowledged publishes will be retried"
                );
            }
        }
        self.lost_unsent = 0;
        // Subscribe on every connection: harmless when the session kept the
        // subscriptions, necessary when it did not (or they changed).
        self.subacks_missing = 0;
        for topic in &self.subscriptions {
            // try_subscribe: never block the loop that must drain the queue.
            match self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                Ok(()) => self.subacks_missing += 1,
                Err(e) => warn!(topic, error = %e, "cannot queue subscription"),
            }
        }
        let _ = self.signals.connected.send(true);
        if self.subacks_missing == 0 {
            let _ = self.signals.ready.send(true);
            self.stats.ready.set(1);
        }
    }

    /// The loop ends on [`Bus::disconnect`] while not connected: nothing queued will
    /// be sent, so every waiter fails now (the callers' requests stay theirs to keep).
    fn closed(&mut self) {
        let dropped = lock(&self.tracker).close();
        debug!(dropped, "disconnected while not connected to the broker");
    }

    /// A connection error: returns how long to wait before polling again (which
    /// reconnects), or `None` when the client is gone.
    fn on_error(
        &mut self,
        eventloop: &mut EventLoop,
        e: rumqttc::ConnectionError,
    ) -> Option<Duration> {
        let was = *self.signals.connected.borrow();
        let _ = self.signals.connected.send(false);
        let _ = self.signals.ready.send(false);
        self.stats.connected.set(0);
        self.stats.ready.set(0);
        if let rumqttc::ConnectionError::RequestsDone = e {
            return None;
        }
        // Events rumqttc buffered before the error and would hand out only after the
        // next ConnAck: a publish that left just before (its packet id must be known
        // before the session is judged), deliveries read in the same batch.
        while let Some(ev) = eventloop.state.events.pop_front() {
            if let Flow::Stop = self.on_event(eventloop, ev) {
                return None;
            }
        }
        self.lost_unsent = eventloop
            .pending
            .iter()
            .filter(|r| matches!(r, rumqttc::Request::Publish(p) if p.pkid == 0 && p.qos != QoS::AtMostOnce))
            .count();
        if let rumqttc::ConnectionError::ConnectionRefused(code) = &e {
            tracing::error!(
                ?code,
                "the broker refused the connection: check the user and password (WIS2_BROKER_URL, WIS2_BROKER_USER, WIS2_BROKER_PASSWORD) and the broker's accounts"
            );
        }
        self.failures = self.failures.saturating_add(1);
        let delay = backoff(self.failures);
        if was || self.failures == 1 {
            warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "broker connection lost; reconnecting");
        } else {
            debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "still reconnecting");
        }
        Some(delay)
    }
}

/// Polls until the DISCONNECT is out, the client is gone, or `closing` (set by
/// [`Bus::disconnect`]) while not connected.
pub(crate) async fn event_loop(
    mut eventloop: EventLoop,
    mut st: LoopState,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        // Connected, a DISCONNECT is queued behind the requests and ends the loop
        // (Outgoing::Disconnect); not connected, closing ends it at once. Dropping a
        // poll that is connecting loses nothing: no request is taken before ConnAck.
        let connected = *st.signals.connected.borrow();
        let polled = tokio::select! {
            r = eventloop.poll() => r,
            _ = closing.wait_for(|c| *c), if !connected => return st.closed(),
        };
        match polled {
            Ok(ev) => {
                if let Flow::Stop = st.on_event(&mut eventloop, ev) {
                    return;
                }
            }
            Err(e) => match st.on_error(&mut eventloop, e) {
                // Already closing: wait_for is ready at once.
                Some(delay) => tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = closing.wait_for(|c| *c) => return st.closed(),
                },
                None => return,
            },
        }
    }
}

/// Capped exponential backoff with full jitter: 100 ms doubling up to 10 s.
pub fn backoff(failures: u32) -> Duration {
    let cap_ms: u64 = 10_000;
    let base = 100u64.saturating_mul(1u64 << failures.min(10).saturating_sub(1));
    let max = base.min(cap_ms);
    let jitter = rand::random_range(0..=max / 2);
    Duration::from_millis(max / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for f in 1..40 {
            let d = backoff(f);
            assert!(d <= Duration::from_secs(10), "{f}: {d:?}");
            assert!(d >= Duration::from_millis(50), "{f}: {d:?}");
        }
        assert!(backoff(20) >= Duration::from_secs(5));
    }
}
