//! Per-stage figures from two Prometheus text snapshots of a service's `/metrics`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

#[derive(Default, Debug, Clone)]
struct Histo {
    /// Upper bound (le) → cumulative count.
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

fn parse(text: &str, name: &str) -> (Histo, BTreeMap<String, f64>) {
    let mut h = Histo::default();
    let mut counters = BTreeMap::new();
    let bucket = format!("{name}_bucket{{");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        if let Some(rest) = key.strip_prefix(&bucket) {
            let le = rest
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(|s| {
                    if s == "+Inf" {
                        f64::INFINITY
                    } else {
                        s.parse().unwrap_or(f64::NAN)
                    }
                });
            if let Some(le) = le.filter(|x| !x.is_nan()) {
                h.buckets.push((le, v));
            }
        } else if key == format!("{name}_sum") {
            h.sum = v;
        } else if key == format!("{name}_count") {
            h.count = v;
        } else if key.ends_with("_total") {
            counters.insert(key.to_string(), v);
        }
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    (h, counters)
}

/// Quantile by linear interpolation inside the bucket (as Prometheus' histogram_quantile).
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let target = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, cum) in buckets {
        if cum >= target {
            if le.is_infinite() {
                return lo;
            }
            let inside = cum - below;
            return if inside > 0.0 {
                lo + (le - lo) * (target - below) / inside
            } else {
                le
            };
        }
        lo = le;
        below = cum;
    }
    lo
}

pub fn run(before: &Path, after: &Path, name: &str) -> anyhow::Result<()> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let (b, bc) = parse(&read(before)?, name);
    let (a, ac) = parse(&read(after)?, name);
    if a.buckets.is_empty() {
        bail!("no histogram {name} in {}", after.display());
    }
    let delta: Vec<(f64, f64)> = a
        .buckets
        .iter()
        .map(|&(le, c)| {
            let prev = b
                .buckets
                .iter()
                .find(|(l, _)| *l == le)
                .map(|x| x.1)
                .unwrap_or(0.0);
            (le, c - prev)
        })
        .collect();
    let count = a.count - b.count;
    if count <= 0.0 {
        println!("{name}: no observations (this service does not record it)");
        return Ok(());
    }
    let mean = if count > 0.0 {
        (a.sum - b.sum) / count
    } else {
        f64::NAN
    };
    println!(
        "{name}: count {count:.0}  mean {:.2} ms  p50 {:.2} ms  p99 {:.2} ms (bucket-interpolated)",
        mean * 1e3,
        quantile(&delta, 0.5) * 1e3,
        quantile(&delta, 0.99) * 1e3
    );
    for (k, v) in &ac {
        let d = v - bc.get(k).copied().unwrap_or(0.0);
        if d != 0.0 {
            println!("  {k} +{d:.0}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_interpolates() {
        let text = "# HELP x\nwis2_processing_seconds_sum 3.0\nwis2_processing_seconds_count 4\n\
            wis2_processing_seconds_bucket{le=\"0.001\"} 0\nwis2_processing_seconds_bucket{le=\"0.002\"} 2\n\
            wis2_processing_seconds_bucket{le=\"0.004\"} 4\nwis2_processing_seconds_bucket{le=\"+Inf\"} 4\n\
            wis2_messages_handled_total 4\n";
        let (h, c) = parse(text, "wis2_processing_seconds");
        assert_eq!(h.count, 4.0);
        assert_eq!(h.buckets.len(), 4);
        assert_eq!(c.get("wis2_messages_handled_total"), Some(&4.0));
        let q = quantile(&h.buckets, 0.5);
        assert!((q - 0.002).abs() < 1e-9, "{q}");
    }
}
