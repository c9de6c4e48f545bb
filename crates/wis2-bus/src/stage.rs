//! The stage loop every service runs: receive → handle → publish results → wait for
//! the broker's acknowledgements → acknowledge the input. Failures go to the
//! dead-letter topic (and folder) with the stage and the reason; the service keeps
//! running.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::bus::{Bus, BusError, Connection, Delivery};

/// One message a handler wants published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Output {
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Output {
            topic: topic.into(),
            payload: payload.into(),
        }
    }
}

/// A delivery that could not be processed: why, and what to publish anyway (for
/// example the validation report on the rejected topic).
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: String,
    pub outputs: Vec<Output>,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            outputs: Vec::new(),
        }
    }

    pub fn with_output(mut self, o: Output) -> Self {
        self.outputs.push(o);
        self
    }
}

/// What a stage does with one delivery. `handle` may block (file I/O, hashing): it
/// runs on tokio's blocking pool, several deliveries that arrived together in one
/// task (see [`run_stage`]).
pub trait Handler: Send + Sync + 'static {
    /// Name of the stage, written into dead letters and logs.
    fn stage(&self) -> &'static str;
    /// Identifiers of the delivery for the log span (event id, message id, data_id).
    fn describe(&self, _d: &Delivery) -> String {
        String::new()
    }
    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure>;
    /// Whether [`Handler::handle`] is quick and never blocks (no file or network I/O,
    /// no waiting on a lock held across I/O): it then runs on the async worker itself
    /// rather than on the blocking pool, saving two thread hand-offs per delivery.
    fn quick(&self) -> bool {
        false
    }
    /// Called (on the blocking pool) once every output of a successfully handled
    /// delivery is acknowledged by the broker, before the delivery is acknowledged.
    /// Returns follow-up outputs: what must not go out before this step is done (a
    /// confirmation that the outputs are safely published and recorded). They are
    /// published then, and the delivery is acknowledged once they are acknowledged
    /// too; if one is not, the delivery stays unacknowledged for redelivery.
    fn acknowledged(&self, _d: &Delivery) -> Vec<Output> {
        Vec::new()
    }
    /// [`Handler::acknowledged`] for deliveries acknowledged together (in arrival
    /// order): one follow-up list per delivery. Override it to share work between
    /// them (one transaction for all their records).
    fn acknowledged_many(&self, ds: &[Delivery]) -> Vec<Vec<Output>> {
        ds.iter().map(|d| self.acknowledged(d)).collect()
    }
    /// Called (on the blocking pool) before [`Handler::acknowledged`], strictly in
    /// arrival order, one delivery at a time: for what must keep the order of the
    /// input (the `acknowledged` steps of several deliveries run concurrently).
    fn acknowledged_in_order(&self, _d: &Delivery) {}
    /// Whether [`Handler::acknowledged_in_order`] does anything (saves a hop per
    /// delivery when it does not).
    fn has_ordered_step(&self) -> bool {
        false
    }
    /// Called (on the blocking pool) when an output of a handled delivery was not
    /// acknowledged: the delivery stays unacknowledged for redelivery.
    fn not_acknowledged(&self, _d: &Delivery) {}
    /// Whether [`Handler::acknowledged_many`] or [`Handler::not_acknowledged`] do
    /// anything: when they do not, the stage acknowledges deliveries without a
    /// blocking-pool hop per batch. Override it to `false` only together with both.
    fn has_post_ack_step(&self) -> bool {
        true
    }
}

/// A message that could not be processed, as published on the dead-letter topic and
/// written to the dead-letter folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    pub stage: String,
    pub reason: String,
    pub time: String,
    /// Topic the original payload arrived on.
    pub topic: String,
    /// `utf-8` or `base64`.
    pub payload_encoding: String,
    pub payload: String,
    /// Set when `payload` holds only the beginning of the original, whose length in
    /// bytes this is: the letter on the topic must fit the broker's packet limit. The
    /// copy in the dead-letter folder is always whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<u64>,
}

