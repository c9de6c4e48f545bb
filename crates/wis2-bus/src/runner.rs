//! The runner of a [`Stage`]: receive → handle → publish the outputs → wait for the
//! broker's acknowledgements → the stage's steps after them → acknowledge the input.
//! Failures go to the dead letters with the stage and the reason; the service keeps
//! running.
//!
//! Four parts, each a method of [`Shared`], each in a task of its own but handling:
//! - **intake** ([`Shared::intake`]): takes what arrived together (up to the
//!   concurrency) and hands it over ([`Shared::dispatch`]) to where the stage's work
//!   runs ([`Shared::on_worker`], the one place that decides);
//! - **handling** ([`Shared::handle`]): parse once, handle, fit the outputs to the
//!   broker's packet limit or dead-letter the delivery; then **publishing**
//!   ([`Shared::publish`]) queues the outputs (pipelined) as each delivery is handled;
//! - **sequencing** ([`Shared::sequence`]): in arrival order, waits for each
//!   delivery's outputs to be acknowledged, takes those already acknowledged after it
//!   into the same batch, and runs the stage's in-order step;
//! - **acknowledgement** ([`Shared::acknowledge`]): the stage's batch steps, their
//!   follow-up outputs, then each input's acknowledgement. The acknowledgements of
//!   successive batches run concurrently; each input is acknowledged once its own
//!   steps are done.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, Span, debug, info, info_span, warn};

use crate::bus::{Bus, BusError, Connection};
use crate::deadletter::{DeadLetter, DeadLetters};
use crate::delivery::Delivery;
use crate::stage::{AfterAck, Failure, Output, Stage, StageConfig, Work};

/// Runs a [`Stage`] on a connection.
pub struct Runner<S: Stage> {
    stage: Arc<S>,
    dead_letters: DeadLetters,
    cfg: StageConfig,
}

impl<S: Stage> Runner<S> {
    /// A runner of `stage` filing its dead letters in `dead_letters`.
    pub fn new(stage: Arc<S>, dead_letters: DeadLetters, cfg: StageConfig) -> Self {
        Runner {
            stage,
            dead_letters,
            cfg,
        }
    }

    /// Runs the stage until `shutdown` completes, then stops taking input, waits
    /// (bounded) for in-flight work and acknowledgements, and closes the connection.
    pub async fn run(
        self,
        conn: Connection,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Connection {
            bus,
            deliveries,
            task,
        } = conn;
        let concurrency = self.cfg.concurrency.max(1);
        let (handled_tx, handled_rx) = mpsc::unbounded_channel();
        let name = self.cfg.name;
        let shared = Arc::new(Shared {
            name,
            steps: self.stage.after_ack(),
            stage: self.stage,
            bus: bus.clone(),
            dead_letters: self.dead_letters,
            concurrency,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            handled: handled_tx,
        });
        // One receiver per delivery, in arrival order: it completes once the delivery
        // is handled and its outputs are queued.
        let (slots_tx, slots_rx) = mpsc::channel(concurrency);
        let publisher = tokio::spawn(shared.clone().publisher(handled_rx));
        let sequencer = tokio::spawn(shared.clone().sequence(slots_rx));
        let (stop_tx, stop_rx) = oneshot::channel();
        // The intake runs as a task, next to the connection's event loop: with several
        // workers (`--worker-threads`), on the thread that called this each delivery
        // would wake that thread.
        let mut intake = tokio::spawn(shared.clone().intake(deliveries, slots_tx, stop_rx));
        info!(stage = name, "stage running");
        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => {
                info!(stage = name, "shutdown requested: no more input");
                let _ = stop_tx.send(());
                let _ = (&mut intake).await;
            }
            _ = &mut intake => {}
        }
        if tokio::time::timeout(self.cfg.drain_timeout, sequencer)
            .await
            .is_err()
        {
            warn!("in-flight work not finished in time; the broker will redeliver it");
        }
        publisher.abort();
        bus.close(task).await;
        info!(stage = name, "stopped");
        Ok(())
    }
}

