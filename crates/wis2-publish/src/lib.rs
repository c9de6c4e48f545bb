//! # wis2-publish: validated messages onto the WIS2 topic
//!
//! Publishes each validated message on its WIS2 topic at QoS 1, retain off, and
//! waits for the broker's acknowledgement; then records it, hands it to the remote
//! WIS2 broker when one is configured, writes it to the output file or folder, and
//! only then confirms it on the internal confirmation topic (so `wis2-watch` drops
//! the file from its pending list). A confirmation sent with the message, before its
//! PUBACK, could reach wis2-watch while the message itself is lost with a killed
//! broker: the file would then never be announced again.
//!
//! ## Once and only once on the WIS2 topic
//! - [`store`] (`<WIS2_STATE_DIR>/published.redb`) keeps, per `data_id`, the state it
//!   was last published in — the key (data_id, integrity value or "deletion", rel) —
//!   and, per message id, an audit entry (topic, pubtime, time acknowledged).
//! - `handle` checks the store and an in-memory in-flight set (same key, same message
//!   id) under one lock: a redelivered message (same id), or the same state again (a
//!   re-announcement), is not published; when it is already recorded its
//!   confirmation is sent (when its original is still in flight, the original's
//!   confirmation will be), and the input is acknowledged ("duplicate suppressed" at
//!   info). A changed file (new integrity,
//!   `rel=update`) and a file created again after a deletion are published.
//!   Periodic re-announcements (`Envelope::reannounce`) skip the state check, not the
//!   message-id check.
//! - The record is written in `Handler::acknowledged`: after the PUBACK, before the
//!   input is acknowledged. A crash in between (a message on the WIS2 topic that the
//!   store does not know, its input redelivered) is covered by [`echo`]: the WIS2
//!   topic is read back on a second persistent session, and the next start records
//!   what it finds there before taking input. If the WIS2 PUBACK is lost with the
//!   connection but the message was read back, it is recorded as published.
//! - Two different states of one data_id in flight at once are both published, in the
//!   order the concurrent handlers reach the broker (`--concurrency 1` for strict order).
//! - The store belongs to one instance: do not scale wis2-publish out with shared
//!   subscriptions (each replica would have its own record).
//!
//! ## Remote WIS2 broker
//! See [`remote`]: a persistent, bounded outbox drained in arrival order; the newest
//! message is dropped (error log naming it) when it is full; never blocks local work.
//!
//! ## Output copies
//! See [`output`]: written after the PUBACK and the record; a failed write is queued
//! (on disk, bounded) and retried, the input is acknowledged anyway.
//!
//! ## Dead letters
//! See [`replay`]: `wis2-publish replay` re-injects them, checking the broker ACL first.

pub mod echo;
pub mod monitor;
pub mod output;
pub mod queue;
pub mod remote;
pub mod replay;
pub mod store;

use std::collections::HashMap;
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
    /// INSECURE: accept any TLS certificate from the remote broker (anyone on the path
    /// can impersonate it and read the credentials); give --remote-ca-file instead.
    #[arg(
        long = "remote-insecure-skip-tls-verify",
        env = "WIS2_REMOTE_INSECURE_SKIP_TLS_VERIFY",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub remote_insecure_skip_tls_verify: bool,
    /// MQTT client id at the remote broker.
    #[arg(
        long = "remote-client-id",
        env = "WIS2_REMOTE_CLIENT_ID",
        default_value = "wis2-publish"
    )]
    pub remote_client_id: String,
    /// Remote broker user (overrides the one in the URL).
    #[arg(long = "remote-user", env = "WIS2_REMOTE_USER")]
    pub remote_user: Option<String>,
    /// File holding the remote broker password (overrides the one in the URL).
    #[arg(long = "remote-password-file", env = "WIS2_REMOTE_PASSWORD_FILE")]
    pub remote_password_file: Option<PathBuf>,
    /// Messages kept (on disk, in `<state-dir>/remote-outbox.redb`) for the remote
    /// broker while it is unreachable; when full, newer messages are not forwarded.
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
    pub runtime: wis2_bus::RuntimeArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub monitor: monitor::MonitorArgs,
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
    /// Folder of the durable state: `published.redb` (what was published: duplicate
    /// suppression and audit), `remote-outbox.redb`, `output-retry.redb`.
    #[arg(
        long = "state-dir",
        env = "WIS2_STATE_DIR",
        default_value = ".wis2-state"
    )]
    pub state_dir: PathBuf,
    /// Failed WIS2_OUTPUT writes kept for a retry (on disk); when full, the copy of a
    /// newer message is dropped (the message itself is published and recorded).
    #[arg(
        long = "output-retry",
        env = "WIS2_OUTPUT_RETRY",
        default_value_t = 1000
    )]
    pub output_retry: usize,
    /// Milliseconds between retries of failed WIS2_OUTPUT writes.
    #[arg(
        long = "output-retry-ms",
        env = "WIS2_OUTPUT_RETRY_MS",
        default_value_t = 10_000
    )]
    pub output_retry_ms: u64,
}

