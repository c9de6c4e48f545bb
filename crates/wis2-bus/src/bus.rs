//! The MQTT connection of a service: one task owns and polls the rumqttc event loop;
//! everything else talks to it through [`Bus`].
//!
//! - QoS 1 everywhere, persistent session (fixed client id, clean session off), manual
//!   acknowledgements: the broker redelivers what a service received but did not
//!   acknowledge.
//! - [`Bus::publish`] returns only once the broker has acknowledged the message
//!   (PUBACK). rumqttc gives no per-publish completion, so the loop pairs each
//!   `Outgoing::Publish(pkid)` with the oldest waiting publish (requests are sent in
//!   the order they were queued, and a retransmission reuses its packet id), then
//!   completes it on `Incoming::PubAck(pkid)`. A publish rumqttc holds back because
//!   its packet id is still in use (`Outgoing::AwaitAck`) is paired when it leaves.
//! - rumqttc buffers events: after a connection error it would hand out the
//!   `Outgoing::Publish` of a packet that left just before, and the deliveries read
//!   in the same batch, only after the next ConnAck, when the session they belong to
//!   may be gone. They are handled at the error, before reconnecting, so that a new
//!   session fails exactly the publishes the old one took with it (and rumqttc's
//!   collided publish, which it would otherwise wait for forever). Test:
//!   `crates/wis2-tests/tests/it/bus.rs`.
//! - On errors the loop backs off (capped exponential, with jitter) and polls again,
//!   which reconnects; when the broker has no session it subscribes again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::health::Metrics;

/// A failure to hand a message to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the MQTT connection is closed (service shutting down)")]
    Closed,
    #[error("MQTT client error: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("the broker did not acknowledge the message on `{topic}` within {secs} s")]
    AckTimeout { topic: String, secs: u64 },
    #[error(
        "the message on `{topic}` would be a {size}-byte MQTT packet, over the broker's limit of {limit} bytes (max_packet_size in broker/mosquitto.conf, WIS2_MAX_PACKET_BYTES here): the broker would drop the connection, so it is not sent"
    )]
    TooLarge {
        topic: String,
        size: usize,
        limit: usize,
    },
}

/// The largest MQTT packet the project's broker accepts: `max_packet_size` of
/// `broker/mosquitto.conf`. Mosquitto disconnects a client that sends a larger one,
/// and a persistent session would send it again after every reconnection.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 1024 * 1024;

/// Size of the MQTT 3.1.1 QoS 1 PUBLISH packet carrying `payload_len` bytes on
/// `topic`, fixed header included: what the broker compares with its limit.
pub fn publish_packet_size(topic: &str, payload_len: usize) -> usize {
    // Topic length prefix, topic, packet id, payload.
    let remaining = 2 + topic.len() + 2 + payload_len;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

/// One message received on a subscription. Acknowledge it with [`Bus::ack`] once its
/// result is safely published; until then the broker keeps it for redelivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Set when the broker redelivers a message it had sent before.
    pub redelivered: bool,
    /// Arrival order on this connection (from 1; 0 for a detached delivery): the
    /// stage acknowledges outputs in this order.
    pub seq: u64,
    publish: Publish,
    prepared: Prepared,
}

/// What a handler made of a delivery's payload ([`Delivery::prepared`]), shared with
/// the delivery's clones (the stage clones deliveries for its acknowledgement steps):
/// cloning the `OnceLock` clones the `Arc` it holds, if any.
#[derive(Default, Clone)]
struct Prepared(std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>);

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Prepared"
        } else {
            "NotPrepared"
        })
    }
}

impl Delivery {
    /// A delivery built outside the broker (one-shot commands reuse stage handlers).
    pub fn detached(topic: impl Into<String>, payload: Vec<u8>) -> Self {
        let topic = topic.into();
        Delivery {
            publish: Publish::new(topic.clone(), QoS::AtMostOnce, payload.clone()),
            topic,
            payload,
            redelivered: false,
            seq: 0,
            prepared: Prepared::default(),
        }
    }

    /// `make(self)`, made at the first call and kept with the delivery and its
    /// clones, so that a handler's steps (its log span,
    /// [`Handler::handle`](crate::Handler::handle), the acknowledgement steps) parse
    /// the payload once. Made from the payload as received: a delivery is not meant
    /// to be changed. `None` when a value of another type was kept first.
    pub fn prepared<T: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce(&Delivery) -> T,
    ) -> Option<&T> {
        self.prepared
            .0
            .get_or_init(|| Arc::new(make(self)))
            .downcast_ref()
    }
}