/// Deliveries taken together through the steps after the acknowledgement, at most.
const MAX_BATCH: usize = 256;

/// Most deliveries one blocking task handles in a row.
const MAX_PER_TASK: usize = 8;

/// Outputs queued to the broker: each topic with the receiver that completes on its
/// PUBACK.
type Waiting = Vec<(String, oneshot::Receiver<()>)>;

/// A delivery handled, on its way to [`Shared::publish`].
struct Handled<I> {
    delivery: Delivery,
    /// The input, when it was handled successfully.
    input: Option<Arc<I>>,
    /// What to publish: the stage's outputs, or a failure's and its dead letter.
    outputs: Vec<Output>,
    /// The dead letter, for the folder.
    letter: Option<DeadLetter>,
    span: Span,
    started: Instant,
}

/// A delivery whose outputs are queued, waiting for their acknowledgements.
struct Pending<I> {
    delivery: Delivery,
    input: Option<Arc<I>>,
    acks: Waiting,
    started: Instant,
}

/// Completes once a delivery is handled and its outputs queued (`None`: they could
/// not be, the delivery is left for redelivery).
type Handling<I> = oneshot::Receiver<Option<Pending<I>>>;

/// Where [`Shared::publish`] sends what it queued.
type Slot<I> = oneshot::Sender<Option<Pending<I>>>;

/// A handled delivery and the slot of its outputs, from the handling to the
/// publisher.
type ToPublish<I> = (Handled<I>, Slot<I>);

/// What the sequencer took from its queue and left for the next batch.
enum Carried<I> {
    Handling(Handling<I>),
    Handled(Pending<I>),
}

/// A delivery whose outputs were waited for.
struct Settled<I> {
    delivery: Delivery,
    /// The input, when it was handled successfully (not dead-lettered).
    input: Option<Arc<I>>,
    /// Every output was acknowledged.
    ok: bool,
}

impl<I> Settled<I> {
    /// The input, when it was handled and its outputs acknowledged.
    fn done(&self) -> Option<&Arc<I>> {
        self.input.as_ref().filter(|_| self.ok)
    }
}

/// What the runner's tasks share.
struct Shared<S: Stage> {
    /// The stage's name, in dead letters and logs.
    name: &'static str,
    stage: Arc<S>,
    steps: AfterAck<S::Input>,
    bus: Bus,
    dead_letters: DeadLetters,
    concurrency: usize,
    parallelism: usize,
    /// To [`Shared::publisher`].
    handled: mpsc::UnboundedSender<ToPublish<S::Input>>,
}

impl<S: Stage> Shared<S> {
    /// Intake: takes what arrived together, hands it over, and queues one receiver
    /// per delivery for the sequencer, in arrival order.
    async fn intake(
        self: Arc<Self>,
        mut deliveries: mpsc::UnboundedReceiver<Delivery>,
        slots: mpsc::Sender<Handling<S::Input>>,
        mut stop: oneshot::Receiver<()>,
    ) {
        loop {
            let d = tokio::select! {
                biased;
                _ = &mut stop => return,
                d = deliveries.recv() => d,
            };
            let Some(d) = d else { return };
            let mut arrived = vec![d];
            while arrived.len() < self.concurrency {
                match deliveries.try_recv() {
                    Ok(d) => arrived.push(d),
                    Err(_) => break,
                }
            }
            // Handed over before the receivers are queued: the sequencer may be
            // waiting on the first of them while this waits for room in its queue.
            for rx in self.dispatch(arrived) {
                if slots.send(rx).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Hands deliveries that arrived together over to where the stage's work runs:
    /// all in a row for [`Work::Compute`], split over the CPUs ([`split`]) for
    /// [`Work::Blocking`]. Returns one receiver per delivery, in arrival order.
    fn dispatch(self: &Arc<Self>, arrived: Vec<Delivery>) -> Vec<Handling<S::Input>> {
        let mut receivers = Vec::with_capacity(arrived.len());
        let chunks = match S::WORK {
            Work::Compute => vec![arrived],
            Work::Blocking => split(arrived, self.parallelism),
        };
        for chunk in chunks {
            let mut jobs = Vec::with_capacity(chunk.len());
            for d in chunk {
                let (tx, rx) = oneshot::channel();
                jobs.push((d, tx));
                receivers.push(rx);
            }
            let me = self.clone();
            // Each delivery goes on as soon as it is handled, not at the end of its
            // chunk: a later one may wait for an earlier one's steps.
            self.on_worker(move || {
                for (d, slot) in jobs {
                    let handled = me.handle(d);
                    let _ = me.handled.send((handled, slot));
                }
            });
        }
        receivers
    }

    /// Runs `job` where the stage's work runs: right here on the async worker
    /// ([`Work::Compute`]), or on the blocking pool ([`Work::Blocking`]). The one place
    /// that decides.
    fn on_worker(&self, job: impl FnOnce() + Send + 'static) {
        match S::WORK {
            Work::Compute => job(),
            Work::Blocking => {
                tokio::task::spawn_blocking(job);
            }
        }
    }

    /// Runs a step after the acknowledgement where the stage's work runs, and returns
    /// its result (`None`: it panicked, which is logged).
    async fn run_step<T: Send + 'static>(
        &self,
        what: &'static str,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.on_worker(move || {
            if let Ok(v) = catch_unwind(AssertUnwindSafe(step)) {
                let _ = tx.send(v);
            }
        });
        let r = rx.await.ok();
        if r.is_none() {
            warn!(stage = self.name, "{what} step crashed: panicked");
        }
        r
    }