/// Longest reason a dead letter keeps, in bytes. A reason that quotes its input back
/// (a JSON error quoting a 1 MB string, an unknown type of 1 MB) keeps its beginning
/// (what is wrong) and its end (how to fix it) and says how much it left out: the
/// input itself is in the payload, and a reason must stay readable in a log line.
pub const MAX_REASON_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes (when longer), keeping its beginning and its
/// end around a note of what was left out.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    // Room for the note (" [... N bytes left out ...] ").
    let budget = max.saturating_sub(48);
    let mut head = budget * 2 / 3;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (budget - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} [... {} bytes left out ...] {}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

impl DeadLetter {
    /// A dead letter of `payload`, received on `topic`; `reason` is kept up to
    /// [`MAX_REASON_BYTES`].
    pub fn new(stage: &str, reason: &str, topic: &str, payload: &[u8]) -> Self {
        use base64::Engine;
        let (payload_encoding, payload) = match std::str::from_utf8(payload) {
            Ok(s) => ("utf-8".to_string(), s.to_string()),
            Err(_) => (
                "base64".to_string(),
                base64::engine::general_purpose::STANDARD.encode(payload),
            ),
        };
        DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            stage: stage.to_string(),
            reason: shorten(reason, MAX_REASON_BYTES),
            time: wis2::message::rfc3339(&chrono::Utc::now()),
            topic: topic.to_string(),
            payload_encoding,
            payload,
            truncated_from: None,
        }
    }

    /// This letter as it can go on `topic` under a broker packet limit of `limit`
    /// bytes (0: none): whole when it fits, else with the payload cut to what fits and
    /// `truncated_from` set (and, if even an empty payload is too much, the reason
    /// shortened too).
    pub fn fitted(&self, topic: &str, limit: usize) -> DeadLetter {
        use base64::Engine;
        let fits = |dl: &DeadLetter| {
            serde_json::to_vec(dl)
                .map(|v| crate::bus::publish_packet_size(topic, v.len()) <= limit)
                .unwrap_or(false)
        };
        if limit == 0 || fits(self) {
            return self.clone();
        }
        let original = self.original();
        let mut cut = self.clone();
        cut.truncated_from = Some(original.len() as u64);
        // JSON escaping and base64 make the payload longer than the bytes kept:
        // start from an estimate and shrink until the letter fits.
        let mut keep = original.len().min(limit);
        loop {
            keep = if self.payload_encoding == "base64" {
                keep.min(limit / 4 * 3)
            } else {
                keep
            };
            cut.payload = if self.payload_encoding == "base64" {
                base64::engine::general_purpose::STANDARD.encode(&original[..keep])
            } else {
                let mut end = keep.min(self.payload.len());
                while !self.payload.is_char_boundary(end) {
                    end -= 1;
                }
                self.payload[..end].to_string()
            };
            if fits(&cut) {
                return cut;
            }
            if keep == 0 {
                break;
            }
            keep = keep * 9 / 10;
        }
        // Still too large with no payload at all: the reason is what takes the room.
        let mut max = cut.reason.len();
        while !fits(&cut) && max > 64 {
            max /= 2;
            cut.reason = shorten(&self.reason, max);
        }
        cut
    }

    /// The original payload bytes.
    pub fn original(&self) -> Vec<u8> {
        use base64::Engine;
        if self.payload_encoding == "base64" {
            base64::engine::general_purpose::STANDARD
                .decode(&self.payload)
                .unwrap_or_default()
        } else {
            self.payload.clone().into_bytes()
        }
    }

    /// Files the letter: writes it whole to `dir` (when given; a failure is logged,
    /// the topic still has it) and returns the body for `topic`, cut to the broker's
    /// packet limit `limit` when needed (see [`DeadLetter::fitted`]).
    pub async fn file(&self, dir: Option<&std::path::Path>, topic: &str, limit: usize) -> Vec<u8> {
        if let Some(dir) = dir {
            let dl = self.clone();
            let dir = dir.to_path_buf();
            match tokio::task::spawn_blocking(move || dl.write_to(&dir)).await {
                Ok(Ok(p)) => debug!(path = %p.display(), "dead letter written"),
                Ok(Err(e)) => {
                    error!(error = %e, "cannot write dead letter to folder (kept on the topic)")
                }
                Err(e) => error!(error = %e, "dead-letter writer crashed"),
            }
        }
        let on_topic = self.fitted(topic, limit);
        if let Some(n) = on_topic.truncated_from {
            warn!(
                payload_bytes = n,
                "dead letter too large for the broker: its payload is cut on the topic (whole in the dead-letter folder)"
            );
        }
        serde_json::to_vec(&on_topic).unwrap_or_default()
    }

    /// Writes the dead letter as `<dir>/<time>-<stage>-<id>.json`.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let stamp = self.time.replace([':', '-'], "");
        let path = dir.join(format!("{stamp}-{}-{}.json", self.stage, self.id));
        let tmp = dir.join(format!(".{}.tmp", self.id));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