struct PublishStage {
    published_topic: String,
    output: Option<output::OutputWriter>,
    remote: Option<remote::RemoteOutbox>,
    store: store::PublishedStore,
    inflight: Mutex<Inflight>,
    /// Notified whenever a message leaves the in-flight set (recorded or failed).
    settled: std::sync::Condvar,
}

/// How long a duplicate waits for the outcome of its original in flight.
const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What is being published right now (between `handle` and `acknowledged`), so that
/// two deliveries of the same message or state in flight at once publish it once.
#[derive(Default)]
struct Inflight {
    /// Message ids being published → arrival order of the delivery publishing it.
    ids: HashMap<String, u64>,
    /// (data_id, integrity or "deletion", rel) → message id being published.
    keys: HashMap<String, String>,
    /// Message ids of deliveries handled as duplicates, waiting for their
    /// confirmation's PUBACK (a count: the same id can be redelivered more than once).
    duplicates: HashMap<String, usize>,
    /// Message ids in flight already read back from the WIS2 topic by [`echo`]: if
    /// their PUBACK is lost, they were published all the same. The senders are
    /// dropped once the message is recorded: the read-back acknowledges its copy
    /// then, so that a crash before the record leaves that copy in its session.
    echoed: HashMap<String, Vec<tokio::sync::oneshot::Sender<()>>>,
    /// Confirmations of duplicates that arrived before their original (message id
    /// in flight): sent with the original's once it is recorded.
    followers: HashMap<String, Vec<Output>>,
}

impl Inflight {
    /// Whether `p` is the delivery that publishes its message (not a duplicate of
    /// it): the one whose arrival order the in-flight entry holds.
    fn is_original(&self, p: &Parsed) -> bool {
        self.ids.get(&p.id) == Some(&p.seq)
    }

    /// Whether a message of `data_id` is being published.
    fn publishes(&self, data_id: &str) -> bool {
        self.keys
            .keys()
            .any(|k| k.split('\u{1f}').next() == Some(data_id))
    }

    fn release(&mut self, p: &Parsed) {
        self.ids.remove(&p.id);
        self.followers.remove(&p.id);
        self.echoed.remove(&p.id);
        let key = p.key();
        if self.keys.get(&key) == Some(&p.id) {
            self.keys.remove(&key);
        }
    }

    /// Takes one duplicate delivery of `id`; false when there is none.
    fn take_duplicate(&mut self, id: &str) -> bool {
        match self.duplicates.get_mut(id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.duplicates.remove(id);
                true
            }
            None => false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The parts of a message the stage needs.
#[derive(Clone)]
struct Parsed {
    env: Envelope,
    fields: Fields,
    /// Arrival order of the delivery ([`Delivery::seq`]).
    seq: u64,
}

impl std::ops::Deref for Parsed {
    type Target = Fields;
    fn deref(&self) -> &Fields {
        &self.fields
    }
}

impl Parsed {
    /// The duplicate key: (data_id, integrity value or "deletion", rel).
    fn key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            self.data_id,
            self.state().unwrap_or("deletion"),
            self.rel
        )
    }
}

/// The fields of a WNM the stage keys on.
#[derive(Clone)]
struct Fields {
    id: String,
    data_id: String,
    rel: String,
    integrity: Option<String>,
    pubtime: String,
}