#[derive(Default)]
struct AckTracker {
    /// Publishes queued to the client, not yet seen leaving (FIFO).
    queued: VecDeque<oneshot::Sender<()>>,
    /// Publishes sent, by packet id, waiting for PUBACK.
    sent: HashMap<u16, oneshot::Sender<()>>,
    /// The publish rumqttc holds back because its packet id is still in use
    /// (`Outgoing::AwaitAck`): it leaves as `Outgoing::Publish` of that id once the
    /// id's PUBACK arrives, or never when the session is lost.
    collided: Option<(u16, oneshot::Sender<()>)>,
}

impl AckTracker {
    /// `Outgoing::Publish(pkid)`: the publish that left is the collided one when it
    /// waited for this id, else the oldest queued; a retransmission (id already
    /// waiting) changes nothing.
    fn sent(&mut self, pkid: u16) {
        if self.sent.contains_key(&pkid) {
            return;
        }
        let done = match self.collided.take() {
            Some((id, done)) if id == pkid => Some(done),
            other => {
                self.collided = other;
                self.queued.pop_front()
            }
        };
        if let Some(done) = done {
            self.sent.insert(pkid, done);
        }
    }

    /// `Outgoing::AwaitAck(pkid)`: the oldest queued publish collided with a publish
    /// still waiting for its PUBACK under the same id.
    fn collided(&mut self, pkid: u16) {
        if let Some(done) = self.queued.pop_front() {
            self.collided = Some((pkid, done));
        }
    }

    /// The connection is closed for good: every waiter fails; returns how many.
    fn close(&mut self) -> usize {
        let n = self.sent.len() + usize::from(self.collided.is_some()) + self.queued.len();
        *self = AckTracker::default();
        n
    }

    /// A new session: every publish rumqttc held for the old one is gone (sent and
    /// not acknowledged, collided, or taken from the queue and not sent: the
    /// `unsent` oldest queued). Their waiters fail; returns how many.
    fn session_lost(&mut self, unsent: usize) -> usize {
        let mut dropped = self.sent.len() + usize::from(self.collided.is_some());
        self.sent.clear();
        self.collided = None;
        for _ in 0..unsent {
            if self.queued.pop_front().is_some() {
                dropped += 1;
            }
        }
        dropped
    }
}

/// A service's connection to the broker.
#[derive(Clone)]
pub struct Bus {
    client: AsyncClient,
    tracker: Arc<std::sync::Mutex<AckTracker>>,
    /// Serialises (queue tracker entry, hand request to client) so the FIFO order is
    /// the order the event loop sees.
    order: Arc<Mutex<()>>,
    stats: Arc<Metrics>,
    connected_rx: watch::Receiver<bool>,
    ready_rx: watch::Receiver<bool>,
    ack_timeout: Duration,
    max_packet_bytes: usize,
    /// Set by [`Bus::disconnect`]: the event loop stops instead of (re)connecting.
    closing: Arc<watch::Sender<bool>>,
}

/// What [`Bus::connect`] returns: the bus, the stream of deliveries, and the handle of
/// the task that owns the event loop (it ends after [`Bus::disconnect`]).
pub struct Connection {
    pub bus: Bus,
    /// Unbounded on purpose: the event loop must never wait for the handler, or it
    /// would stop reading the PUBACKs the handler waits for. The broker bounds it: it
    /// sends at most `max_inflight_messages` unacknowledged messages (in principle;
    /// mosquitto 2.0 was seen sending a resumed session's whole queue at once, which
    /// then deadlocked a bounded channel), never more than `max_queued_messages`.
    pub deliveries: mpsc::UnboundedReceiver<Delivery>,
    pub task: JoinHandle<()>,
}

/// Options of [`Bus::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub mqtt: MqttOptions,
    /// Topic filters to subscribe to at QoS 1 (again after every session loss).
    pub subscriptions: Vec<String>,
    /// How long [`Bus::publish`] waits for PUBACK while connected.
    pub ack_timeout: Duration,
    /// Where to serve `/healthz` and `/metrics` (none: no HTTP endpoint).
    pub health_addr: Option<std::net::SocketAddr>,
    /// Largest packet the broker accepts (0: no limit); larger publishes are refused
    /// with [`BusError::TooLarge`] instead of being sent.
    pub max_packet_bytes: usize,
}

impl ConnectOptions {
    pub fn new(mqtt: MqttOptions, subscriptions: Vec<String>) -> Self {
        ConnectOptions {
            mqtt,
            subscriptions,
            ack_timeout: Duration::from_secs(60),
            health_addr: None,
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
        }
    }
}