/// Settings of the stage loop.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub deadletter_topic: String,
    pub deadletter_dir: Option<PathBuf>,
    /// Deliveries in hand at once (their outputs' acknowledgements are awaited in
    /// order). Those that arrive together are handled in a row by as many tasks as
    /// there are CPUs (at most 8 deliveries per task).
    pub concurrency: usize,
    /// How long shutdown waits for in-flight work and acknowledgements.
    pub drain_timeout: Duration,
}

impl StageConfig {
    pub fn new(deadletter_topic: impl Into<String>) -> Self {
        StageConfig {
            deadletter_topic: deadletter_topic.into(),
            deadletter_dir: None,
            concurrency: 16,
            drain_timeout: Duration::from_secs(8),
        }
    }
}

/// Outputs queued to the broker: each topic with the receiver that completes on its
/// PUBACK.
type Waiting = Vec<(String, oneshot::Receiver<()>)>;

/// A handled delivery: its outputs waiting for acknowledgement, whether it was
/// handled successfully (not dead-lettered), and when it arrived.
type Pending = (Delivery, Waiting, bool, std::time::Instant);

/// Runs a stage until `shutdown` completes, then stops taking input, waits (bounded)
/// for in-flight work and acknowledgements, and disconnects.
pub async fn run_stage<H: Handler>(
    conn: Connection,
    handler: Arc<H>,
    cfg: StageConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let Connection {
        bus,
        mut deliveries,
        task,
    } = conn;
    let cfg = Arc::new(cfg);
    // One receiver per delivery, in arrival order: it completes once the delivery is
    // handled and its outputs are queued.
    let (seq_tx, mut seq_rx) = mpsc::channel::<Handled>(cfg.concurrency.max(1));

    // The sequencer: waits for each delivery's outputs to be acknowledged, in arrival
    // order; then runs the handler's post-acknowledgement step and acknowledges the
    // delivery. Deliveries whose outputs are already acknowledged when the sequencer
    // reaches them go through that step together (one blocking task, and a handler
    // that writes a durable record per message commits them in one transaction); the
    // steps of successive batches run concurrently, each delivery acknowledged once
    // its own step is done.
    let seq_bus = bus.clone();
    let seq_handler = handler.clone();
    let sequencer = tokio::spawn(async move {
        let mut steps = tokio::task::JoinSet::new();
        // A delivery taken from the queue still being handled, or whose outputs were
        // not acknowledged yet: it starts the next batch. (Never awaited inside a
        // batch: its handler may be waiting for a step of this very batch.)
        let mut carry: Option<Carried> = None;
        loop {
            let job = match carry.take() {
                Some(Carried::Handled(p)) => Some(p),
                Some(Carried::Handling(job)) => job.await.ok().flatten(),
                None => match seq_rx.recv().await {
                    Some(job) => job.await.ok().flatten(),
                    None => break,
                },
            };
            let Some(first) = job else { continue };
            // Reap finished steps as we go (the set stays small).
            while steps.try_join_next().is_some() {}
            let mut batch = vec![settle(&seq_bus, first).await];
            while batch.len() < MAX_BATCH {
                let Ok(mut job) = seq_rx.try_recv() else {
                    break;
                };
                let mut p = match job.try_recv() {
                    Ok(Some(p)) => p,
                    // Not queued (shutting down): left for redelivery.
                    Ok(None) | Err(oneshot::error::TryRecvError::Closed) => continue,
                    Err(oneshot::error::TryRecvError::Empty) => {
                        carry = Some(Carried::Handling(job));
                        break;
                    }
                };
                if acks_ready(&mut p) {
                    batch.push(settle(&seq_bus, p).await);
                } else {
                    carry = Some(Carried::Handled(p));
                    break;
                }
            }
            // Shared by both steps (each delivery holds its payload: no second copy).
            let done: Arc<Vec<Delivery>> = Arc::new(
                batch
                    .iter()
                    .filter(|s| s.ok && s.handled)
                    .map(|s| s.delivery.clone())
                    .collect(),
            );
            if seq_handler.has_ordered_step() && !done.is_empty() {
                let h = seq_handler.clone();
                let ds = done.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || {
                    for d in ds.iter() {
                        h.acknowledged_in_order(d);
                    }
                })
                .await
                {
                    warn!(error = %e, "ordered post-acknowledgement step crashed");
                }
            }
            let bus = seq_bus.clone();
            let h = seq_handler.clone();
            steps.spawn(async move {
                let failed: Vec<Delivery> = batch
                    .iter()
                    .filter(|s| !s.ok && s.handled)
                    .map(|s| s.delivery.clone())
                    .collect();
                let n_done = done.len();
                let mut follow_ups = if !h.has_post_ack_step() {
                    Vec::new().into_iter()
                } else {
                    let step = tokio::task::spawn_blocking(move || {
                        for d in &failed {
                            h.not_acknowledged(d);
                        }
                        let mut follow = h.acknowledged_many(&done);
                        follow.resize_with(n_done, Vec::new);
                        follow
                    });
                    match step.await {
                        Ok(f) => f.into_iter(),
                        Err(e) => {
                            warn!(error = %e, "post-acknowledgement step crashed");
                            Vec::new().into_iter()
                        }
                    }
                };
                let mut waiting = Vec::new();
                for s in &batch {
                    let outputs = if s.ok && s.handled {
                        follow_ups.next().unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    waiting.push((s, queue_all(&bus, outputs).await));
                }
                for (s, sent) in waiting {
                    let followed = match sent {
                        Some(acks) => wait_all(&bus, acks, "follow-up output").await,
                        None => false,
                    };
                    if s.ok
                        && followed
                        && let Err(e) = bus.ack(&s.delivery).await
                    {
                        warn!(error = %e, "cannot acknowledge input");
                    }
                }
            });
        }
        while steps.join_next().await.is_some() {}
    });

    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    info!(stage = handler.stage(), "stage running");
    // The intake runs as a task, next to the connection's event loop: with several
    // workers (`--worker-threads`), on the thread that called this each delivery
    // would wake that thread.
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let (bus2, handler2, cfg2) = (bus.clone(), handler.clone(), cfg.clone());
    let mut intake = tokio::spawn(async move {
        let (bus, handler, cfg) = (bus2, handler2, cfg2);
        'intake: loop {
            tokio::select! {
                biased;
                _ = &mut stop_rx => break,
                d = deliveries.recv() => {
                    let Some(d) = d else { break };
                    // What arrived together is handled together: a few tasks rather than
                    // one per delivery (each a thread hand-off on the blocking pool).
                    let mut arrived = vec![d];
                    while arrived.len() < cfg.concurrency.max(1) {
                        match deliveries.try_recv() {
                            Ok(d) => arrived.push(d),
                            Err(_) => break,
                        }
                    }
                    // After the tasks are started: the sequencer may be waiting on the
                    // first of them while this waits for room in its queue.
                    for rx in hand_over(&bus, &handler, &cfg, arrived, parallelism).await {
                        if seq_tx.send(rx).await.is_err() {
                            break 'intake;
                        }
                    }
                }
            }
        }
        // Dropping the queue's sender lets the sequencer finish.
        drop(seq_tx);
    });
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {
            info!(stage = handler.stage(), "shutdown requested: no more input");
            let _ = stop_tx.send(());
            let _ = (&mut intake).await;
        }
        _ = &mut intake => {}
    }
    if tokio::time::timeout(cfg.drain_timeout, sequencer)
        .await
        .is_err()
    {
        warn!("in-flight work not finished in time; the broker will redeliver it");
    }
    bus.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    info!(stage = handler.stage(), "stopped");
    Ok(())
}

