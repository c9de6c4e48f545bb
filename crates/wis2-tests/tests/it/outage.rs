//! Long outages of a service, at default settings: the files that arrive meanwhile
//! wait in the broker (bounded by wis2-watch's `WIS2_MAX_PENDING`, under the broker's
//! `max_queued_messages`) and are all published once the service is back; messages a
//! broker drops from a full queue are noticed (its `$SYS` count) and their files
//! announced again. Memory stays bounded in every service and in the broker.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wis2_tests::broker::Broker;
use wis2_tests::fixtures::{argo, repo};
use wis2_tests::net::metric;
use wis2_tests::process::peak_rss_kb;
use wis2_tests::site::Site;

use crate::faults::{assert_exactly_once, wait_published};

/// Moves `n` hard links of one real Argo file into `data` (each a complete file: a
/// rename into the watched folder), named `<prefix><i>.nc`.
fn link_files(data: &Path, n: usize, prefix: &str) {
    let staging = data
        .parent()
        .expect("parent")
        .join(format!("staging-{prefix}"));
    std::fs::create_dir_all(&staging).expect("staging");
    let src = staging.join("source.nc");
    std::fs::copy(argo("R6903247_274.nc"), &src).expect("copy");
    for i in 0..n {
        let name = format!("{prefix}{i:05}.nc");
        let tmp = staging.join(&name);
        std::fs::hard_link(&src, &tmp).expect("link");
        std::fs::rename(&tmp, data.join(&name)).expect("rename");
    }
}

/// Waits until wis2-watch (health port `port`) has announced `n` files.
async fn announced(port: u16, n: usize, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while metric(port, "wis2_messages_published_total").await < n as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "wis2-watch did not announce {n} files within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn twenty_thousand_files_while_wis2_create_is_stopped_are_all_published_once() {
    const N: usize = 20_000;
    let site = Site::start();
    let mut chain = site.procs(&[]).await;
    chain.create.terminate();
    link_files(&site.dirs.data, N, "O");
    // Every event waits in wis2-create's session (N is under WIS2_MAX_PENDING).
    announced(chain.watch.health_port, N, Duration::from_secs(300)).await;
    let waiting_broker_kb = site.broker.pid().and_then(peak_rss_kb).unwrap_or(0);
    chain.create.restart();
    chain.create.wait_ready().await;
    let counts = wait_published(&site.dirs.output, N, Duration::from_secs(600)).await;
    assert_exactly_once(&counts, N, "O", &chain.watch.log());
    let mut peaks = Vec::new();
    for p in [&chain.watch, &chain.create, &chain.validate, &chain.publish] {
        let kb = p.peak_rss_kb();
        assert!(kb < 128 * 1024, "{}: peak RSS {kb} kB", p.name);
        peaks.push(format!("{} {} MB", p.name, kb / 1024));
    }
    let broker_kb = site
        .broker
        .pid()
        .and_then(peak_rss_kb)
        .expect("mosquitto runs");
    assert!(broker_kb < 256 * 1024, "mosquitto: peak RSS {broker_kb} kB");
    let dropped = metric(chain.watch.health_port, "wis2_files_reannounced_total").await;
    assert_eq!(
        dropped, 0.0,
        "nothing to announce again: the queue held them all"
    );
    eprintln!(
        "{N} files while wis2-create was stopped: {} published once; peak RSS: {}, mosquitto {} MB ({} MB with the {N} events queued)",
        counts.len(),
        peaks.join(", "),
        broker_kb / 1024,
        waiting_broker_kb / 1024
    );
}

/// The project's broker configuration with a queue limit of `limit` messages.
fn conf_with_queue_limit(dir: &Path, limit: usize) -> PathBuf {
    let conf = std::fs::read_to_string(repo().join("broker/mosquitto.conf")).expect("conf");
    let changed: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("max_queued_messages ") {
                format!("max_queued_messages {limit}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(
        changed, conf,
        "broker/mosquitto.conf sets max_queued_messages"
    );
    let path = dir.join("mosquitto-small-queues.conf");
    std::fs::write(&path, changed).expect("conf");
    path
}

/// A broker whose queues are too small for a stopped service's backlog (a limit of
/// 300 for 1,500 files): it drops the rest, says so in `$SYS`, and wis2-watch
/// announces the dropped files again once every service is back online.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn messages_a_full_queue_dropped_are_noticed_and_their_files_announced_again() {
    const N: usize = 1_500;
    let confs = tempfile::tempdir().expect("conf dir");
    let conf = conf_with_queue_limit(confs.path(), 300);
    let broker = Broker::start_with_env(&[("BROKER_CONF", conf.display().to_string())], &[]);
    let site = Site::on(broker);
    let mut chain = site.procs(&[]).await;
    chain.create.terminate();
    link_files(&site.dirs.data, N, "Q");
    announced(chain.watch.health_port, N, Duration::from_secs(120)).await;
    chain.create.restart();
    chain.create.wait_ready().await;
    let counts = wait_published(&site.dirs.output, N, Duration::from_secs(180)).await;
    let log = chain.watch.log();
    assert_exactly_once(&counts, N, "Q", &log);
    assert!(
        log.contains("the broker dropped queued messages"),
        "the drop is reported: {log}"
    );
    let again = metric(chain.watch.health_port, "wis2_files_reannounced_total").await;
    assert!(again >= (N - 300) as f64, "{again} files announced again");
    eprintln!(
        "a queue limit of 300 for {N} files: {} published once, {again} announced again after the broker dropped them",
        counts.len()
    );
}
