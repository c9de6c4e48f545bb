//! The Global Broker's monitoring events about the centre (optional, with
//! `WIS2_MONITOR_BROKER_URL`, as `wis2-publish`'s monitor mode): the console follows
//! `monitor/a/wis2/<centre-id>/#` on its own connection there, records each event with
//! the message of ours it names (by message id or data_id), and shows it.

use std::sync::Arc;

use wis2::monitor::MonitoringEvent;
use wis2_bus::monitor::MonitorConfig;
use wis2_bus::{Bus, ConnectOptions};

use crate::http::{App, Live};
use crate::journal::MonitorView;

/// Follows the events until the connection is closed; returns its bus and task.
pub fn follow(cfg: &MonitorConfig, app: Arc<App>) -> (Bus, tokio::task::JoinHandle<()>) {
    tracing::info!(monitor = %cfg.broker.redacted_url(), filter = cfg.filter, "following the Global Broker's monitoring events");
    let conn = Bus::connect(ConnectOptions::new(
        cfg.broker.mqtt_options(&cfg.client_id),
        vec![cfg.filter.clone()],
    ));
    let bus = conn.bus.clone();
    let mut deliveries = conn.deliveries;
    let reader = bus.clone();
    tokio::spawn(async move {
        while let Some(d) = deliveries.recv().await {
            match MonitoringEvent::parse(&d.payload) {
                Ok(e) => {
                    let store = app.store.clone();
                    let refs = e.references.clone();
                    let ours = tokio::task::spawn_blocking(move || store.ours(&refs))
                        .await
                        .ok()
                        .flatten();
                    let view = MonitorView {
                        id: e.id.clone(),
                        received: wis2::message::rfc3339(&chrono::Utc::now()),
                        time: e.time.clone(),
                        problem: e.is_problem(),
                        kind: e.kind,
                        source: e.source,
                        subject: e.subject,
                        detail: e.detail,
                        message_id: ours.as_ref().map(|p| p.message_id.clone()),
                        data_id: ours.map(|p| p.data_id),
                    };
                    let store = app.store.clone();
                    let saved = view.clone();
                    match tokio::task::spawn_blocking(move || store.record_monitor(&saved)).await {
                        Ok(Ok(())) => {
                            let _ = app.live.send(Live::Monitor(view));
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "cannot record a monitoring event")
                        }
                        Err(e) => tracing::warn!(error = %e, "recording crashed"),
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = d.topic, error = %e, "not a WIS2 monitoring event: ignored");
                }
            }
            if let Err(e) = reader.ack(&d).await {
                tracing::debug!(error = %e, "monitoring event not acknowledged (it comes again)");
            }
        }
    });
    (bus, conn.task)
}
