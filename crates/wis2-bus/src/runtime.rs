//! The async runtime a binary runs on, and the CPU scheduling policy of its threads
//! (one clap struct flattened into each service's settings).

use crate::sched::SchedPolicy;

/// How many threads run a service's async tasks (one clap struct flattened into each
/// service's `run`).
#[derive(Clone, Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Threads that run the service's async tasks: the MQTT connection, the intake of
    /// deliveries, /healthz and /metrics. File, store and format work runs on a
    /// separate pool of blocking threads whatever this is. 1: all of them on one
    /// thread (tokio's current-thread scheduler), which is enough for the connection
    /// (a single task) and saves the wake-ups between threads. More (0: one per CPU):
    /// a multi-thread scheduler, for a quick stage (wis2-validate) given many CPUs
    /// rather than replicas. See docs/performance.md.
    #[arg(long, env = "WIS2_WORKER_THREADS", default_value_t = 1)]
    pub worker_threads: usize,
    /// CPU scheduling policy of the service's threads (Linux). batch (SCHED_BATCH): a
    /// service woken by the broker does not preempt the running process but takes what
    /// arrived meanwhile in one go when its turn comes (see docs/performance.md).
    /// normal: the system's default (SCHED_OTHER), for a host where the chain shares
    /// its CPUs with interactive work.
    #[arg(
        long,
        env = "WIS2_SCHED_POLICY",
        value_enum,
        default_value_t = SchedPolicy::Batch
    )]
    pub sched_policy: SchedPolicy,
}

impl RuntimeArgs {
    /// A service's `main`: sets the scheduling policy (a warning if the system refuses
    /// it: the service runs all the same), then [`block_on`].
    pub fn block_on<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        if let Err(e) = crate::sched::set(self.sched_policy) {
            tracing::warn!(
                policy = %self.sched_policy,
                error = %e,
                "cannot set the CPU scheduling policy; running with the system's (set WIS2_SCHED_POLICY=normal to silence this)"
            );
        }
        block_on(self.worker_threads, future)
    }
}

/// The runtime a binary runs on, plus tokio's blocking pool: the current-thread
/// scheduler for `worker_threads` 1, else a multi-thread one with that many workers
/// (0: one per CPU).
pub fn runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = if worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if worker_threads > 0 {
            b.worker_threads(worker_threads);
        }
        b
    };
    b.enable_all().build()
}

/// Runs `future` to its end on a new [`runtime`] of `worker_threads` threads (a
/// binary's `main`). As a task: with several workers it then runs on them rather than
/// on the calling thread, so that the service's loop and the connection's event loop
/// wake each other there without a hand-off to the calling thread for every message;
/// and a panic is returned as an error.
pub fn block_on<T: Send + 'static>(
    worker_threads: usize,
    future: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    let rt = runtime(worker_threads)
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        match tokio::spawn(future).await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("the service stopped: {e}")),
        }
    })
}