    /// Handling: parses the delivery, handles it (a panic is a failure), and fits the
    /// outputs to the broker's packet limit; a failure becomes a dead letter.
    fn handle(&self, d: Delivery) -> Handled<S::Input> {
        let started = Instant::now();
        let parsed = catch_unwind(AssertUnwindSafe(|| self.stage.parse(&d)))
            .unwrap_or_else(|_| Err(Failure::new("handler crashed: panicked while parsing")));
        let span = match &parsed {
            Ok(input) => info_span!("msg", stage = self.name, ids = %self.stage.describe(input)),
            Err(_) => info_span!("msg", stage = self.name, ids = ""),
        };
        let entered = span.enter();
        let result = parsed.and_then(|input| {
            catch_unwind(AssertUnwindSafe(|| self.stage.handle(&input)))
                .unwrap_or_else(|_| Err(Failure::new("handler crashed: panicked")))
                .and_then(|outputs| self.fit(outputs))
                .map(|outputs| (input, outputs))
        });
        let (input, outputs, letter) = match result {
            Ok((input, outputs)) => {
                debug!(outputs = outputs.len(), "handled");
                (Some(Arc::new(input)), outputs, None)
            }
            Err(failure) => {
                let (outputs, letter) = self.dead_letter(&d, failure);
                (None, outputs, Some(letter))
            }
        };
        drop(entered);
        Handled {
            delivery: d,
            input,
            outputs,
            letter,
            span,
            started,
        }
    }

    /// The outputs of a handled delivery, or a failure when one of them is over the
    /// broker's packet limit: sent, it would get the connection dropped (and sent again
    /// after every reconnection); refused, the input is dead-lettered with the reason.
    fn fit(&self, outputs: Vec<Output>) -> Result<Vec<Output>, Failure> {
        for o in &outputs {
            if let Err(e) = self.bus.check_size(&o.topic, o.payload.len()) {
                return Err(Failure::new(format!(
                    "{e}; make the input smaller (a WIS2 notification message is at most 8192 bytes, a WCMP2 record a few kilobytes) or raise both limits together"
                )));
            }
        }
        Ok(outputs)
    }

