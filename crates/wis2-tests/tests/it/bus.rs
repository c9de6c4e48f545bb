//! `wis2_bus::Bus` against a broker killed (`kill -9`) while hundreds of publishes are
//! in flight, and restarted without the session. Every waiting publish must end
//! promptly (acknowledged, or failed so that the caller retries): none may wait for a
//! PUBACK that will never come, and none of the later publishes may be paired with
//! the packet id of a lost one (which would acknowledge a message the broker never
//! had, or never acknowledge one it has).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use wis2_bus::{BrokerArgs, Bus, ConnectOptions};

use wis2_tests::broker::{Broker, password};
use wis2_tests::flags::{args, s};
use wis2_tests::net::free_port;
use wis2_tests::observer::{Observer, Seen};

const TOPIC: &str = "chain/events";
/// Publishes kept waiting for their PUBACK at once.
const WINDOW: usize = 300;
/// Kills of the broker in one run.
const ROUNDS: usize = 6;

/// Queues `payload` and returns a task that ends with whether it was acknowledged.
async fn send(bus: &Bus, set: &mut JoinSet<bool>, payload: String) {
    let done = bus.publish_nowait(TOPIC, payload).await.expect("queued");
    let bus = bus.clone();
    set.spawn(async move { bus.wait_ack(TOPIC, done).await.is_ok() });
}