impl Bus {
    /// Starts the connection task. It connects (and keeps reconnecting) in the
    /// background; a service started before its broker simply waits.
    pub fn connect(opts: ConnectOptions) -> Connection {
        let (client, mut eventloop) = AsyncClient::new(opts.mqtt.clone(), 1024);
        // Without TCP_NODELAY a small publish waits behind Nagle's algorithm for the
        // broker's delayed ACK of the previous one: about 40 ms per hop (e2e
        // saturation 250 files/s with every service under 20 % CPU).
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (tx, rx) = mpsc::unbounded_channel();
        let (connected_tx, connected_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let tracker = Arc::new(std::sync::Mutex::new(AckTracker::default()));
        let stats = Arc::new(Metrics::new());
        let (closing, closing_rx) = watch::channel(false);
        let task = tokio::spawn(event_loop(
            eventloop,
            LoopState {
                client: client.clone(),
                subscriptions: opts.subscriptions.clone(),
                tx,
                tracker: tracker.clone(),
                stats: stats.clone(),
                signals: Signals {
                    connected: connected_tx,
                    ready: ready_tx,
                },
                failures: 0,
                ever_connected: false,
                subacks_missing: 0,
                lost_unsent: 0,
                received: 0,
            },
            closing_rx,
        ));
        Connection {
            bus: Bus {
                client,
                tracker,
                order: Arc::new(Mutex::new(())),
                stats,
                connected_rx,
                ready_rx,
                ack_timeout: opts.ack_timeout,
                max_packet_bytes: opts.max_packet_bytes,
                closing: Arc::new(closing),
            },
            deliveries: rx,
            task,
        }
        .with_health(opts.health_addr)
    }

    /// Publishes at QoS 1 (retain off) and waits until the broker acknowledges it.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<(), BusError> {
        let done = self.publish_nowait(topic, payload).await?;
        self.wait_ack(topic, done).await
    }

    /// Queues a QoS 1 publish and returns the receiver that completes on PUBACK, so a
    /// caller can pipeline several publishes and wait for them together. A message
    /// over the broker's packet limit is refused here ([`BusError::TooLarge`]).
    pub async fn publish_nowait(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<oneshot::Receiver<()>, BusError> {
        let payload = payload.into();
        self.check_size(topic, payload.len())?;
        let (done_tx, done_rx) = oneshot::channel();
        let _order = self.order.lock().await;
        lock(&self.tracker).queued.push_back(done_tx);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            lock(&self.tracker).queued.pop_back();
            return Err(e.into());
        }
        Ok(done_rx)
    }

    /// The largest packet the broker accepts (0: no limit).
    pub fn max_packet_bytes(&self) -> usize {
        self.max_packet_bytes
    }

    /// `Err(TooLarge)` when `payload_len` bytes on `topic` exceed the broker's limit.
    pub fn check_size(&self, topic: &str, payload_len: usize) -> Result<(), BusError> {
        let size = publish_packet_size(topic, payload_len);
        if self.max_packet_bytes > 0 && size > self.max_packet_bytes {
            return Err(BusError::TooLarge {
                topic: topic.to_string(),
                size,
                limit: self.max_packet_bytes,
            });
        }
        Ok(())
    }

    /// Waits for the PUBACK of a publish queued with [`Bus::publish_nowait`]. The
    /// timeout only runs while connected: a broker that is down is waited for.
    pub async fn wait_ack(
        &self,
        topic: &str,
        mut done: oneshot::Receiver<()>,
    ) -> Result<(), BusError> {
        let mut connected = self.connected_rx.clone();
        loop {
            if !*connected.borrow_and_update() {
                tokio::select! {
                    r = &mut done => return r.map_err(|_| BusError::Closed),
                    c = connected.changed() => if c.is_err() { return Err(BusError::Closed) },
                }
                continue;
            }
            tokio::select! {
                r = &mut done => return r.map_err(|_| BusError::Closed),
                c = connected.changed() => if c.is_err() { return Err(BusError::Closed) },
                _ = tokio::time::sleep(self.ack_timeout) => {
                    return Err(BusError::AckTimeout { topic: topic.to_string(), secs: self.ack_timeout.as_secs() });
                }
            }
        }
    }

    /// Acknowledges a delivery (after its results are acknowledged by the broker).
    pub async fn ack(&self, d: &Delivery) -> Result<(), BusError> {
        if d.publish.qos == QoS::AtMostOnce {
            return Ok(());
        }
        self.client.ack(&d.publish).await.map_err(Into::into)
    }

    /// Waits until the connection is up (or the bus is closed).
    pub async fn wait_connected(&self) -> Result<(), BusError> {
        let mut rx = self.connected_rx.clone();
        rx.wait_for(|c| *c)
            .await
            .map(|_| ())
            .map_err(|_| BusError::Closed)
    }

    /// True while connected to the broker.
    pub fn is_connected(&self) -> bool {
        *self.connected_rx.borrow()
    }

    /// True while connected with every subscription acknowledged: the service can work.
    pub fn is_ready(&self) -> bool {
        *self.ready_rx.borrow()
    }

    /// Waits until the service is ready (connected and subscribed).
    pub async fn wait_ready(&self) -> Result<(), BusError> {
        let mut rx = self.ready_rx.clone();
        rx.wait_for(|c| *c)
            .await
            .map(|_| ())
            .map_err(|_| BusError::Closed)
    }