impl Fields {
    /// Reads them from the message JSON ([`wis2::message::Keys`]: only these fields
    /// are decoded; the read-back runs this for every message too); the message needs
    /// an `id` and a `data_id`.
    fn of(message: &[u8]) -> Result<Fields, Failure> {
        let k = wis2::message::Keys::parse(message).map_err(|e| {
            Failure::new(format!(
                "the message is not a WIS2 notification message ({e}); send it through wis2-validate"
            ))
        })?;
        let owned =
            |v: Option<std::borrow::Cow<str>>| v.map(|v| v.into_owned()).unwrap_or_default();
        let f = Fields {
            id: owned(k.id),
            data_id: owned(k.data_id),
            rel: k
                .rel
                .unwrap_or(wis2::message::Relation::Canonical)
                .to_string(),
            integrity: k.integrity.map(|v| v.into_owned()),
            pubtime: owned(k.pubtime),
        };
        if f.id.is_empty() || f.data_id.is_empty() {
            return Err(Failure::new(
                "the message has no `id` or no `properties.data_id`: it cannot be published once and only once; send it through wis2-validate",
            ));
        }
        Ok(f)
    }

    /// The integrity the store compares: none for a deletion, whatever it carries.
    fn state(&self) -> Option<&str> {
        if self.rel == "deletion" {
            None
        } else {
            self.integrity.as_deref()
        }
    }

    /// This message (`message`, its JSON text) as the remote outbox and the output
    /// copies keep it.
    fn queued(&self, topic: &str, message: &[u8]) -> queue::Queued {
        queue::Queued {
            topic: topic.to_string(),
            message_id: self.id.clone(),
            data_id: self.data_id.clone(),
            message: String::from_utf8_lossy(message).into_owned(),
        }
    }

    /// The store record of this message, published on `topic`.
    fn record(&self, topic: &str) -> store::Published {
        store::Published {
            integrity: self.state().map(str::to_string),
            rel: self.rel.clone(),
            message_id: self.id.clone(),
            topic: topic.to_string(),
            pubtime: self.pubtime.clone(),
            published_at: wis2::message::rfc3339(&chrono::Utc::now()),
            data_id: self.data_id.clone(),
        }
    }
}

/// [`parse`], made once per delivery for all the stage's steps (log span, handle,
/// acknowledgement steps).
fn parsed(d: &Delivery) -> Result<std::borrow::Cow<'_, Parsed>, Failure> {
    match d.prepared(parse) {
        Some(Ok(p)) => Ok(std::borrow::Cow::Borrowed(p)),
        Some(Err(f)) => Err(f.clone()),
        None => parse(d).map(std::borrow::Cow::Owned),
    }
}

fn parse(d: &Delivery) -> Result<Parsed, Failure> {
    let env = Envelope::parse(&d.payload).map_err(|e| Failure::new(e.to_string()))?;
    if !env.topic.starts_with("origin/a/wis2/") {
        return Err(Failure::new(format!(
            "topic `{}` is not a WIS2 origin topic: publish under origin/a/wis2/<centre-id>/",
            env.topic
        )));
    }
    let fields = Fields::of(env.message_bytes())?;
    Ok(Parsed {
        env,
        fields,
        seq: d.seq,
    })
}

