//! Monitoring events of a Global Broker (optional): with `--monitor-broker-url`
//! (`WIS2_MONITOR_BROKER_URL`), `wis2-publish run` also subscribes there to
//! `monitor/a/wis2/<centre-id>/#` and logs every WIS2 Monitoring Event about the
//! centre: a warning when the event reports a problem (a discarded message, a record
//! failing the WCMP2 suite), information otherwise.
//!
//! Each event is matched against the publication store: when a string of its
//! `subject` or `data` is the id of a message this wis2-publish published, or a
//! `data_id` it published, the log line names that message id and data_id, so one
//! file can be followed from its file event to what the Global Services said of it.
//!
//! The connection is the monitor's own (client id `<centre-id>-wis2-publish-monitor`
//! by default, persistent session, so events sent while the service is down wait at
//! the Global Broker within its queue limit). An unreachable Global Broker changes
//! nothing else: the service publishes as before and reconnects in the background.
//! A payload that is not a monitoring event is logged (its first bytes) and ignored.

use tokio::sync::mpsc;
use wis2::monitor::MonitoringEvent;
use wis2_bus::{Bus, ConnectOptions, Delivery};

use crate::store::{Published, PublishedStore};

pub use wis2_bus::monitor::{MonitorArgs, MonitorConfig};

/// The running follower of the monitoring events.
pub struct Monitor {
    bus: Bus,
    task: tokio::task::JoinHandle<()>,
    conn_task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Connects (in the background) and starts logging.
    pub fn start(cfg: &MonitorConfig, store: PublishedStore) -> Monitor {
        tracing::info!(monitor = %cfg.broker.redacted_url(), filter = cfg.filter, "following the Global Broker's monitoring events");
        let conn = Bus::connect(ConnectOptions::new(
            cfg.broker.mqtt_options(&cfg.client_id),
            vec![cfg.filter.clone()],
        ));
        let task = tokio::spawn(follow(conn.bus.clone(), conn.deliveries, store));
        Monitor {
            bus: conn.bus,
            task,
            conn_task: conn.task,
        }
    }

    /// Disconnects and stops logging.
    pub async fn stop(self) {
        self.bus.close(self.conn_task).await;
        self.task.abort();
    }
}

async fn follow(
    bus: Bus,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
    store: PublishedStore,
) {
    let ready = bus.clone();
    tokio::spawn(async move {
        if ready.wait_ready().await.is_ok() {
            tracing::info!("subscribed to the Global Broker's monitoring events");
        }
    });
    while let Some(d) = deliveries.recv().await {
        report(&d, &store).await;
        if let Err(e) = bus.ack(&d).await {
            tracing::debug!(error = %e, "monitoring event not acknowledged (it comes again)");
        }
    }
}

/// The first bytes of a payload, for a log line.
fn head(payload: &[u8]) -> String {
    let n = payload.len().min(200);
    String::from_utf8_lossy(&payload[..n]).into_owned()
}

/// The publication of ours an event names: a message id first, then a data_id.
fn ours(store: &PublishedStore, references: &[String]) -> Option<Published> {
    references
        .iter()
        .find_map(|r| store.message(r).ok().flatten())
        .or_else(|| references.iter().find_map(|r| store.last(r).ok().flatten()))
}

async fn report(d: &Delivery, store: &PublishedStore) {
    let e = match MonitoringEvent::parse(&d.payload) {
        Ok(e) => e,
        Err(err) => {
            tracing::warn!(topic = d.topic, error = %err, payload = %head(&d.payload), "not a WIS2 monitoring event: logged and ignored");
            return;
        }
    };
    let (s, refs) = (store.clone(), e.references.clone());
    let found = tokio::task::spawn_blocking(move || ours(&s, &refs))
        .await
        .ok()
        .flatten();
    let (message_id, data_id) = match &found {
        Some(p) => (Some(p.message_id.as_str()), Some(p.data_id.as_str())),
        None => (None, None),
    };
    // One list of fields for both levels (tracing's level is part of the macro).
    // rustfmt leaves the body as written: it narrows its widths inside a macro body.
    #[rustfmt::skip]
    macro_rules! log_event {
        ($level:ident, $what:expr) => {
            tracing::$level!(
                topic = d.topic,
                event_id = e.id,
                r#type = e.kind,
                source = e.source,
                subject = e.subject.as_deref(),
                time = e.time.as_deref(),
                message_id,
                data_id,
                detail = e.detail,
                $what
            )
        };
    }
    match (e.is_problem(), found.is_some()) {
        (true, true) => log_event!(warn, "a Global Service reports a problem with our message"),
        (true, false) => log_event!(
            warn,
            "a Global Service reports a problem (no message published here is named in it)"
        ),
        (false, true) => log_event!(info, "monitoring event about our message"),
        (false, false) => log_event!(info, "monitoring event"),
    }
}