    /// What a failed delivery publishes: the failure's own outputs that fit, and its
    /// dead letter (returned too, for the folder).
    fn dead_letter(&self, d: &Delivery, mut f: Failure) -> (Vec<Output>, DeadLetter) {
        f.outputs
            .retain(|o| match self.bus.check_size(&o.topic, o.payload.len()) {
                Ok(()) => true,
                Err(e) => {
                    warn!(error = %e, "output of a failed delivery dropped");
                    false
                }
            });
        let letter = DeadLetter::new(self.name, &f.reason, &d.topic, &d.payload);
        warn!(reason = %letter.reason, "dead-lettered");
        let body = self.dead_letters.body(&letter, self.bus.max_packet_bytes());
        f.outputs
            .push(Output::new(self.dead_letters.topic.clone(), body));
        (f.outputs, letter)
    }

    /// Publishes what [`Shared::handle`] made, as it comes.
    async fn publisher(self: Arc<Self>, mut handled: mpsc::UnboundedReceiver<ToPublish<S::Input>>) {
        while let Some((h, slot)) = handled.recv().await {
            let _ = slot.send(self.publish(h).await);
        }
    }

    /// Publishing: writes a dead letter to the folder (on the blocking pool), then
    /// queues the outputs (pipelined); `None` when one could not be queued (the input
    /// is then left for redelivery).
    async fn publish(&self, h: Handled<S::Input>) -> Option<Pending<S::Input>> {
        let Handled {
            delivery,
            input,
            outputs,
            letter,
            span,
            started,
        } = h;
        async move {
            if let Some(letter) = letter
                && self.dead_letters.dir.is_some()
            {
                let dead_letters = self.dead_letters.clone();
                let _ = tokio::task::spawn_blocking(move || dead_letters.write(&letter)).await;
            }
            let acks = queue_all(&self.bus, outputs).await?;
            Some(Pending {
                delivery,
                input,
                acks,
                started,
            })
        }
        .instrument(span)
        .await
    }

    /// Sequencing: waits for each delivery's outputs to be acknowledged, in arrival
    /// order; the deliveries after it whose outputs are acknowledged already go in the
    /// same batch through the stage's steps.
    async fn sequence(self: Arc<Self>, mut slots: mpsc::Receiver<Handling<S::Input>>) {
        let mut acknowledging = tokio::task::JoinSet::new();
        // A delivery taken from the queue still being handled, or whose outputs were
        // not acknowledged yet: it starts the next batch. (Never awaited inside a
        // batch: its handling may be waiting for a step of this very batch.)
        let mut carry: Option<Carried<S::Input>> = None;
        loop {
            let first = match carry.take() {
                Some(Carried::Handled(p)) => Some(p),
                Some(Carried::Handling(h)) => h.await.ok().flatten(),
                None => match slots.recv().await {
                    Some(h) => h.await.ok().flatten(),
                    None => break,
                },
            };
            let Some(first) = first else { continue };
            // Reap finished acknowledgements as we go (the set stays small).
            while acknowledging.try_join_next().is_some() {}
            let mut batch = vec![self.settle(first).await];
            carry = self.gather(&mut batch, &mut slots).await;
            if let Some(step) = &self.steps.in_order {
                let step = step.clone();
                let done: Vec<Arc<S::Input>> =
                    batch.iter().filter_map(Settled::done).cloned().collect();
                if !done.is_empty() {
                    self.run_step("in-order", move || done.iter().for_each(|i| step(i)))
                        .await;
                }
            }
            acknowledging.spawn(self.clone().acknowledge(batch));
        }
        while acknowledging.join_next().await.is_some() {}
    }

    /// Adds to `batch` the deliveries queued after it whose outputs are acknowledged
    /// already; returns the first that is not ready, for the next batch.
    async fn gather(
        &self,
        batch: &mut Vec<Settled<S::Input>>,
        slots: &mut mpsc::Receiver<Handling<S::Input>>,
    ) -> Option<Carried<S::Input>> {
        while batch.len() < MAX_BATCH {
            let Ok(mut h) = slots.try_recv() else {
                return None;
            };
            let mut p = match h.try_recv() {
                Ok(Some(p)) => p,
                // Not queued (shutting down): left for redelivery.
                Ok(None) | Err(oneshot::error::TryRecvError::Closed) => continue,
                Err(oneshot::error::TryRecvError::Empty) => return Some(Carried::Handling(h)),
            };
            if !acks_ready(&mut p.acks) {
                return Some(Carried::Handled(p));
            }
            batch.push(self.settle(p).await);
        }
        None
    }