/// Waits for every task of `set`, at most `within`: (acknowledged, failed).
async fn settle(set: &mut JoinSet<bool>, within: Duration, what: &str) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    let left = set.len();
    let all = async {
        while let Some(r) = set.join_next().await {
            if r.unwrap_or(false) {
                ok += 1;
            } else {
                failed += 1;
            }
        }
    };
    tokio::time::timeout(within, all).await.unwrap_or_else(|_| {
        panic!("{what}: publishes still waiting for a PUBACK after {within:?} (of {left})")
    });
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn publishes_in_flight_when_the_broker_dies_all_end_and_later_ones_are_not_mixed_up() {
    let mut broker = Broker::start();
    let a: BrokerArgs = args(&[s("--broker-url"), broker.url("wis2-watch")]);
    let mut o = ConnectOptions::new(
        a.check().expect("options").mqtt_options("bus-kill-test"),
        vec![],
    );
    // Far longer than the bounds below: a lost pairing shows as a hang, not a timeout.
    o.ack_timeout = Duration::from_secs(120);
    let conn = Bus::connect(o);
    let bus = conn.bus.clone();
    tokio::time::timeout(Duration::from_secs(10), bus.wait_connected())
        .await
        .expect("connected within 10 s")
        .expect("bus open");

    // The race is in a few microseconds around the kill: several rounds.
    for round in 0..ROUNDS {
        // A stream with WINDOW publishes in flight, until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (bus, stop, sent) = (bus.clone(), stop.clone(), sent.clone());
            tokio::spawn(async move {
                let mut set = JoinSet::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    send(&bus, &mut set, format!("before-{round}-{i}")).await;
                    i += 1;
                    sent.store(i, Ordering::Relaxed);
                    if set.len() >= WINDOW {
                        set.join_next().await;
                    }
                }
                set
            })
        };
        while sent.load(Ordering::Relaxed) < 3_000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (dir, port) = broker.kill();
        stop.store(true, Ordering::Relaxed);
        // Without its persistence file the broker comes back with no session at all
        // (as after a kill -9 before its first snapshot).
        for e in walk(dir.path()) {
            if e.extension().is_some_and(|x| x == "db") {
                std::fs::remove_file(&e).expect("remove mosquitto.db");
            }
        }
        broker = Broker::start_in(dir, port);
        let mut in_flight = producer.await.expect("producer");
        let (ok, failed) = settle(
            &mut in_flight,
            Duration::from_secs(20),
            "in flight at the kill",
        )
        .await;
        assert!(ok + failed > 0, "nothing was in flight at the kill");

        // After the reconnection: every publish is acknowledged, and each one that is
        // was received by a subscriber (not paired with a packet id of the old session).
        let prefix = format!("after-{round}-");
        let mut obs = Observer::connect(&broker, "operator", &[TOPIC]).await;
        let mut set = JoinSet::new();
        const AFTER: usize = 3_000;
        for i in 0..AFTER {
            send(&bus, &mut set, format!("after-{round}-{i}")).await;
        }
        let (ok, failed) =
            settle(&mut set, Duration::from_secs(30), "sent after the restart").await;
        assert_eq!((ok, failed), (AFTER, 0), "publishes after the reconnection");
        let seen = obs
            .collect(AFTER, Duration::from_secs(20), |m| {
                m.payload.starts_with(prefix.as_bytes())
            })
            .await;
        let mut got: Vec<usize> = seen
            .iter()
            .filter_map(|m| {
                std::str::from_utf8(&m.payload)
                    .ok()?
                    .strip_prefix(prefix.as_str())?
                    .parse()
                    .ok()
            })
            .collect();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), AFTER, "acknowledged but not on the topic");
    }
    bus.disconnect().await;
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A bus closed before it ever reached its broker stops there: its event loop ends
/// and the waiters of what it had queued fail. It must not connect later (with its
/// client id, taking the session over from the instance started after it) to send
/// those publishes: the remote outbox of a restarted wis2-publish then sent its
/// oldest message twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_disconnected_before_it_ever_connected_stops_and_fails_its_waiters() {
    let port = free_port();
    let url = format!(
        "mqtt://wis2-watch:{}@127.0.0.1:{port}",
        password("wis2-watch")
    );
    let a: BrokerArgs = args(&[s("--broker-url"), url]);
    let conn = Bus::connect(ConnectOptions::new(
        a.check().expect("options").mqtt_options("bus-closed-test"),
        vec![],
    ));
    let done = conn
        .bus
        .publish_nowait(TOPIC, "queued while no broker listens")
        .await
        .expect("queued");
    conn.bus.disconnect().await;
    let r = tokio::time::timeout(Duration::from_secs(5), conn.bus.wait_ack(TOPIC, done))
        .await
        .expect("the waiter ends within 5 s");
    assert!(
        matches!(r, Err(wis2_bus::BusError::Closed)),
        "the queued publish fails as closed: {r:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), conn.task)
        .await
        .expect("the event loop ends within 5 s instead of reconnecting")
        .expect("event loop did not panic");
    assert!(
        conn.bus
            .publish_nowait(TOPIC, "after the close")
            .await
            .is_err(),
        "a closed bus refuses new publishes"
    );
}

/// A stage of `handler` in a task, reading `chain/created` (as wis2-validate), its
/// dead letters on `chain/deadletter`.
struct TestStage {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestStage {
    /// Starts the stage, subscribed, and a producer (as wis2-create) that can write
    /// to `chain/created`.
    async fn start<S: wis2_bus::Stage>(
        broker: &Broker,
        name: &str,
        stage_name: &'static str,
        stage: S,
    ) -> (wis2_bus::Connection, TestStage) {
        let a: BrokerArgs = args(&[s("--broker-url"), broker.url("wis2-validate")]);
        let conn = Bus::connect(
            a.check()
                .expect("options")
                .service_connection(&format!("{name}-test"), vec![s("chain/created")]),
        );
        conn.bus.wait_ready().await.expect("subscribed");
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runner = wis2_bus::Runner::new(
            Arc::new(stage),
            wis2_bus::DeadLetters::new("chain/deadletter"),
            wis2_bus::StageConfig::new(stage_name),
        );
        let task = tokio::spawn(runner.run(conn, async {
            let _ = stop_rx.await;
        }));
        let b: BrokerArgs = args(&[s("--broker-url"), broker.url("wis2-create")]);
        let producer = Bus::connect(
            b.check()
                .expect("options")
                .service_connection(&format!("{name}-producer"), vec![]),
        );
        (producer, TestStage { stop, task })
    }

