//! # wis2-publish: validated messages onto the WIS2 topic
//!
//! Publishes each validated message on its WIS2 topic at QoS 1, retain off, and
//! waits for the broker's acknowledgement; then confirms it on the internal
//! confirmation topic (so `wis2-watch` can drop the file from its pending list),
//! writes it to the output file or folder, and hands it to the remote WIS2 broker
//! when one is configured.

pub mod output;
pub mod remote;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use wis2_bus::envelope::{Confirmation, Envelope};
use wis2_bus::{BrokerArgs, Bus, ConnectOptions, Delivery, Failure, Handler, Output, StageConfig};

/// Settings of the remote WIS2 broker (optional).
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Remote WIS2 broker URL (mqtt://, mqtts://, ws://, wss://); messages are also published there.
    #[arg(long = "remote-broker-url", env = "WIS2_REMOTE_BROKER_URL")]
    pub remote_broker_url: Option<String>,
    /// PEM file of the certificate authorities for the remote broker (default: system roots).
    #[arg(long = "remote-ca-file", env = "WIS2_REMOTE_CA_FILE")]
    pub remote_ca_file: Option<PathBuf>,
    /// MQTT client id at the remote broker.
    #[arg(
        long = "remote-client-id",
        env = "WIS2_REMOTE_CLIENT_ID",
        default_value = "wis2-publish"
    )]
    pub remote_client_id: String,
    /// Messages kept for the remote broker while it is unreachable.
    #[arg(
        long = "remote-outbox",
        env = "WIS2_REMOTE_OUTBOX",
        default_value_t = 10_000
    )]
    pub remote_outbox: usize,
}

/// Settings of the `run` service.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// File or folder (existing, or ending with `/`) where each published message is written.
    #[arg(long = "output", env = "WIS2_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Topic the validated messages arrive on.
    #[arg(long = "validated-topic", env = "WIS2_VALIDATED_TOPIC", default_value = wis2_bus::topics::VALIDATED)]
    pub validated_topic: String,
    /// Topic the confirmations go to.
    #[arg(long = "published-topic", env = "WIS2_PUBLISHED_TOPIC", default_value = wis2_bus::topics::PUBLISHED)]
    pub published_topic: String,
    /// Dead-letter topic.
    #[arg(long = "deadletter-topic", env = "WIS2_DEADLETTER_TOPIC", default_value = wis2_bus::topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// Folder where dead letters are also written.
    #[arg(long = "deadletter-dir", env = "WIS2_DEADLETTER_DIR")]
    pub deadletter_dir: Option<PathBuf>,
    /// Messages published at once.
    #[arg(long = "concurrency", env = "WIS2_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Folder of the durable record of what was published (duplicate suppression).
    #[arg(
        long = "state-dir",
        env = "WIS2_STATE_DIR",
        default_value = ".wis2-state"
    )]
    pub state_dir: PathBuf,
}

