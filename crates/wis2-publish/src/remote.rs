//! The remote WIS2 broker: messages published locally are also published there, from
//! a bounded outbox drained by its own task, so a broken remote broker never blocks
//! local processing. When the outbox is full the oldest local work is not held back:
//! the message is logged as not forwarded.

use std::sync::Arc;

use tokio::sync::mpsc;
use wis2_bus::{BrokerArgs, Bus, ConnectOptions};

use crate::RemoteArgs;

/// The sending side of the outbox queue; `None` once shut down.
type OutboxSender = Arc<std::sync::Mutex<Option<mpsc::Sender<(String, Vec<u8>)>>>>;

/// Handle of the remote outbox.
#[derive(Clone)]
pub struct RemoteOutbox {
    tx: OutboxSender,
    bus: Bus,
    task: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl RemoteOutbox {
    /// Connects (in the background) and starts draining.
    pub fn start(args: &RemoteArgs) -> anyhow::Result<Self> {
        use anyhow::Context;
        let url = args.remote_broker_url.clone().unwrap_or_default();
        let mut broker = BrokerArgs::from_url(&url);
        broker.ca_file = args.remote_ca_file.clone();
        broker.client_id = Some(args.remote_client_id.clone());
        let mqtt = broker
            .mqtt_options(&args.remote_client_id)
            .context("invalid WIS2_REMOTE_BROKER_URL")?;
        tracing::info!(remote = %broker.redacted_url(), "remote WIS2 broker configured");
        let conn = Bus::connect(ConnectOptions::new(mqtt, vec![]));
        let bus = conn.bus.clone();
        let (tx, mut rx) = mpsc::channel::<(String, Vec<u8>)>(args.remote_outbox.max(1));
        let drain_bus = bus.clone();
        let task = tokio::spawn(async move {
            while let Some((topic, payload)) = rx.recv().await {
                if let Err(e) = drain_bus.publish(&topic, payload).await {
                    tracing::warn!(error = %e, topic, "not forwarded to the remote broker");
                }
            }
        });
        Ok(RemoteOutbox {
            tx: Arc::new(std::sync::Mutex::new(Some(tx))),
            bus,
            task: Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
    }

    /// Queues a message for the remote broker; warns when the outbox is full.
    pub fn push(&self, topic: String, payload: Vec<u8>) {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else { return };
        match tx.try_send((topic, payload)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full((topic, _))) => tracing::warn!(
                topic,
                "remote outbox full (WIS2_REMOTE_OUTBOX): the remote broker is not keeping up or unreachable; message not forwarded"
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Drains what is queued (bounded) and disconnects.
    pub async fn shutdown(&self) {
        // Closing the sender lets the task finish once the queue is empty.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = self.task.lock().await.take()
            && tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .is_err()
        {
            tracing::warn!("remote outbox not drained within 5 s; unsent messages are dropped");
        }
        self.bus.disconnect().await;
    }
}
