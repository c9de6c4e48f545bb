//! Per-minute counts of the last day, for the page's charts: files published,
//! rejected and dead-lettered, and the end-to-end latency (announced → published, as
//! the console saw them) percentiles. In memory: a restart starts the charts afresh
//! (the history itself is in the store).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Minutes kept: one day.
const KEPT: usize = 24 * 60;

/// Latency samples kept per minute (the first ones; enough for a p99).
const SAMPLES: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Minute {
    t: i64,
    published: u64,
    rejected: u64,
    deadletter: u64,
    latencies_ms: Vec<u32>,
}

/// One minute as the API gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteView {
    /// Unix seconds of the minute's start.
    pub t: i64,
    pub published: u64,
    pub rejected: u64,
    pub deadletter: u64,
    pub p50: Option<u32>,
    pub p95: Option<u32>,
    pub p99: Option<u32>,
}

/// What happened to a file, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published, with its latency in milliseconds when known.
    Published(Option<u32>),
    Rejected,
    Deadletter,
}

/// The counts of the last day.
#[derive(Debug, Default)]
pub struct Stats {
    minutes: Mutex<VecDeque<Minute>>,
}

fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied()
}

impl Stats {
    /// Counts `outcome` at `unix` seconds.
    pub fn count(&self, unix: i64, outcome: Outcome) {
        let t = unix - unix.rem_euclid(60);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        if minutes.back().is_none_or(|m| m.t < t) {
            minutes.push_back(Minute {
                t,
                ..Minute::default()
            });
            while minutes.len() > KEPT {
                minutes.pop_front();
            }
        }
        let Some(m) = minutes.iter_mut().rev().find(|m| m.t == t) else {
            return; // older than the oldest kept minute
        };
        match outcome {
            Outcome::Published(latency) => {
                m.published += 1;
                if let Some(ms) = latency
                    && m.latencies_ms.len() < SAMPLES
                {
                    m.latencies_ms.push(ms);
                }
            }
            Outcome::Rejected => m.rejected += 1,
            Outcome::Deadletter => m.deadletter += 1,
        }
    }

    /// Every minute since `since` (Unix seconds) that saw something, oldest first.
    pub fn since(&self, since: i64) -> Vec<MinuteView> {
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes
            .iter()
            .filter(|m| m.t >= since)
            .map(|m| {
                let mut l = m.latencies_ms.clone();
                l.sort_unstable();
                MinuteView {
                    t: m.t,
                    published: m.published,
                    rejected: m.rejected,
                    deadletter: m.deadletter,
                    p50: percentile(&l, 0.50),
                    p95: percentile(&l, 0.95),
                    p99: percentile(&l, 0.99),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_count_outcomes_and_give_latency_percentiles() {
        let s = Stats::default();
        for ms in 1..=100 {
            s.count(120, Outcome::Published(Some(ms)));
        }
        s.count(150, Outcome::Rejected);
        s.count(181, Outcome::Deadletter);
        let m = s.since(0);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].t, m[0].published, m[0].rejected), (120, 100, 1));
        assert_eq!((m[0].p50, m[0].p99), (Some(51), Some(99)));
        assert_eq!((m[1].t, m[1].deadletter, m[1].p50), (180, 1, None));
        assert_eq!(s.since(180).len(), 1);
    }
}