    /// Asks the stage to stop; it must, within 15 s, without error.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the stage stops")
            .expect("no panic")
            .expect("stage ok");
    }
}

/// Among `got`, the dead letter of the delivery `boom` on which stage `stage`'s
/// handler panicked, with the reason.
fn assert_crash_dead_lettered(got: &[Seen], stage: &str) {
    let letter = got
        .iter()
        .find(|m| m.topic == "chain/deadletter")
        .expect("the panicking delivery is dead-lettered");
    let letter: wis2_bus::DeadLetter =
        serde_json::from_slice(&letter.payload).expect("a dead letter");
    assert_eq!(
        (letter.stage.as_str(), letter.payload.as_str()),
        (stage, "boom")
    );
    assert!(
        letter.reason.contains("handler crashed"),
        "{}",
        letter.reason
    );
}

/// Echoes every delivery to `chain/validated`, computing only (a quick handler, run on
/// the async worker), and panics on the payload `boom`.
struct Echo;

impl wis2_bus::Stage for Echo {
    type Input = Vec<u8>;
    const WORK: wis2_bus::Work = wis2_bus::Work::Compute;

    fn parse(&self, d: &wis2_bus::Delivery) -> Result<Vec<u8>, wis2_bus::Failure> {
        Ok(d.payload.clone())
    }

    fn describe(&self, _: &Vec<u8>) -> String {
        String::new()
    }

    fn handle(&self, payload: &Vec<u8>) -> Result<Vec<wis2_bus::Output>, wis2_bus::Failure> {
        assert!(payload != b"boom", "the handler panics on boom");
        Ok(vec![wis2_bus::Output::new(
            "chain/validated",
            payload.clone(),
        )])
    }
}

/// A quick handler runs on the stage's async worker, not on the blocking pool: a panic
/// there must not lose the delivery or stop the stage. It is dead-lettered with the
/// reason, as a panic on the blocking pool is, and the next delivery goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_handler_that_panics_is_dead_lettered_and_the_stage_goes_on() {
    let broker = Broker::start();
    let mut seen = Observer::connect(&broker, "operator", &["chain/#"]).await;
    let (producer, stage) = TestStage::start(&broker, "quick-stage", "echo", Echo).await;
    // The stage's subscription is in place once a first message goes through.
    let mut first = Vec::new();
    for _ in 0..50 {
        producer
            .bus
            .publish("chain/created", "first")
            .await
            .expect("published");
        first = seen
            .collect(1, Duration::from_millis(200), |m| {
                m.topic == "chain/validated"
            })
            .await;
        if !first.is_empty() {
            break;
        }
    }
    assert!(!first.is_empty(), "the stage echoes a first message");
    for p in ["boom", "after"] {
        producer
            .bus
            .publish("chain/created", p)
            .await
            .expect("published");
    }
    let got = seen
        .collect(2, Duration::from_secs(10), |m| {
            m.topic == "chain/deadletter" || (m.topic == "chain/validated" && m.payload == b"after")
        })
        .await;
    assert_crash_dead_lettered(&got, "echo");
    assert!(
        got.iter()
            .any(|m| m.topic == "chain/validated" && m.payload == b"after"),
        "the stage goes on after the panic: {got:?}"
    );
    stage.stop().await;
    producer.bus.disconnect().await;
}

/// A blocking stage whose delivery `<n>-b` waits until the post-acknowledgement step
/// of `<n>-a` has run (as wis2-publish's waits for the record of an original that
/// arrived just before its duplicate), and which panics on `boom`. It counts how often
/// a payload is parsed: once per delivery, for its log span, handler and
/// post-acknowledgement step.
struct WaitsForEarlier {
    acknowledged: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    changed: Arc<std::sync::Condvar>,
    made: Arc<AtomicUsize>,
}