    /// Waits for the outputs of `p` to be acknowledged and counts the outcome.
    async fn settle(&self, p: Pending<S::Input>) -> Settled<S::Input> {
        let ok = wait_all(&self.bus, p.acks, "output").await;
        if ok {
            if p.input.is_some() {
                self.bus
                    .metrics()
                    .success(p.started.elapsed().as_secs_f64());
            } else {
                self.bus.metrics().deadlettered.inc();
            }
        }
        Settled {
            delivery: p.delivery,
            input: p.input,
            ok,
        }
    }

    /// Acknowledgement: the stage's batch steps, their follow-up outputs (published
    /// and waited for), then each input whose outputs and follow-ups were all
    /// acknowledged.
    async fn acknowledge(self: Arc<Self>, batch: Vec<Settled<S::Input>>) {
        let mut follow_ups = self.batch_steps(&batch).await.into_iter();
        let mut waiting = Vec::with_capacity(batch.len());
        for s in &batch {
            let outputs = match s.done() {
                Some(_) => follow_ups.next().unwrap_or_default(),
                None => Vec::new(),
            };
            waiting.push((s, queue_all(&self.bus, outputs).await));
        }
        for (s, sent) in waiting {
            let followed = match sent {
                Some(acks) => wait_all(&self.bus, acks, "follow-up output").await,
                None => false,
            };
            if s.ok
                && followed
                && let Err(e) = self.bus.ack(&s.delivery).await
            {
                warn!(error = %e, "cannot acknowledge input");
            }
        }
    }

    /// Runs the stage's `not_acknowledged` and `acknowledged` steps on a batch (one
    /// hop for both): one list of follow-up outputs per input done.
    async fn batch_steps(&self, batch: &[Settled<S::Input>]) -> Vec<Vec<Output>> {
        if !self.steps.runs_per_batch() {
            return Vec::new();
        }
        let done: Vec<Arc<S::Input>> = batch.iter().filter_map(Settled::done).cloned().collect();
        let failed: Vec<Arc<S::Input>> = batch
            .iter()
            .filter(|s| !s.ok)
            .filter_map(|s| s.input.clone())
            .collect();
        let steps = self.steps.clone();
        let n_done = done.len();
        let step = move || {
            if let Some(step) = &steps.not_acknowledged {
                failed.iter().for_each(|i| step(i));
            }
            let mut follow = match &steps.acknowledged {
                Some(step) if !done.is_empty() => {
                    step(&done.iter().map(|i| i.as_ref()).collect::<Vec<_>>())
                }
                _ => Vec::new(),
            };
            follow.resize_with(n_done, Vec::new);
            follow
        };
        self.run_step("post-acknowledgement", step)
            .await
            .unwrap_or_default()
    }
}

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

/// Whether every output is acknowledged already (those that are leave `acks`; one
/// that failed counts as settled: [`wait_all`] reports it).
fn acks_ready(acks: &mut Waiting) -> bool {
    let mut i = 0;
    while i < acks.len() {
        match acks[i].1.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return false,
            Ok(()) => {
                acks.swap_remove(i);
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                // A receiver must not be polled again once it answered: a fresh one,
                // closed the same way, makes `wait_all` report the failure.
                let (_, closed) = oneshot::channel();
                acks[i].1 = closed;
                i += 1;
            }
        }
    }
    true
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
        let mut acks: Waiting = vec![("a".into(), ok_rx), ("b".into(), failed_rx)];
        assert!(acks_ready(&mut acks));
        assert_eq!(acks.len(), 1, "the acknowledged one is taken");
        // The failed one can still be awaited (no panic), and reports a failure.
        assert!(acks.pop().unwrap().1.await.is_err());
        let mut waiting: Waiting = vec![("c".into(), waiting_rx)];
        assert!(
            !acks_ready(&mut waiting),
            "one is still waiting for its PUBACK"
        );
        assert_eq!(waiting.len(), 1);
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
}