struct PublishStage {
    published_topic: String,
    output: Option<output::OutputTarget>,
    remote: Option<remote::RemoteOutbox>,
    store: store::PublishedStore,
    /// data_ids being published right now, with the message id.
    inflight: Mutex<HashMap<String, String>>,
    /// Message ids handled as duplicates, waiting for their confirmation's PUBACK.
    duplicates: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The parts of a message the stage needs.
struct Parsed {
    env: Envelope,
    id: String,
    data_id: String,
    rel: String,
    integrity: Option<String>,
    pubtime: String,
}

fn parse(d: &Delivery) -> Result<Parsed, Failure> {
    let env = Envelope::parse(&d.payload).map_err(|e| Failure::new(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(env.message_bytes())
        .map_err(|e| Failure::new(format!("message is not JSON: {e}")))?;
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let data_id = v["properties"]["data_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rel = v["links"]
        .as_array()
        .and_then(|links| {
            links.iter().find_map(|l| {
                l["rel"]
                    .as_str()
                    .filter(|r| matches!(*r, "canonical" | "update" | "deletion"))
            })
        })
        .unwrap_or("canonical")
        .to_string();
    if !env.topic.starts_with("origin/a/wis2/") {
        return Err(Failure::new(format!(
            "topic `{}` is not a WIS2 origin topic: publish under origin/a/wis2/<centre-id>/",
            env.topic
        )));
    }
    let integrity = v["properties"]["integrity"]["value"]
        .as_str()
        .map(str::to_string);
    let pubtime = v["properties"]["pubtime"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Parsed {
        env,
        id,
        data_id,
        rel,
        integrity,
        pubtime,
    })
}

impl Handler for PublishStage {
    fn stage(&self) -> &'static str {
        "wis2-publish"
    }

    fn describe(&self, d: &Delivery) -> String {
        match parse(d) {
            Ok(p) => format!(
                "event_id={} message_id={} data_id={}",
                p.env.event_id.unwrap_or_default(),
                p.id,
                p.data_id
            ),
            Err(_) => String::new(),
        }
    }

    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure> {
        let p = parse(d)?;
        // Deletions are keyed as "no integrity", whatever the message carries.
        let state = if p.rel == "deletion" {
            None
        } else {
            p.integrity.as_deref()
        };
        let duplicate = !p.env.reannounce
            && (lock(&self.inflight).contains_key(&p.data_id)
                || self
                    .store
                    .is_duplicate(&p.data_id, state)
                    .map_err(|e| Failure::new(e.to_string()))?);
        let confirmation = Confirmation {
            event_id: p.env.event_id.clone(),
            path: p.env.path.clone(),
            topic: p.env.topic.clone(),
            message_id: p.id.clone(),
            data_id: p.data_id.clone(),
            rel: p.rel.clone(),
        };
        let confirm = Output::new(
            self.published_topic.clone(),
            serde_json::to_vec(&confirmation).unwrap_or_default(),
        );
        if duplicate {
            tracing::info!(
                data_id = p.data_id,
                "already published in this state: duplicate suppressed, confirmation only"
            );
            lock(&self.duplicates).insert(p.id.clone());
            return Ok(vec![confirm]);
        }
        lock(&self.inflight).insert(p.data_id.clone(), p.id.clone());
        Ok(vec![
            Output::new(p.env.topic.clone(), p.env.message_bytes().to_vec()),
            confirm,
        ])
    }

    fn not_acknowledged(&self, d: &Delivery) {
        let Ok(p) = parse(d) else { return };
        lock(&self.duplicates).remove(&p.id);
        let mut inflight = lock(&self.inflight);
        if inflight.get(&p.data_id) == Some(&p.id) {
            inflight.remove(&p.data_id);
        }
    }

    fn acknowledged(&self, d: &Delivery) {
        let Ok(p) = parse(d) else { return };
        if lock(&self.duplicates).remove(&p.id) {
            return;
        }
        let record = store::Published {
            integrity: if p.rel == "deletion" {
                None
            } else {
                p.integrity.clone()
            },
            rel: p.rel.clone(),
            message_id: p.id.clone(),
            topic: p.env.topic.clone(),
            pubtime: p.pubtime.clone(),
            published_at: wis2::message::rfc3339(&chrono::Utc::now()),
        };
        if let Err(e) = self.store.record(&p.data_id, &record) {
            tracing::error!(error = %e, "cannot record the publication: a redelivery of it would be published again");
        }
        {
            let mut inflight = lock(&self.inflight);
            if inflight.get(&p.data_id) == Some(&p.id) {
                inflight.remove(&p.data_id);
            }
        }
        tracing::info!(topic = p.env.topic, rel = p.rel, "published");
        if let Some(out) = &self.output
            && let Err(e) = out.write(&p.data_id, &p.id, p.env.message_bytes())
        {
            tracing::error!(error = %e, "cannot write the published message to WIS2_OUTPUT");
        }
        if let Some(remote) = &self.remote {
            remote.push(p.env.topic.clone(), p.env.message_bytes().to_vec());
        }
    }
}

/// Runs the service until `shutdown` completes.
pub async fn run(args: RunArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use anyhow::Context;
    let output = args
        .output
        .as_ref()
        .map(|p| output::OutputTarget::new(p.clone()))
        .transpose()?;
    let remote = match &args.remote.remote_broker_url {
        Some(url) if !url.is_empty() => Some(remote::RemoteOutbox::start(&args.remote)?),
        _ => None,
    };
    tracing::info!(broker = %args.broker.redacted_url(), output = ?args.output, remote = remote.is_some(), "wis2-publish starting");
    let conn = Bus::connect(
        args.broker
            .service_connection("wis2-publish", vec![args.validated_topic.clone()])
            .context("invalid broker settings")?,
    );
    let mut cfg = StageConfig::new(args.deadletter_topic.clone());
    cfg.deadletter_dir = args.deadletter_dir.clone();
    cfg.concurrency = args.concurrency.max(1);
    let store = store::PublishedStore::open(&args.state_dir)?;
    let stage = Arc::new(PublishStage {
        published_topic: args.published_topic.clone(),
        output,
        remote: remote.clone(),
        store,
        inflight: Mutex::new(HashMap::new()),
        duplicates: Mutex::new(HashSet::new()),
    });
    let result = wis2_bus::run_stage(conn, stage, cfg, shutdown).await;
    if let Some(remote) = remote {
        remote.shutdown().await;
    }
    result
}

/// Publishes one message on `topic` and returns after the broker's acknowledgement.
pub async fn publish_once(
    broker: &BrokerArgs,
    topic: &str,
    message: Vec<u8>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mqtt = broker
        .oneshot_options("wis2-publish")
        .context("invalid broker settings")?;
    let conn = Bus::connect(ConnectOptions::new(mqtt, vec![]));
    let bus = conn.bus;
    tokio::time::timeout(std::time::Duration::from_secs(30), bus.wait_connected())
        .await
        .with_context(|| {
            format!(
                "cannot connect to {} within 30 s: check WIS2_BROKER_URL and the credentials",
                broker.redacted_url()
            )
        })??;
    bus.publish(topic, message)
        .await
        .with_context(|| format!("publishing on {topic}"))?;
    bus.disconnect().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn.task).await;
    Ok(())
}