/// Deliveries taken together through the post-acknowledgement step at most.
const MAX_BATCH: usize = 256;

/// Starts handling deliveries that arrived together: a quick handler takes them in a
/// row right here (no task, no hand-off); a blocking one gets them split over as many
/// blocking tasks as there are CPUs ([`split`]). Returns one receiver per delivery, in
/// arrival order, each completed as soon as its delivery is handled.
async fn hand_over<H: Handler>(
    bus: &Bus,
    handler: &Arc<H>,
    cfg: &Arc<StageConfig>,
    arrived: Vec<Delivery>,
    parallelism: usize,
) -> Vec<Handled> {
    let mut handled = Vec::with_capacity(arrived.len());
    if handler.quick() {
        for d in arrived {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(process(bus, handler, cfg, d).await);
            handled.push(rx);
        }
        return handled;
    }
    for chunk in split(arrived, parallelism) {
        let mut jobs = Vec::with_capacity(chunk.len());
        for d in chunk {
            let (tx, rx) = oneshot::channel();
            jobs.push((d, tx));
            handled.push(rx);
        }
        let (bus, handler, cfg) = (bus.clone(), handler.clone(), cfg.clone());
        // The blocking pool does not carry the runtime's context into the handler's
        // thread: the outputs are queued through it.
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            for (d, tx) in jobs {
                let _ = tx.send(rt.block_on(process(&bus, &handler, &cfg, d)));
            }
        });
    }
    handled
}

