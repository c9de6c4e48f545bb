//! The MQTT connection of a service: one task owns and polls the rumqttc event loop
//! ([`crate::event_loop`]); everything else talks to it through [`Bus`].
//!
//! - QoS 1 everywhere, persistent session (fixed client id, clean session off), manual
//!   acknowledgements: the broker redelivers what a service received but did not
//!   acknowledge.
//! - [`Bus::publish`] returns only once the broker has acknowledged the message
//!   (PUBACK; see [`crate::acks`] for how a PUBACK finds its publish).
//! - On errors the loop backs off (capped exponential, with jitter) and polls again,
//!   which reconnects; when the broker has no session it subscribes again.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::acks::{AckTracker, lock};
use crate::delivery::Delivery;
pub use crate::event_loop::Session;
pub use crate::event_loop::backoff;
use crate::event_loop::{LoopState, Signals, event_loop};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::status::{State, Status};

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
    session_rx: watch::Receiver<Session>,
    /// The service and client id whose status this connection keeps on
    /// `chain/status/<service>`.
    status: Option<(String, String)>,
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
    /// The service whose status this connection keeps on `chain/status/<service>`
    /// (retained `online` once subscribed, `offline` as last will and at close): the
    /// main connection of a service, not its helpers' (see [`crate::status`]).
    pub status: Option<String>,
}

impl ConnectOptions {
    pub fn new(mqtt: MqttOptions, subscriptions: Vec<String>) -> Self {
        ConnectOptions {
            mqtt,
            subscriptions,
            ack_timeout: Duration::from_secs(60),
            health_addr: None,
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            status: None,
        }
    }
}

impl Bus {
    /// Starts the connection task. It connects (and keeps reconnecting) in the
    /// background; a service started before its broker simply waits.
    pub fn connect(opts: ConnectOptions) -> Connection {
        let mut mqtt = opts.mqtt.clone();
        let status = opts
            .status
            .clone()
            .map(|service| (service, mqtt.client_id()));
        if let Some((service, client_id)) = &status {
            let offline = Status::new(service, State::Offline, client_id);
            mqtt.set_last_will(rumqttc::LastWill::new(
                crate::status::topic(service),
                offline.to_vec(),
                QoS::AtLeastOnce,
                true,
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(mqtt, 1024);
        // Without TCP_NODELAY a small publish waits behind Nagle's algorithm for the
        // broker's delayed ACK of the previous one: about 40 ms per hop (e2e
        // saturation 250 files/s with every service under 20 % CPU).
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (tx, rx) = mpsc::unbounded_channel();
        let (connected_tx, connected_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let (session_tx, session_rx) = watch::channel(Session::default());
        let tracker = Arc::new(std::sync::Mutex::new(AckTracker::default()));
        let stats = Arc::new(Metrics::new());
        let (closing, closing_rx) = watch::channel(false);
        let task = tokio::spawn(event_loop(
            eventloop,
            LoopState::new(
                client.clone(),
                opts.subscriptions.clone(),
                tx,
                tracker.clone(),
                stats.clone(),
                Signals {
                    connected: connected_tx,
                    ready: ready_tx,
                    session: session_tx,
                },
            ),
            closing_rx,
        ));
        if let Some(addr) = opts.health_addr {
            crate::health::serve(
                addr,
                Health {
                    connected: connected_rx.clone(),
                    ready: ready_rx.clone(),
                    metrics: stats.clone(),
                },
            );
        }
        let bus = Bus {
            client,
            tracker,
            order: Arc::new(Mutex::new(())),
            stats,
            connected_rx,
            ready_rx,
            session_rx,
            status,
            ack_timeout: opts.ack_timeout,
            max_packet_bytes: opts.max_packet_bytes,
            closing: Arc::new(closing),
        };
        if bus.status.is_some() {
            tokio::spawn(bus.clone().keep_status());
        }
        Connection {
            bus,
            deliveries: rx,
            task,
        }
    }

    /// Publishes the status `online` (retained) each time the connection is ready
    /// (connected and subscribed): the broker knows the session again. Ends with the
    /// connection.
    async fn keep_status(self) {
        let Some((service, client_id)) = self.status.clone() else {
            return;
        };
        let topic = crate::status::topic(&service);
        let mut ready = self.ready_rx.clone();
        loop {
            if ready.wait_for(|r| *r).await.is_err() || *self.closing.borrow() {
                return;
            }
            let online = Status::new(&service, State::Online, &client_id);
            match self.publish_nowait_as(&topic, online.to_vec(), true).await {
                Ok(done) => {
                    if let Err(e) = self.wait_ack(&topic, done).await {
                        debug!(error = %e, "status not acknowledged; published again at the next connection");
                    }
                }
                Err(e) => debug!(error = %e, "cannot publish the status"),
            }
            if ready.wait_for(|r| !*r).await.is_err() {
                return;
            }
        }
    }

    /// What `/healthz` and `/metrics` report of this connection.
    pub fn health(&self) -> Health {
        Health {
            connected: self.connected_rx.clone(),
            ready: self.ready_rx.clone(),
            metrics: self.stats.clone(),
        }
    }

    /// The session of the current connection; changes at every CONNACK.
    pub fn session(&self) -> watch::Receiver<Session> {
        self.session_rx.clone()
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
        self.publish_nowait_as(topic, payload.into(), false).await
    }

    /// [`Bus::publish_nowait`], retained or not.
    async fn publish_nowait_as(
        &self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<oneshot::Receiver<()>, BusError> {
        self.check_size(topic, payload.len())?;
        let (done_tx, done_rx) = oneshot::channel();
        let _order = self.order.lock().await;
        lock(&self.tracker).queued.push_back(done_tx);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
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
        match d.ack_packet() {
            Some(p) => self.client.ack(p).await.map_err(Into::into),
            None => Ok(()),
        }
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

    /// Closes the connection: [`Bus::disconnect`], then waits for its event loop
    /// `task` to end, at most [`CLOSE_WAIT`] (a broker that does not answer is not
    /// waited for longer: what was not acknowledged is redelivered).
    pub async fn close(&self, task: JoinHandle<()>) {
        // A clean DISCONNECT does not fire the last will: say `offline` first.
        if let Some((service, client_id)) = &self.status
            && self.is_connected()
        {
            let topic = crate::status::topic(service);
            let offline = Status::new(service, State::Offline, client_id);
            if let Ok(done) = self.publish_nowait_as(&topic, offline.to_vec(), true).await {
                let _ = tokio::time::timeout(CLOSE_WAIT, done).await;
            }
        }
        self.disconnect().await;
        if tokio::time::timeout(CLOSE_WAIT, task).await.is_err() {
            debug!("the event loop did not end in time after DISCONNECT");
        }
    }
}

/// How long [`Bus::close`] waits for the DISCONNECT to go out.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

impl Connection {
    /// [`Bus::close`] of this connection.
    pub async fn close(self) {
        self.bus.close(self.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_size_counts_the_fixed_header() {
        // 1 + 1 length byte + 2 + 1 + 2 + 3.
        assert_eq!(publish_packet_size("t", 3), 10);
        // Remaining length 16384 takes three bytes.
        assert_eq!(publish_packet_size("t", 16_384 - 5), 1 + 3 + 16_384);
        assert_eq!(publish_packet_size("t", 16_384 - 6), 1 + 2 + 16_383);
    }
}
