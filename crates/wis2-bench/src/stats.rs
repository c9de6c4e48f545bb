//! Percentiles of a set of durations (exact: the samples are sorted).

use std::time::Duration;

pub struct Summary {
    pub count: usize,
    pub mean: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub min: Duration,
}

/// Nearest-rank percentile of sorted samples.
fn rank(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    let r = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[r.clamp(1, n) - 1]
}

pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    let count = samples.len();
    Summary {
        count,
        mean: if count == 0 {
            Duration::ZERO
        } else {
            total / count as u32
        },
        p50: rank(&samples, 50.0),
        p90: rank(&samples, 90.0),
        p99: rank(&samples, 99.0),
        max: samples.last().copied().unwrap_or_default(),
        min: samples.first().copied().unwrap_or_default(),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = summarize((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.min, Duration::from_millis(1));
        let e = summarize(Vec::new());
        assert_eq!(e.p99, Duration::ZERO);
    }
}