/// Completes once a delivery is handled and its outputs queued (`None`: they could
/// not be, the delivery is left for redelivery).
type Handled = oneshot::Receiver<Option<Pending>>;

/// What the sequencer took from its queue and left for the next batch.
enum Carried {
    Handling(Handled),
    Handled(Pending),
}

/// Most deliveries one task handles in a row.
const MAX_PER_TASK: usize = 8;

/// Deliveries that arrived together, split over as many tasks as there are CPUs
/// (more when there are more than [`MAX_PER_TASK`] each), in order: handled in a row,
/// each task's deliveries cost one thread hand-off, not one each.
fn split(mut arrived: Vec<Delivery>, parallelism: usize) -> Vec<Vec<Delivery>> {
    let tasks = arrived
        .len()
        .min(parallelism.max(1))
        .max(arrived.len().div_ceil(MAX_PER_TASK));
    let per_task = arrived.len().div_ceil(tasks.max(1)).max(1);
    let mut chunks = Vec::with_capacity(tasks);
    while arrived.len() > per_task {
        let rest = arrived.split_off(per_task);
        chunks.push(std::mem::replace(&mut arrived, rest));
    }
    chunks.push(arrived);
    chunks
}

/// A delivery whose outputs were waited for.
struct Settled {
    delivery: Delivery,
    /// Every output was acknowledged.
    ok: bool,
    /// Handled (not dead-lettered).
    handled: bool,
}

/// Whether every output of `p` is acknowledged already (those that are leave `p`;
/// one that failed counts as settled: [`settle`] reports it).
fn acks_ready(p: &mut Pending) -> bool {
    let acks = &mut p.1;
    let mut i = 0;
    while i < acks.len() {
        match acks[i].1.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return false,
            Ok(()) => {
                acks.swap_remove(i);
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                // A receiver must not be polled again once it answered: a fresh one,
                // closed the same way, makes `settle` report the failure.
                let (_, closed) = oneshot::channel();
                acks[i].1 = closed;
                i += 1;
            }
        }
    }
    true
}

/// Waits for the outputs of `p` to be acknowledged and counts the outcome.
async fn settle(bus: &Bus, p: Pending) -> Settled {
    let (delivery, acks, handled, started) = p;
    let ok = wait_all(bus, acks, "output").await;
    if ok {
        if handled {
            bus.metrics().success(started.elapsed().as_secs_f64());
        } else {
            bus.metrics().deadlettered.inc();
        }
    }
    Settled {
        delivery,
        ok,
        handled,
    }
}