    /// Metrics of this connection and its service.
    pub fn metrics(&self) -> &Metrics {
        &self.stats
    }

    /// Sends DISCONNECT; the event loop task ends once it is out.
    ///
    /// Connected, the requests already queued leave first, then the DISCONNECT.
    /// Not connected, the event loop stops at once: it must not connect later (with
    /// this client id, taking the session over from a successor) to send what was
    /// queued. The waiters of those requests fail with [`BusError::Closed`].
    pub async fn disconnect(&self) {
        let _ = self.closing.send(true);
        if let Err(e) = self.client.disconnect().await {
            debug!(error = %e, "disconnect request not queued (event loop already gone)");
        }
    }
}

/// What the event loop tells the rest of the service.
struct Signals {
    /// Connected to the broker.
    connected: watch::Sender<bool>,
    /// Connected with every subscription acknowledged.
    ready: watch::Sender<bool>,
}

fn lock(m: &std::sync::Mutex<AckTracker>) -> std::sync::MutexGuard<'_, AckTracker> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the event loop keeps between events.
struct LoopState {
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
                let d = Delivery {
                    topic: p.topic.clone(),
                    payload: p.payload.to_vec(),
                    redelivered: p.dup,
                    seq: self.received,
                    publish: p,
                    prepared: Prepared::default(),
                };
                if self.tx.send(d).is_err() {
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
        }
        self.ever_connected = true;
        info!(session_present, "connected to the broker");
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
async fn event_loop(
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
    fn what_a_handler_prepares_is_made_once_and_shared_with_clones() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let d = Delivery::detached("t", b"four".to_vec());
        let made = AtomicUsize::new(0);
        let len = |d: &Delivery| {
            made.fetch_add(1, Ordering::SeqCst);
            d.payload.len()
        };
        assert_eq!(d.prepared(len), Some(&4));
        assert_eq!(d.prepared(len), Some(&4));
        assert_eq!(made.load(Ordering::SeqCst), 1, "made once");
        assert_eq!(format!("{:?}", d.prepared), "Prepared");
        // Something else was kept first: the caller makes its own.
        assert_eq!(d.prepared(|_| String::from("other")), None);
        // The stage's acknowledgement steps get clones: they share it.
        let c = d.clone();
        assert_eq!(c.prepared(len), Some(&4));
        assert_eq!(made.load(Ordering::SeqCst), 1, "a clone shares it");
        // A clone taken before anything was made makes its own.
        let fresh = Delivery::detached("t", b"seven!!".to_vec());
        let c = fresh.clone();
        assert_eq!(fresh.prepared(len), Some(&7));
        assert_eq!(c.prepared(len), Some(&7));
        assert_eq!(made.load(Ordering::SeqCst), 3);
    }

    fn waiter(t: &mut AckTracker) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        t.queued.push_back(tx);
        rx
    }

    #[test]
    fn a_collided_publish_is_paired_when_it_leaves_not_with_the_next_one() {
        let mut t = AckTracker::default();
        let mut a = waiter(&mut t);
        let mut b = waiter(&mut t);
        let mut c = waiter(&mut t);
        t.sent(1); // a leaves as 1
        t.collided(1); // b waits for 1's PUBACK
        t.sent(2); // c leaves as 2 (a retransmission path, say)
        t.sent(1); // a retransmission of 1: nothing changes
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(a.try_recv().is_ok());
        t.sent(1); // b leaves as 1
        let _ = t.sent.remove(&2).map(|d| d.send(()));
        assert!(c.try_recv().is_ok());
        assert!(b.try_recv().is_err(), "b is not acknowledged yet");
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(b.try_recv().is_ok());
    }

    #[test]
    fn a_lost_session_fails_what_it_took_and_keeps_what_is_queued() {
        let mut t = AckTracker::default();
        let mut sent = waiter(&mut t);
        let mut collided = waiter(&mut t);
        let mut unsent = waiter(&mut t);
        let mut queued = waiter(&mut t);
        t.sent(7);
        t.collided(7);
        assert_eq!(t.session_lost(1), 3);
        for rx in [&mut sent, &mut collided, &mut unsent] {
            assert!(matches!(
                rx.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ));
        }
        t.sent(1);
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(queued.try_recv().is_ok(), "the queued one keeps its waiter");
    }

    #[test]
    fn packet_size_counts_the_fixed_header() {
        // 1 + 1 length byte + 2 + 1 + 2 + 3.
        assert_eq!(publish_packet_size("t", 3), 10);
        // Remaining length 16384 takes three bytes.
        assert_eq!(publish_packet_size("t", 16_384 - 5), 1 + 3 + 16_384);
        assert_eq!(publish_packet_size("t", 16_384 - 6), 1 + 2 + 16_383);
    }

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