impl PublishStage {
    /// Whether `p` was published already, and why. A delivery whose message (same
    /// id, or same state) is being published waits for that one's outcome (at most
    /// [`IN_FLIGHT_WAIT`]): once it is recorded this one is its duplicate and is
    /// confirmed; if it failed, this one is published. Registers `p` as in flight when
    /// it is new. Holds the in-flight lock across the store lookup so two deliveries
    /// of one message cannot both pass.
    fn claim(&self, p: &Parsed) -> Result<Claim, Failure> {
        let mut inflight = lock(&self.inflight);
        let key = p.key();
        let deadline = std::time::Instant::now() + IN_FLIGHT_WAIT;
        loop {
            let (why, original, seq) = if let Some(seq) = inflight.ids.get(&p.id) {
                ("redelivered message: being published", p.id.clone(), *seq)
            } else if !p.env.reannounce
                && let Some((id, seq)) = inflight
                    .keys
                    .get(&key)
                    .and_then(|id| Some((id.clone(), *inflight.ids.get(id)?)))
            {
                ("same data_id, integrity and rel: being published", id, seq)
            } else {
                break;
            };
            let now = std::time::Instant::now();
            // Waiting is safe only behind an original that arrived earlier: the stage
            // finishes deliveries in arrival order, so a later one cannot be finished
            // while this one waits. Behind a later one, this delivery's confirmation
            // goes out with the original's, once that one is recorded.
            if seq >= p.seq || now >= deadline {
                *inflight.duplicates.entry(p.id.clone()).or_default() += 1;
                let confirmation = self.confirmation(p);
                inflight
                    .followers
                    .entry(original)
                    .or_default()
                    .push(confirmation);
                return Ok(Claim::InFlight(why));
            }
            inflight = self
                .settled
                .wait_timeout(inflight, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if p.rel == "deletion" && !inflight.publishes(&p.data_id) {
            let known = self
                .store
                .last(&p.data_id)
                .map_err(|e| Failure::new(e.to_string()))?;
            if known.is_none() {
                // A file deleted before it was ever published (wis2-watch announces
                // the deletion of what it announced): nothing on the WIS2 topic to
                // delete. Confirmed, so that wis2-watch forgets the file.
                *inflight.duplicates.entry(p.id.clone()).or_default() += 1;
                return Ok(Claim::Published(
                    "deletion of a data_id never published: nothing to delete",
                ));
            }
        }
        let claim = match self
            .store
            .check(&p.id, &p.data_id, p.state(), &p.rel, !p.env.reannounce)
            .map_err(|e| Failure::new(e.to_string()))?
        {
            store::Seen::New => Claim::New,
            store::Seen::SameMessage(_) => {
                Claim::Published("redelivered message: already published")
            }
            store::Seen::SameState(_) => {
                Claim::Published("same data_id, integrity and rel: already published")
            }
        };
        if matches!(claim, Claim::New) {
            inflight.ids.insert(p.id.clone(), p.seq);
            inflight.keys.insert(key, p.id.clone());
        } else {
            *inflight.duplicates.entry(p.id.clone()).or_default() += 1;
        }
        Ok(claim)
    }

    /// Takes `p` out of the in-flight set and wakes the duplicates waiting for it.
    fn release(&self, p: &Parsed) {
        lock(&self.inflight).release(p);
        self.settled.notify_all();
    }

    /// The confirmation of `p` for wis2-watch.
    fn confirmation(&self, p: &Parsed) -> Output {
        let confirmation = Confirmation {
            event_id: p.env.event_id.clone(),
            path: p.env.path.clone(),
            topic: p.env.topic.clone(),
            message_id: p.id.clone(),
            data_id: p.data_id.clone(),
            rel: p.rel.clone(),
        };
        Output::new(
            self.published_topic.clone(),
            serde_json::to_vec(&confirmation).unwrap_or_default(),
        )
    }
}

/// What [`PublishStage::claim`] found.
enum Claim {
    /// Not published: publish it.
    New,
    /// Published and recorded already (or nothing to publish: the deletion of a
    /// data_id never published): confirm it.
    Published(&'static str),
    /// Its original is still being published: not published again; confirmed
    /// with the original once that one is recorded.
    InFlight(&'static str),
}

impl Handler for PublishStage {
    fn stage(&self) -> &'static str {
        "wis2-publish"
    }

    fn describe(&self, d: &Delivery) -> String {
        match parsed(d) {
            Ok(p) => format!(
                "event_id={} message_id={} data_id={}",
                p.env.event_id.as_deref().unwrap_or_default(),
                p.id,
                p.data_id
            ),
            Err(_) => String::new(),
        }
    }

    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure> {
        let p = parsed(d)?;
        let (why, outputs) = match self.claim(&p)? {
            Claim::New => {
                return Ok(vec![Output::new(
                    p.env.topic.clone(),
                    p.env.message_bytes().to_vec(),
                )]);
            }
            Claim::Published(why) => (why, vec![self.confirmation(&p)]),
            Claim::InFlight(why) => (why, Vec::new()),
        };
        tracing::info!(
            message_id = p.id,
            data_id = p.data_id,
            rel = p.rel,
            why,
            "duplicate suppressed: not published again"
        );
        Ok(outputs)
    }

    fn not_acknowledged(&self, d: &Delivery) {
        let Ok(p) = parsed(d) else { return };
        let mut inflight = lock(&self.inflight);
        if inflight.is_original(&p) {
            if inflight.echoed.contains_key(&p.id) {
                // Read back from the WIS2 topic: it is published, whatever became of
                // the PUBACK. Recorded as such, so its redelivery is not sent again.
                drop(inflight);
                self.after_publication(
                    &p.env.topic,
                    &p,
                    p.env.message_bytes(),
                    Some(&p),
                    "published (read back from the WIS2 topic; its PUBACK was lost)",
                    true,
                );
                return;
            }
            drop(inflight);
            self.release(&p);
        } else {
            inflight.take_duplicate(&p.id);
        }
    }

    fn has_ordered_step(&self) -> bool {
        self.remote.is_some()
    }

    /// The remote outbox, in the order the messages arrived (the records and output
    /// copies of several messages are then written concurrently). First, so that a
    /// crash before the record publishes it again rather than never forwarding it.
    fn acknowledged_in_order(&self, d: &Delivery) {
        let Some(remote) = &self.remote else { return };
        let Ok(p) = parsed(d) else { return };
        if !lock(&self.inflight).is_original(&p) {
            return; // a duplicate: only its confirmation went out
        }
        remote.push(&p.queued(&p.env.topic, p.env.message_bytes()));
    }

    /// The record, the output copy, then the confirmation (sent by the stage once
    /// this returns, and awaited before the input is acknowledged).
    fn acknowledged(&self, d: &Delivery) -> Vec<Output> {
        self.acknowledged_many(std::slice::from_ref(d))
            .pop()
            .unwrap_or_default()
    }

    /// As [`Handler::acknowledged`], the records of all in one transaction.
    fn acknowledged_many(&self, ds: &[Delivery]) -> Vec<Vec<Output>> {
        let mut follow_ups = vec![Vec::new(); ds.len()];
        let mut published = Vec::with_capacity(ds.len());
        for (i, d) in ds.iter().enumerate() {
            let Ok(p) = parsed(d) else { continue };
            let mut inflight = lock(&self.inflight);
            if inflight.is_original(&p) {
                published.push((i, p));
            } else {
                // A duplicate: its confirmation, if any, went out with it.
                inflight.take_duplicate(&p.id);
            }
        }
        let records: Vec<(String, store::Published)> = published
            .iter()
            .map(|(_, p)| (p.data_id.clone(), p.record(&p.env.topic)))
            .collect();
        if let Err(e) = self.store.record_many(&records) {
            tracing::error!(error = %e, messages = records.len(), "cannot record publications: a redelivery of them would be published again");
        }
        for (i, p) in published {
            let mut confirmations = vec![self.confirmation(&p)];
            if let Some(more) = lock(&self.inflight).followers.remove(&p.id) {
                confirmations.extend(more);
            }
            // Forwarded to the remote outbox by the ordered step.
            self.recorded(
                &p.env.topic,
                &p,
                p.env.message_bytes(),
                Some(&p),
                "published",
            );
            follow_ups[i] = confirmations;
        }
        follow_ups
    }
}

impl PublishStage {
    /// What follows a message known to be on the WIS2 topic (acknowledged, or read
    /// back by [`echo`]): the remote outbox, the record, then the output copy.
    /// `release`: the in-flight entry to drop once recorded.
    fn after_publication(
        &self,
        topic: &str,
        f: &Fields,
        message: &[u8],
        release: Option<&Parsed>,
        what: &'static str,
        to_remote: bool,
    ) {
        // The remote outbox first: a crash before the store write then publishes it
        // again (at-least-once) rather than never forwarding it.
        if to_remote && let Some(remote) = &self.remote {
            remote.push(&f.queued(topic, message));
        }
        if let Err(e) = self.store.record(&f.data_id, &f.record(topic)) {
            tracing::error!(error = %e, message_id = f.id, "cannot record the publication: a redelivery of it would be published again");
        }
        self.recorded(topic, f, message, release, what);
    }

    /// What follows the record: the in-flight entry released, the log line, the
    /// output copy.
    fn recorded(
        &self,
        topic: &str,
        f: &Fields,
        message: &[u8],
        release: Option<&Parsed>,
        what: &'static str,
    ) {
        let event_id = release
            .and_then(|p| p.env.event_id.clone())
            .unwrap_or_default();
        if let Some(p) = release {
            self.release(p);
        }
        tracing::info!(
            topic,
            event_id,
            message_id = f.id,
            data_id = f.data_id,
            rel = f.rel,
            "{what}"
        );
        if let Some(out) = &self.output {
            out.write(&f.queued(topic, message));
        }
    }

    /// A message read back from the WIS2 topic. One in flight is marked as seen
    /// there; one neither in flight nor recorded was published by an earlier run that
    /// stopped before recording it (kill -9 between the PUBACK and the commit): it is
    /// recorded now, so that the redelivery of its input is not published again.
    fn echoed(&self, topic: &str, message: &[u8]) -> Echoed {
        // Every publication comes back here: only its id is read (no whole parse)
        // unless it turns out to be an orphan.
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
        }
        let Ok(Id { id }) = serde_json::from_slice::<Id>(message) else {
            return Echoed::Known;
        };
        let mut inflight = lock(&self.inflight);
        if inflight.ids.contains_key(id.as_ref()) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            inflight.echoed.entry(id.into_owned()).or_default().push(tx);
            return Echoed::InFlight(rx);
        }
        // The lock is held across the lookup and the record, as in `claim`.
        match self.store.message(&id) {
            Ok(None) => {}
            Ok(Some(_)) => return Echoed::Known,
            Err(e) => {
                tracing::warn!(error = %e, message_id = %id, "cannot look up a message read back from the WIS2 topic");
                return Echoed::Known;
            }
        }
        let Ok(f) = Fields::of(message) else {
            return Echoed::Known;
        };
        self.after_publication(
            topic,
            &f,
            message,
            None,
            "found on the WIS2 topic, published before a restart: recorded, not to be published again",
            true,
        );
        drop(inflight);
        Echoed::Orphan
    }
}

/// What a message read back from the WIS2 topic was.
pub(crate) enum Echoed {
    /// Recorded already (or not a WNM): acknowledge it.
    Known,
    /// Being published by this run: acknowledge it once the receiver completes (the
    /// record is then committed, or the run is over).
    InFlight(tokio::sync::oneshot::Receiver<()>),
    /// Published by an earlier run without a record: recorded now.
    Orphan,
}

/// Runs the service until `shutdown` completes.
pub async fn run(args: RunArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = store::PublishedStore::open(&args.state_dir)?;
    let monitor = monitor::Monitor::start(&args.monitor, store.clone())?;
    let output = args
        .output
        .as_ref()
        .map(|p| -> anyhow::Result<output::OutputWriter> {
            let target = output::OutputTarget::new(p.clone())?;
            Ok(output::OutputWriter::new(
                target,
                &args.state_dir.join("output-retry.redb"),
                args.output_retry as u64,
            )?)
        })
        .transpose()?;
    let remote = match &args.remote.remote_broker_url {
        Some(url) if !url.is_empty() => {
            Some(remote::RemoteOutbox::start(&args.remote, &args.state_dir)?)
        }
        _ => None,
    };
    tracing::info!(
        broker = %args.broker.redacted_url(),
        output = ?args.output,
        remote = remote.is_some(),
        state_dir = %args.state_dir.display(),
        published = store.len().unwrap_or(0),
        "wis2-publish starting"
    );
    let mut cfg = StageConfig::new(args.deadletter_topic.clone());
    cfg.deadletter_dir = args.deadletter_dir.clone();
    cfg.concurrency = args.concurrency.max(1);
    let (stop_retry, retry_task) = match &output {
        Some(out) => {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let every = std::time::Duration::from_millis(args.output_retry_ms.max(10));
            (
                Some(tx),
                Some(tokio::spawn(retry_output(out.clone(), every, rx))),
            )
        }
        None => (None, None),
    };
    let stage = Arc::new(PublishStage {
        published_topic: args.published_topic.clone(),
        output,
        remote: remote.clone(),
        store,
        inflight: Mutex::new(Inflight::default()),
        settled: std::sync::Condvar::new(),
    });
    // Read the WIS2 topic back first: what an earlier run published without
    // recording it is recorded before any input is taken (see [`echo`]).
    let echo_opts =
        echo::options(&args.broker, "wis2-publish").context("invalid broker settings")?;
    let main_opts = args
        .broker
        .service_connection("wis2-publish", vec![args.validated_topic.clone()])
        .context("invalid broker settings")?;
    let mut echo = echo::Echo::start(echo_opts, stage.clone());
    tokio::pin!(shutdown);
    let started = tokio::select! {
        _ = echo.caught_up() => true,
        _ = &mut shutdown => false,
    };
    let result = if started {
        wis2_bus::run_stage(Bus::connect(main_opts), stage, cfg, shutdown).await
    } else {
        Ok(())
    };
    echo.stop().await;
    if let Some(tx) = stop_retry {
        let _ = tx.send(true);
    }
    if let Some(task) = retry_task {
        let _ = task.await;
    }
    if let Some(remote) = remote {
        remote.shutdown().await;
    }
    if let Some(monitor) = monitor {
        monitor.stop().await;
    }
    result
}

/// Retries failed WIS2_OUTPUT writes every `every` until `stop`.
async fn retry_output(
    out: output::OutputWriter,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let o = out.clone();
        if let Ok(left) =
            tokio::task::spawn_blocking(move || if o.waiting() == 0 { 0 } else { o.retry() }).await
            && left > 0
        {
            tracing::debug!(
                waiting = left,
                "WIS2_OUTPUT writes still waiting for a retry"
            );
        }
    }
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