/// Queues `outputs` (pipelined); `None` when one could not be queued (the input
/// is then left for redelivery).
async fn queue_all(bus: &Bus, outputs: Vec<Output>) -> Option<Waiting> {
    let mut waiting = Vec::with_capacity(outputs.len());
    for o in outputs {
        match bus.publish_nowait(&o.topic, o.payload).await {
            Ok(rx) => waiting.push((o.topic, rx)),
            // Shutting down: nothing to report.
            Err(BusError::Closed) => return None,
            Err(e) => {
                warn!(error = %e, topic = o.topic, "cannot publish; input left for redelivery");
                return None;
            }
        }
    }
    Some(waiting)
}

/// Waits for the acknowledgements of queued outputs (`what` names them in the
/// log): whether all came.
async fn wait_all(bus: &Bus, waiting: Waiting, what: &str) -> bool {
    let mut ok = true;
    for (topic, rx) in waiting {
        if let Err(e) = bus.wait_ack(&topic, rx).await {
            warn!(error = %e, topic, "{what} not acknowledged; input left for redelivery");
            bus.metrics().retries.inc();
            ok = false;
        }
    }
    ok
}

/// The outputs of a handled delivery, or a failure when one of them is over the
/// broker's packet limit: sent, it would get the connection dropped (and sent again
/// after every reconnection); refused, the input is dead-lettered with the reason.
fn fit_outputs(bus: &Bus, outputs: Vec<Output>) -> Result<Vec<Output>, Failure> {
    for o in &outputs {
        if let Err(e) = bus.check_size(&o.topic, o.payload.len()) {
            return Err(Failure::new(format!(
                "{e}; make the input smaller (a WIS2 notification message is at most 8192 bytes, a WCMP2 record a few kilobytes) or raise both limits together"
            )));
        }
    }
    Ok(outputs)
}

