//! The CPU scheduling policy of a service's threads (Linux; elsewhere a no-op).
//!
//! The chain is a pipeline of processes that wake each other through the broker for
//! every message. Under the default policy (`SCHED_OTHER`), a service woken by the
//! broker preempts the process that was running, often the broker itself, which
//! then hands over the next packets one at a time. Under `SCHED_BATCH` (sched(7): for
//! "workloads that want a deterministic scheduling policy without interactivity
//! causing extra preemptions between the workload's tasks"), a woken service waits
//! for its turn instead and then takes whatever arrived meanwhile in one go: fewer
//! context switches, less CPU per message, more files per second at saturation (see
//! docs/performance.md). The broker keeps the default policy: measured, giving it
//! `SCHED_BATCH` too did not help.
//!
//! The niceness is unchanged, so a service is not given less CPU than before, only
//! fewer preemptions. Changing between these two policies needs no privilege.

use std::io;

/// How a service's threads are scheduled (`--sched-policy` / `WIS2_SCHED_POLICY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedPolicy {
    /// `SCHED_BATCH`: a woken thread does not preempt the running one.
    Batch,
    /// `SCHED_OTHER`, the system's default.
    Normal,
}

impl std::fmt::Display for SchedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SchedPolicy::Batch => "batch",
            SchedPolicy::Normal => "normal",
        })
    }
}

/// Gives the calling thread `policy`. The threads it starts afterwards inherit it: a
/// binary calls this first thing, before its runtime starts any thread.
pub fn set(policy: SchedPolicy) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let code = match policy {
            SchedPolicy::Batch => libc::SCHED_BATCH,
            SchedPolicy::Normal => libc::SCHED_OTHER,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 names the calling thread, and `param` is a valid sched_param
        // that outlives the call, which only reads it.
        #[allow(unsafe_code)]
        let r = unsafe { libc::sched_setscheduler(0, code, &param) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = policy;
    Ok(())
}

/// The calling thread's policy; `None` for any other than these two (a real-time
/// policy set from outside, say) or on other systems.
pub fn current() -> io::Result<Option<SchedPolicy>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: no arguments but the calling thread's pid 0; nothing is written.
        #[allow(unsafe_code)]
        let r = unsafe { libc::sched_getscheduler(0) };
        match r {
            -1 => Err(io::Error::last_os_error()),
            libc::SCHED_BATCH => Ok(Some(SchedPolicy::Batch)),
            libc::SCHED_OTHER => Ok(Some(SchedPolicy::Normal)),
            _ => Ok(None),
        }
    }
    #[cfg(not(target_os = "linux"))]
    Ok(None)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// On a thread of its own (the policy is per thread): set, inherited by a thread
    /// started afterwards, and set back.
    #[test]
    fn the_policy_is_set_and_inherited_by_threads_started_afterwards() {
        std::thread::spawn(|| {
            set(SchedPolicy::Batch).expect("SCHED_BATCH needs no privilege");
            assert_eq!(current().expect("policy"), Some(SchedPolicy::Batch));
            let child = std::thread::spawn(current).join().expect("child thread");
            assert_eq!(child.expect("policy"), Some(SchedPolicy::Batch));
            set(SchedPolicy::Normal).expect("back to SCHED_OTHER");
            assert_eq!(current().expect("policy"), Some(SchedPolicy::Normal));
            let child = std::thread::spawn(current).join().expect("child thread");
            assert_eq!(child.expect("policy"), Some(SchedPolicy::Normal));
        })
        .join()
        .expect("test thread");
    }
}
