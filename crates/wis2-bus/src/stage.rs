//! The stage model: what a service of the chain says about itself. A stage parses each
//! delivery once into its own [`Stage::Input`], handles that input into [`Output`]s,
//! and may declare steps that run once the broker has acknowledged the outputs
//! ([`AfterAck`]). The [`Runner`](crate::Runner) does the rest: intake, handing work
//! to the async worker or the blocking pool, publishing, sequencing the
//! acknowledgements, dead letters and shutdown.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::Delivery;

/// One message a stage wants published.
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
/// example the validation report on the rejected topic). The delivery is
/// dead-lettered with the reason.
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

/// An error is a failure with its text as the reason (its causes included when the
/// text names them, as the chain's errors do).
impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(e.to_string())
    }
}

/// Where a stage's work runs: its [`Stage::parse`] and [`Stage::handle`], and its
/// [`AfterAck`] steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Computes only (no file or network I/O, no lock held across I/O): on the async
    /// worker, the deliveries that arrived together in a row, with no thread hand-off.
    Compute,
    /// Reads files, hashes, writes stores or downloads: on tokio's blocking pool, the
    /// deliveries that arrived together split over as many threads as there are
    /// CPUs, each thread taking its share in a row.
    Blocking,
}

/// A service of the chain, as the [`Runner`](crate::Runner) runs it.
pub trait Stage: Send + Sync + 'static {
    /// What a delivery is parsed into, once, for the log span, [`Stage::handle`] and
    /// the steps after the acknowledgement.
    type Input: Send + Sync + 'static;
    /// Where [`Stage::parse`], [`Stage::handle`] and the [`AfterAck`] steps run.
    const WORK: Work;

    /// Parses a delivery; a failure dead-letters it with the reason.
    fn parse(&self, d: &Delivery) -> Result<Self::Input, Failure>;

    /// Identifiers of an input for its log span (event id, message id, data_id).
    fn describe(&self, input: &Self::Input) -> String;

    /// What to publish for an input; a failure dead-letters the delivery (and
    /// publishes the failure's own outputs). A panic is a failure too.
    fn handle(&self, input: &Self::Input) -> Result<Vec<Output>, Failure>;

    /// The steps to run once the broker has acknowledged the outputs of an input
    /// (none by default).
    fn after_ack(self: &Arc<Self>) -> AfterAck<Self::Input> {
        AfterAck::default()
    }
}

/// A step run on one input.
pub type Step<I> = Arc<dyn Fn(&I) + Send + Sync>;

/// A step run on the inputs acknowledged together, in arrival order, returning one
/// list of follow-up outputs per input.
pub type BatchStep<I> = Arc<dyn Fn(&[&I]) -> Vec<Vec<Output>> + Send + Sync>;

/// What a stage does once the broker has acknowledged the outputs of its inputs,
/// before the inputs are acknowledged. Each step is optional: a stage that declares
/// none has its inputs acknowledged without a hop to where its work runs.
pub struct AfterAck<I> {
    /// Run strictly in arrival order, one input at a time, before `acknowledged`:
    /// for what must keep the order of the input (the `acknowledged` steps of
    /// successive batches run concurrently).
    pub in_order: Option<Step<I>>,
    /// Run on the inputs whose outputs were all acknowledged, together (one
    /// transaction for all their records). Its follow-up outputs are what must not go
    /// out before this step is done (a confirmation that the outputs are safely
    /// published and recorded): they are published then, and each input is
    /// acknowledged once its follow-ups are acknowledged too; if one is not, the input
    /// stays unacknowledged for redelivery.
    pub acknowledged: Option<BatchStep<I>>,
    /// Run on an input one of whose outputs was not acknowledged: it stays
    /// unacknowledged, for redelivery.
    pub not_acknowledged: Option<Step<I>>,
}

impl<I> Default for AfterAck<I> {
    fn default() -> Self {
        AfterAck {
            in_order: None,
            acknowledged: None,
            not_acknowledged: None,
        }
    }
}

impl<I> Clone for AfterAck<I> {
    fn clone(&self) -> Self {
        AfterAck {
            in_order: self.in_order.clone(),
            acknowledged: self.acknowledged.clone(),
            not_acknowledged: self.not_acknowledged.clone(),
        }
    }
}

impl<I> AfterAck<I> {
    /// Whether a step runs on every batch (an `acknowledged` or `not_acknowledged`).
    pub(crate) fn runs_per_batch(&self) -> bool {
        self.acknowledged.is_some() || self.not_acknowledged.is_some()
    }
}

/// Settings of the [`Runner`](crate::Runner).
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// The stage's name (its service's), written into dead letters and logs.
    pub name: &'static str,
    /// Deliveries in hand at once (their outputs' acknowledgements are awaited in
    /// order).
    pub concurrency: usize,
    /// How long shutdown waits for in-flight work and acknowledgements.
    pub drain_timeout: Duration,
}

impl StageConfig {
    /// The settings of stage `name`, with 16 deliveries in hand and 8 s to drain.
    pub fn new(name: &'static str) -> Self {
        StageConfig {
            name,
            concurrency: 16,
            drain_timeout: Duration::from_secs(8),
        }
    }
}