/// Handles one delivery on the current thread (a panic is dead-lettered), then
/// queues its outputs, or its dead letter.
async fn process<H: Handler>(
    bus: &Bus,
    handler: &Arc<H>,
    cfg: &StageConfig,
    d: Delivery,
) -> Option<Pending> {
    let started = std::time::Instant::now();
    let span = info_span!("msg", stage = handler.stage(), ids = %handler.describe(&d));
    async move {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.handle(&d)))
            .unwrap_or_else(|_| Err(Failure::new("handler crashed: panicked")));
        let result = result.and_then(|outputs| fit_outputs(bus, outputs));
        let handled = result.is_ok();
        let outputs = match result {
            Ok(outputs) => {
                debug!(outputs = outputs.len(), "handled");
                outputs
            }
            Err(mut f) => {
                // What a failure still publishes (a rejection report) must fit too.
                f.outputs
                    .retain(|o| match bus.check_size(&o.topic, o.payload.len()) {
                        Ok(()) => true,
                        Err(e) => {
                            warn!(error = %e, "output of a failed delivery dropped");
                            false
                        }
                    });
                let dl = DeadLetter::new(handler.stage(), &f.reason, &d.topic, &d.payload);
                warn!(reason = %dl.reason, "dead-lettered");
                let body = dl
                    .file(
                        cfg.deadletter_dir.as_deref(),
                        &cfg.deadletter_topic,
                        bus.max_packet_bytes(),
                    )
                    .await;
                let mut outs = f.outputs;
                outs.push(Output::new(cfg.deadletter_topic.clone(), body));
                outs
            }
        };
        let acks = queue_all(bus, outputs).await?;
        Some((d, acks, handled, started))
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acks_ready_takes_the_acknowledged_and_keeps_a_failure_reportable() {
        let (ok_tx, ok_rx) = oneshot::channel();
        let (failed_tx, failed_rx) = oneshot::channel::<()>();
        let (_waiting_tx, waiting_rx) = oneshot::channel();
        ok_tx.send(()).unwrap();
        drop(failed_tx);
        let d = Delivery::detached("t", b"x".to_vec());
        let mut p: Pending = (
            d.clone(),
            vec![("a".into(), ok_rx), ("b".into(), failed_rx)],
            true,
            std::time::Instant::now(),
        );
        assert!(acks_ready(&mut p));
        assert_eq!(p.1.len(), 1, "the acknowledged one is taken");
        // The failed one can still be awaited (no panic), and reports a failure.
        assert!(p.1.pop().unwrap().1.await.is_err());
        let mut q: Pending = (
            d,
            vec![("c".into(), waiting_rx)],
            true,
            std::time::Instant::now(),
        );
        assert!(!acks_ready(&mut q), "one is still waiting for its PUBACK");
        assert_eq!(q.1.len(), 1);
    }

    #[test]
    fn what_arrived_together_is_split_over_the_cpus_in_order() {
        let ds = |n: usize| -> Vec<Delivery> {
            (0..n)
                .map(|i| Delivery::detached("t", i.to_string().into_bytes()))
                .collect()
        };
        let shape =
            |chunks: &[Vec<Delivery>]| -> Vec<usize> { chunks.iter().map(Vec::len).collect() };
        assert_eq!(shape(&split(ds(1), 2)), [1]);
        assert_eq!(shape(&split(ds(2), 2)), [1, 1]);
        assert_eq!(shape(&split(ds(7), 2)), [4, 3]);
        assert_eq!(shape(&split(ds(16), 2)), [8, 8]);
        assert_eq!(
            shape(&split(ds(32), 2)),
            [8, 8, 8, 8],
            "at most MAX_PER_TASK each"
        );
        assert_eq!(shape(&split(ds(5), 8)), [1, 1, 1, 1, 1]);
        assert_eq!(shape(&split(ds(3), 0)), [3]);
        let order: Vec<Vec<u8>> = split(ds(7), 2)
            .into_iter()
            .flatten()
            .map(|d| d.payload)
            .collect();
        let want: Vec<Vec<u8>> = (0..7).map(|i: usize| i.to_string().into_bytes()).collect();
        assert_eq!(order, want, "arrival order kept");
    }

    fn size(dl: &DeadLetter, topic: &str) -> usize {
        crate::bus::publish_packet_size(topic, serde_json::to_vec(dl).expect("json").len())
    }

    #[test]
    fn a_dead_letter_is_cut_to_fit_the_broker_and_says_so() {
        let topic = "chain/deadletter";
        let small = DeadLetter::new("s", "why", "chain/events", b"{}");
        assert_eq!(small.fitted(topic, 1 << 20), small);
        assert_eq!(small.fitted(topic, 0), small);

        // Text full of characters JSON escapes, and bytes that go as base64.
        let text = "\"\u{1}é".repeat(100_000);
        let binary: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
        for payload in [text.as_bytes(), &binary] {
            let dl = DeadLetter::new("s", "why", "chain/events", payload);
            assert!(size(&dl, topic) > 100_000);
            let cut = dl.fitted(topic, 100_000);
            assert!(size(&cut, topic) <= 100_000, "{}", size(&cut, topic));
            assert!(size(&cut, topic) > 50_000, "not cut more than needed");
            assert_eq!(cut.truncated_from, Some(payload.len() as u64));
            assert_eq!(cut.payload_encoding, dl.payload_encoding);
            let kept = cut.original();
            assert!(!kept.is_empty() && payload.starts_with(&kept));
            let back: DeadLetter =
                serde_json::from_slice(&serde_json::to_vec(&cut).expect("json")).expect("parse");
            assert_eq!(back, cut);
        }
    }

    #[test]
    fn a_reason_quoting_its_input_is_shortened_keeping_both_ends() {
        let long = format!("what is wrong: {}; how to fix it", "\"é".repeat(300_000));
        let dl = DeadLetter::new("s", &long, "chain/events", long.as_bytes());
        assert!(dl.reason.len() <= MAX_REASON_BYTES, "{}", dl.reason.len());
        assert!(dl.reason.starts_with("what is wrong: "));
        assert!(dl.reason.ends_with("; how to fix it"));
        assert!(dl.reason.contains("bytes left out"));
        assert_eq!(dl.original(), long.as_bytes(), "the payload stays whole");
        let short = DeadLetter::new("s", "why", "t", b"x");
        assert_eq!(short.reason, "why");
        // Under a limit smaller than the reason, the reason gives way as well.
        let cut = dl.fitted("chain/deadletter", 1500);
        assert!(size(&cut, "chain/deadletter") <= 1500);
        assert!(cut.reason.starts_with("what is wrong"));
        assert!(cut.reason.ends_with("how to fix it"));
        assert_eq!(cut.truncated_from, Some(long.len() as u64));
    }
}