impl wis2_bus::Stage for WaitsForEarlier {
    type Input = String;
    const WORK: wis2_bus::Work = wis2_bus::Work::Blocking;

    fn parse(&self, d: &wis2_bus::Delivery) -> Result<String, wis2_bus::Failure> {
        self.made.fetch_add(1, Ordering::SeqCst);
        Ok(String::from_utf8_lossy(&d.payload).to_string())
    }

    fn describe(&self, text: &String) -> String {
        text.clone()
    }

    fn handle(&self, text: &String) -> Result<Vec<wis2_bus::Output>, wis2_bus::Failure> {
        assert!(text != "boom", "the handler panics on boom");
        if let Some(n) = text.strip_suffix("-b") {
            let earlier = format!("{n}-a");
            let done = self.acknowledged.lock().expect("lock");
            let (_done, waited) = self
                .changed
                .wait_timeout_while(done, Duration::from_secs(20), |done| {
                    !done.contains(&earlier)
                })
                .expect("lock");
            if waited.timed_out() {
                return Err(wis2_bus::Failure::new(format!(
                    "{earlier} never acknowledged"
                )));
            }
        }
        Ok(vec![wis2_bus::Output::new("chain/validated", text.clone())])
    }

    fn after_ack(self: &Arc<Self>) -> wis2_bus::AfterAck<String> {
        let (acknowledged, changed) = (self.acknowledged.clone(), self.changed.clone());
        wis2_bus::AfterAck {
            acknowledged: Some(Arc::new(move |texts: &[&String]| {
                let mut done = acknowledged.lock().expect("lock");
                done.extend(texts.iter().map(|t| t.to_string()));
                changed.notify_all();
                Vec::new()
            })),
            ..wis2_bus::AfterAck::default()
        }
    }
}

/// Deliveries that arrive together are handled in a row by one blocking task; each one
/// must still reach the sequencer as soon as it is handled, or a delivery waiting for
/// the step of an earlier one of the same run would wait for ever (here 20 s). A panic
/// there is dead-lettered and the run goes on. What the handler prepared from a
/// delivery is made once for its log span, handler and post-acknowledgement step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_handled_in_a_row_each_go_on_as_soon_as_handled() {
    let broker = Broker::start();
    let mut seen = Observer::connect(&broker, "operator", &["chain/#"]).await;
    let made = Arc::new(AtomicUsize::new(0));
    let (producer, stage) = TestStage::start(
        &broker,
        "in-a-row",
        "waits",
        WaitsForEarlier {
            acknowledged: Default::default(),
            changed: Default::default(),
            made: made.clone(),
        },
    )
    .await;
    // Pipelined: the pairs arrive in bursts that the stage takes together.
    let pairs = 30;
    let mut acks = Vec::new();
    for n in 0..pairs {
        for p in [format!("{n}-a"), format!("{n}-b")] {
            acks.push(
                producer
                    .bus
                    .publish_nowait("chain/created", p)
                    .await
                    .expect("queued"),
            );
        }
        if n == pairs / 2 {
            acks.push(
                producer
                    .bus
                    .publish_nowait("chain/created", "boom")
                    .await
                    .expect("queued"),
            );
        }
    }
    for rx in acks {
        rx.await.expect("acknowledged by the broker");
    }
    let got = seen
        .collect(2 * pairs + 1, Duration::from_secs(10), |m| {
            m.topic == "chain/validated" || m.topic == "chain/deadletter"
        })
        .await;
    let echoed = got.iter().filter(|m| m.topic == "chain/validated").count();
    assert_eq!(echoed, 2 * pairs, "every delivery goes through within 10 s");
    assert_crash_dead_lettered(&got, "waits");
    stage.stop().await;
    assert_eq!(
        made.load(Ordering::SeqCst),
        2 * pairs + 1,
        "one payload prepared per delivery, shared by the log span, the handler and the acknowledgement step"
    );
    producer.bus.disconnect().await;
}
