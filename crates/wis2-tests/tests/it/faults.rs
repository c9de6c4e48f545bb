//! Fault tests: real mosquitto with persistence, the four services as processes,
//! killed with SIGKILL mid-stream. Every file must end with exactly one message on
//! the WIS2 topic: none missing, none doubled.
//!
//! What is counted: the messages `wis2-publish` wrote to its output folder, which it
//! does after the broker acknowledged them on the WIS2 topic, and what an observer
//! subscribed to the WIS2 topic received (for duplicates; it may miss messages a
//! killed broker lost before delivering them, which is the broker's limit, not the
//! chain's: see the README).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wis2_tests::broker::Broker;
use wis2_tests::fixtures::{TOPIC, argo, put};
use wis2_tests::net::metric;
use wis2_tests::observer::Observer;
use wis2_tests::process::ProcChain;
use wis2_tests::site::Site;

const N: usize = 2000;

/// Writes `n` copies of a real Argo file with distinct names, atomically, on a thread.
fn stream_files(dir: PathBuf, n: usize, prefix: &'static str) -> std::thread::JoinHandle<()> {
    let src = std::fs::read(argo("R6903247_274.nc")).expect("read");
    std::thread::spawn(move || {
        for i in 0..n {
            put(&dir, format!("{prefix}{i:05}.nc"), &src);
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    })
}

/// `text` without its ANSI colour sequences (ESC `[` ... `m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// data_id file name → how many messages were written to the output for it.
fn published(output: &Path) -> HashMap<String, usize> {
    wis2_tests::output::counts_by_file(output)
}

/// Waits until `at_least` distinct files are published (or the timeout).
pub(crate) async fn wait_published(
    output: &Path,
    at_least: usize,
    timeout: Duration,
) -> HashMap<String, usize> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let c = published(output);
        if c.len() >= at_least || tokio::time::Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn assert_exactly_once(
    counts: &HashMap<String, usize>,
    n: usize,
    prefix: &str,
    logs: &str,
) {
    let missing: Vec<String> = (0..n)
        .map(|i| format!("{prefix}{i:05}.nc"))
        .filter(|f| !counts.contains_key(f))
        .collect();
    let doubled: Vec<(&String, &usize)> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} files published, {} missing (first: {:?}), {} doubled (first: {:?})\n{logs}",
        counts.len(),
        missing.len(),
        missing.first(),
        doubled.len(),
        doubled.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn broker_killed_twice_during_a_stream_of_2000_files() {
    let Site { broker, dirs } = Site::start();
    // Default settings: what the broker loses is recovered at once, not after a
    // confirmation timeout.
    let chain = ProcChain::start(&broker, &dirs, &[]).await;
    let writer = stream_files(dirs.data.clone(), N, "B");

    wait_published(&dirs.output, 500, Duration::from_secs(120)).await;
    let (dir, port) = broker.kill();
    let broker = Broker::start_in(dir, port);
    wait_published(&dirs.output, 1200, Duration::from_secs(120)).await;
    let (dir, port) = broker.kill();
    let broker = Broker::start_in(dir, port);

    writer.join().expect("writer");
    let counts = wait_published(&dirs.output, N, Duration::from_secs(240)).await;
    let logs = format!("{}\n{}", chain.watch.log(), chain.publish.log());
    assert_exactly_once(&counts, N, "B", &logs);
    // Every thread of every service, its blocking pool's included, runs SCHED_BATCH
    // (the default --sched-policy), set before the runtime started them. (An idle
    // blocking thread ends after 10 s, so a service may be down to its main thread;
    // wis2-watch always has its notify thread: threads started afterwards are seen.)
    let mut seen = 0;
    for p in [&chain.watch, &chain.create, &chain.validate, &chain.publish] {
        let threads = p.thread_policies();
        assert!(!threads.is_empty(), "{}: no thread", p.name);
        assert!(
            threads.iter().all(|(_, policy)| *policy == 3),
            "{}: a thread not on SCHED_BATCH (3): {threads:?}",
            p.name
        );
        seen += threads.len();
    }
    assert!(seen > 4, "only the main threads were seen");
    drop(chain);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn each_service_killed_and_restarted_mid_stream() {
    let Site { broker, dirs } = Site::start();
    let mut obs = Observer::connect(&broker, "operator", &[TOPIC]).await;
    // Default settings.
    let mut chain = ProcChain::start(&broker, &dirs, &[]).await;
    let writer = stream_files(dirs.data.clone(), N, "K");

    for (at, which) in [
        (300, "create"),
        (700, "validate"),
        (1100, "publish"),
        (1500, "watch"),
    ] {
        wait_published(&dirs.output, at, Duration::from_secs(120)).await;
        let p = match which {
            "create" => &mut chain.create,
            "validate" => &mut chain.validate,
            "publish" => &mut chain.publish,
            _ => &mut chain.watch,
        };
        p.restart();
        p.wait_ready().await;
    }

    writer.join().expect("writer");
    let last_file = std::time::Instant::now();
    // The observer stays connected to a broker that is never killed here: what it
    // sees is what was on the WIS2 topic. (The output folder is a copy written after
    // the acknowledgement: a kill -9 of wis2-publish in between loses that copy, not
    // the message.)
    let mut seen = obs.collect(N, Duration::from_secs(240), |_| true).await;
    let complete = last_file.elapsed();
    seen.extend(obs.collect(1, Duration::from_secs(3), |_| true).await);
    // data_id file name -> the message ids it was published under, in order.
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for m in &seen {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload)
            && let Some(data_id) = v["properties"]["data_id"].as_str()
        {
            let name = data_id.rsplit('/').next().unwrap_or(data_id).to_string();
            let id = v["id"].as_str().unwrap_or_default().to_string();
            ids.entry(name).or_default().push(id);
        }
    }
    let logs = format!("{}\n{}", chain.watch.log(), chain.publish.log());
    let counts: HashMap<String, usize> = ids.keys().map(|k| (k.clone(), 1)).collect();
    // Nothing lost, nothing announced twice as two different messages.
    assert_exactly_once(&counts, N, "K", &logs);
    let mut republished = 0;
    for (name, list) in &ids {
        assert!(
            list.iter().all(|id| id == &list[0]),
            "{name} went out as {} different messages: {list:?}\n{logs}",
            list.len()
        );
        republished += list.len() - 1;
    }
    // Not even the crash window of wis2-publish (a kill -9 between the broker's
    // PUBACK and the commit of the record) sends a message twice: the next start
    // reads it back from the WIS2 topic first (wis2_publish::echo).
    let doubled: Vec<_> = ids.iter().filter(|(_, l)| l.len() > 1).take(5).collect();
    assert_eq!(
        republished,
        0,
        "published twice: {doubled:?}\n{}",
        chain.publish.log()
    );
    eprintln!(
        "each service killed in turn, default settings: {} of {N} files on the WIS2 topic, all in {:.1} s after the last file, {republished} ids seen twice",
        ids.len(),
        complete.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_service_catches_up_and_stops_promptly() {
    let site = Site::start();
    let dirs = &site.dirs;
    let mut chain = site.procs(&[]).await;
    let took = chain.create.terminate();
    assert!(
        took < Duration::from_secs(5),
        "wis2-create took {took:?} to stop on SIGTERM"
    );
    stream_files(dirs.data.clone(), 200, "S")
        .join()
        .expect("writer");
    // Nothing can be published while wis2-create is down; the events wait in its session.
    let early = published(&dirs.output);
    assert!(
        early.is_empty(),
        "published without wis2-create: {}",
        early.len()
    );
    chain.create.restart();
    chain.create.wait_ready().await;
    let counts = wait_published(&dirs.output, 200, Duration::from_secs(120)).await;
    assert_exactly_once(&counts, 200, "S", &chain.create.log());
    // One file can be followed through the services' logs: every line about a
    // message carries its CloudEvent id, and past wis2-create its data_id.
    for (p, what) in [
        (&chain.create, ": message built"),
        (&chain.validate, ": message valid"),
        (&chain.publish, ": published "),
    ] {
        let log = without_colours(&p.log());
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(what)).collect();
        assert!(
            lines.len() >= 200,
            "{}: {} `{what}` lines",
            p.name,
            lines.len()
        );
        for l in lines {
            assert!(
                l.contains("event_id") && l.contains("data_id"),
                "{}: a line about a message without its ids: {l}",
                p.name
            );
        }
    }
    for p in [
        &mut chain.watch,
        &mut chain.create,
        &mut chain.validate,
        &mut chain.publish,
    ] {
        let took = p.terminate();
        assert!(
            took < Duration::from_secs(5),
            "{} took {took:?} to stop on SIGTERM",
            p.name
        );
    }
}

/// Writes copies of a real Argo file numbered `files` on a thread, in bursts of
/// `burst` files every `every`: a stream whose files are in flight together when the
/// broker dies.
fn bursts_of_files(
    dir: PathBuf,
    files: std::ops::Range<usize>,
    prefix: &'static str,
    burst: usize,
    every: Duration,
) -> std::thread::JoinHandle<()> {
    let src = std::fs::read(argo("R6903247_274.nc")).expect("read");
    std::thread::spawn(move || {
        for i in files {
            put(&dir, format!("{prefix}{i:05}.nc"), &src);
            if i % burst == burst - 1 {
                std::thread::sleep(every);
            }
        }
    })
}

/// data_id file name → the message ids seen for it, in order.
fn ids_by_file(seen: &[wis2_tests::observer::Seen]) -> HashMap<String, Vec<String>> {
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for m in seen {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload)
            && let Some(data_id) = v["properties"]["data_id"].as_str()
        {
            let name = data_id.rsplit('/').next().unwrap_or(data_id).to_string();
            ids.entry(name)
                .or_default()
                .push(v["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids
}

/// Waits until the broker has written its persistence snapshot after `after`: on a
/// broker that has run for a while, every session is in it (mosquitto saves every
/// `autosave_interval`, 10 s in broker/mosquitto.conf).
async fn snapshot_after(broker: &Broker, after: std::time::SystemTime) {
    let db = broker.dir.path().join("data").join("mosquitto.db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let saved = std::fs::metadata(&db)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > after);
        if saved {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mosquitto wrote no snapshot at {} within 30 s",
            db.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The scenario of a broker crash, at default settings (only the broker's port and
/// the folders are the test's): a stream of 400 files while the broker is killed
/// (`kill -9`) and restarted twice. (a) a subscriber with a persistent session (QoS 1,
/// fixed client id), as a Global Broker keeps, gets every file within 30 s of the
/// last, each file under one message id, at most twice; (b) a clean-session
/// subscriber that connects again after each restart gets every file published after
/// it did. `saved`: the broker has saved its sessions before the first kill (it runs
/// for a while); otherwise the first kill comes before its first snapshot, and it
/// comes back with nothing at all.
async fn broker_killed_twice_during_a_stream(saved: bool) {
    const N: usize = 400;
    let Site { broker, dirs } = Site::start();
    let mut a = Observer::session(&broker, "everyone", "global-broker-a", false, &[TOPIC]).await;
    let chain = ProcChain::start(&broker, &dirs, &[]).await;
    if saved {
        snapshot_after(&broker, std::time::SystemTime::now()).await;
    }
    let mut b = Observer::session(&broker, "everyone", "subscriber-b", true, &[TOPIC]).await;

    let t0 = tokio::time::Instant::now();
    // Three quarters of the stream while the broker is killed twice, the last quarter
    // after (b) connected again (however long the kills took on a loaded machine).
    let first = N * 3 / 4;
    let every = Duration::from_millis(500);
    let writer = bursts_of_files(dirs.data.clone(), 0..first, "D", 20, every);
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    let mut restarted = Vec::new();
    let mut broker = broker;
    for at in [80, 180] {
        wait_published(&dirs.output, at, Duration::from_secs(120)).await;
        eprintln!(
            "{:.1} s: {at} published, broker killed",
            t0.elapsed().as_secs_f64()
        );
        let (dir, port) = broker.kill();
        // Down for two seconds (the time a supervisor takes to restart it), while
        // files keep arriving.
        tokio::time::sleep(Duration::from_secs(2)).await;
        broker = Broker::start_in(dir, port);
        restarted.push(tokio::time::Instant::now());
        // (b) connects again with a clean session: what it gets from now on counts.
        seen_b.extend(
            b.collect(usize::MAX, Duration::from_millis(1), |_| true)
                .await,
        );
        b.close().await;
        b = Observer::session(&broker, "everyone", "subscriber-b", true, &[TOPIC]).await;
    }
    writer.join().expect("writer");
    let b_since = std::time::SystemTime::now();
    seen_b.clear();
    bursts_of_files(dirs.data.clone(), first..N, "D", 20, every)
        .join()
        .expect("writer");
    let last_file = tokio::time::Instant::now();
    eprintln!("{:.1} s: last file written", t0.elapsed().as_secs_f64());

    // (a): every file, within 30 s of the last one.
    let deadline = last_file + Duration::from_secs(30);
    while ids_by_file(&seen_a).len() < N && tokio::time::Instant::now() < deadline {
        seen_a.extend(
            a.collect(1, deadline - tokio::time::Instant::now(), |_| true)
                .await,
        );
    }
    let complete = tokio::time::Instant::now();
    // Late copies (a redelivery from the broker's snapshot, say) are counted too.
    seen_a.extend(
        a.collect(usize::MAX, Duration::from_secs(3), |_| true)
            .await,
    );
    let logs = format!("{}\n{}", chain.watch.log(), chain.publish.log());
    let ids = ids_by_file(&seen_a);
    let counts: HashMap<String, usize> = ids.keys().map(|k| (k.clone(), 1)).collect();
    assert_exactly_once(&counts, N, "D", &logs);
    let mut twice = 0;
    for (name, list) in &ids {
        assert!(
            list.iter().all(|id| id == &list[0]),
            "{name} reached (a) as {} different messages: {list:?}\n{logs}",
            list.len()
        );
        assert!(
            list.len() <= 2,
            "{name} reached (a) {} times\n{logs}",
            list.len()
        );
        twice += list.len() - 1;
    }

    // (b): every file whose message was published after it connected again (the
    // output copy is written after the broker's acknowledgement; one second of
    // margin for the copies of messages acknowledged just before it subscribed).
    seen_b.extend(
        b.collect(usize::MAX, Duration::from_secs(2), |_| true)
            .await,
    );
    let got_b = ids_by_file(&seen_b);
    let mut due_b = Vec::new();
    // Created (pubtime) after it, so published after it too.
    let since: chrono::DateTime<chrono::Utc> = (b_since + Duration::from_secs(1)).into();
    for v in wis2_tests::output::messages(&dirs.output) {
        let late = v["properties"]["pubtime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t > since);
        if late && let Some(data_id) = v["properties"]["data_id"].as_str() {
            due_b.push(data_id.rsplit('/').next().unwrap_or(data_id).to_string());
        }
    }
    assert!(
        !due_b.is_empty(),
        "the stream went on after (b) connected again"
    );
    let missed_b: Vec<&String> = due_b.iter().filter(|f| !got_b.contains_key(*f)).collect();
    assert!(
        missed_b.is_empty(),
        "(b) missed {} of the {} files published after it connected again: {:?}",
        missed_b.len(),
        due_b.len(),
        missed_b.iter().take(5).collect::<Vec<_>>()
    );

    let reannounced = metric(chain.watch.health_port, "wis2_files_reannounced_total").await;
    let republished = metric(chain.publish.health_port, "wis2_messages_republished_total").await;
    eprintln!(
        "broker killed twice, default settings, sessions saved before: {saved}: (a) {} of {N} files, complete {:.1} s after the last file and {:.1} s after the last restart, {twice} ids seen twice; (b) {} of the {} files published after it connected again; wis2-watch re-announced {reannounced} files, wis2-publish re-published {republished} messages",
        ids.len(),
        complete.duration_since(last_file).as_secs_f64(),
        complete.duration_since(restarted[1]).as_secs_f64(),
        due_b.len() - missed_b.len(),
        due_b.len(),
    );
    if std::env::var_os("DUMP").is_some() {
        for p in [&chain.watch, &chain.create, &chain.validate, &chain.publish] {
            eprintln!("==== {}", p.name);
            for l in p.log().lines().filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("connected")
                    || l.contains("DEBUG")
            }) {
                eprintln!("{l}");
            }
        }
    }
    drop(chain);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn broker_killed_twice_before_its_first_snapshot_loses_nothing_for_any_subscriber() {
    broker_killed_twice_during_a_stream(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn broker_killed_twice_after_saving_its_sessions_loses_nothing_for_any_subscriber() {
    broker_killed_twice_during_a_stream(true).await;
}
