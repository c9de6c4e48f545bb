//! wis2-publish against real mosquitto brokers started from the project's `broker/`
//! configuration: exactly-once on the WIS2 topic, the persistent remote outbox, dead
//! letter replay, and output write failures. The service runs in-process on
//! `wis2_publish::run`; readiness is awaited by connecting, never by sleeping.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wis2_bus::envelope::{Confirmation, Envelope};
use wis2_bus::topics::{CREATED, EVENTS, PUBLISHED, VALIDATED};
use wis2_bus::{BrokerArgs, DeadLetter};
use wis2_tests::broker::{Broker, mqtt_url};
use wis2_tests::fixtures::TOPIC;
use wis2_tests::flags::{args, s};
use wis2_tests::logs;
use wis2_tests::net::free_port;
use wis2_tests::observer::{Observer, Seen};
use wis2_tests::service::{self, Service};

/// wis2-publish under test: a broker, the service's store folder (kept across its
/// restarts) and an operator observer subscribed before the service starts.
struct Rig {
    b: Broker,
    state: tempfile::TempDir,
    obs: Observer,
}

impl Rig {
    /// The observer on what wis2-publish sends: WIS2 messages and confirmations.
    async fn new() -> Rig {
        Rig::observing(&["origin/a/wis2/#", PUBLISHED]).await
    }

    /// The observer on `filters`.
    async fn observing(filters: &[&str]) -> Rig {
        let b = Broker::start();
        let obs = Observer::connect(&b, "operator", filters).await;
        let state = tempfile::tempdir().expect("state");
        Rig { b, state, obs }
    }

    /// wis2-publish in-process on the broker with its store, and more flags, once
    /// ready; its log lines are captured.
    async fn start(&self, extra: &[String]) -> Service {
        logs::capture();
        let mut f = vec![
            s("--broker-url"),
            self.b.url("wis2-publish"),
            s("--state-dir"),
            self.state.path().display().to_string(),
        ];
        f.extend(extra.iter().cloned());
        service::spawn::<wis2_publish::RunArgs, _, _>("wis2-publish", wis2_publish::run, &f)
            .ready()
            .await
    }

    /// Sends `envelope` on `chain/validated`, as wis2-validate.
    async fn validated(&self, envelope: &[u8]) {
        send(&self.b.url("wis2-validate"), VALIDATED, envelope.to_vec()).await
    }

    /// Sends the envelope of [`wnm`]`(id, data_id, integrity, rel)` on `chain/validated`.
    async fn announce(&self, id: &str, data_id: &str, integrity: &str, rel: &str) {
        self.validated(&envelope(&wnm(id, data_id, integrity, rel)))
            .await
    }

    /// Takes what the observer sees (WIS2 messages and confirmations) until
    /// `confirmations` confirmations are in, then checks nothing more arrives within a
    /// short quiet period: returns (WIS2 messages, confirmations).
    async fn outcome(&mut self, confirmations: usize) -> (Vec<Seen>, Vec<Confirmation>) {
        let mut wis2 = Vec::new();
        let mut confirmed = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while confirmed.len() < confirmations {
            match tokio::time::timeout_at(deadline, self.obs.rx.recv()).await {
                Ok(Some(m)) if m.topic == PUBLISHED => {
                    confirmed.push(serde_json::from_slice(&m.payload).expect("confirmation"))
                }
                Ok(Some(m)) if m.topic.starts_with("origin/") => wis2.push(m),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        // A publication precedes its confirmation; a short quiet period catches any
        // stray re-publication.
        let quiet = Duration::from_millis(500);
        let stray = self
            .obs
            .collect(10, quiet, |m| m.topic.starts_with("origin/"));
        wis2.extend(stray.await);
        (wis2, confirmed)
    }

    /// Asserts that the next outcome is the one confirmation of `id`, and nothing
    /// published (`why` not).
    async fn assert_confirmed_not_published(&mut self, id: &str, why: &str) {
        let (wis2, confirmations) = self.outcome(1).await;
        assert!(wis2.is_empty(), "{why}: published: {wis2:?}");
        assert_eq!(confirmations.len(), 1, "{why}: but confirmed once");
        assert_eq!(confirmations[0].message_id, id);
    }

    /// The record of what was published (the service stopped).
    fn store(&self) -> wis2_publish::store::PublishedStore {
        wis2_publish::store::PublishedStore::open(self.state.path()).expect("store")
    }

    /// The disk queue `file` of the store folder (the service stopped).
    fn queue(&self, file: &str) -> wis2_publish::queue::DiskQueue {
        wis2_publish::queue::DiskQueue::open(&self.state.path().join(file), 10).expect(file)
    }
}

fn wnm(id: &str, data_id: &str, integrity: &str, rel: &str) -> String {
    serde_json::json!({
        "id": id,
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": null,
        "properties": {
            "data_id": data_id,
            "pubtime": wis2::message::rfc3339(&chrono::Utc::now()),
            "datetime": "2026-01-01T00:00:00Z",
            "integrity": {"method": "sha256", "value": integrity}
        },
        "links": [{"href": format!("https://data.example.org/{data_id}"), "rel": rel, "type": "application/netcdf"}]
    })
    .to_string()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn envelope(message: &str) -> Vec<u8> {
    Envelope::new(
        TOPIC,
        Some(new_id()),
        Some(wis2::path::RelPath::parse("R1.nc").expect("a relative path")),
        message.to_string(),
    )
    .expect("envelope")
    .to_vec()
}

/// Publishes `payload` on `topic` with the account of `url`, after the broker's PUBACK.
async fn send(url: &str, topic: &str, payload: Vec<u8>) {
    wis2_bus::publish_once(
        &BrokerArgs::from_url(url).check().expect("broker settings"),
        "wis2-publish-test",
        topic,
        payload,
    )
    .await
    .unwrap_or_else(|e| panic!("not published on {topic}: {e:#}"));
}

fn message_id(seen: &Seen) -> String {
    seen.json()["id"].as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------------
// Exactly-once.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_envelope_is_published_once_and_confirmed_each_time() {
    let mut rig = Rig::new().await;
    let svc = rig.start(&[]).await;

    let id = new_id();
    let env = envelope(&wnm(&id, "wis2/x/R1.nc", "AAAA", "canonical"));
    rig.validated(&env).await;
    rig.validated(&env).await; // the same message again: a redelivery
    // A re-announcement: same state, new message id.
    let again = new_id();
    rig.announce(&again, "wis2/x/R1.nc", "AAAA", "canonical")
        .await;
    let (wis2, confirmations) = rig.outcome(3).await;
    assert_eq!(wis2.len(), 1, "published once: {wis2:?}");
    assert_eq!(wis2[0].topic, TOPIC);
    assert_eq!(message_id(&wis2[0]), id);
    assert_eq!(confirmations.len(), 3, "every delivery is confirmed");
    let mut confirmed: Vec<&str> = confirmations
        .iter()
        .map(|c| c.message_id.as_str())
        .collect();
    confirmed.sort();
    let mut want = vec![id.as_str(), id.as_str(), again.as_str()];
    want.sort();
    assert_eq!(confirmed, want);
    assert!(
        !logs::lines(&["duplicate suppressed", &id]).is_empty(),
        "the duplicate is logged at info"
    );

    // A changed file: same data_id, new integrity, rel=update.
    let update = new_id();
    rig.announce(&update, "wis2/x/R1.nc", "BBBB", "update")
        .await;
    let (wis2, confirmations) = rig.outcome(1).await;
    assert_eq!(wis2.len(), 1, "the update is published");
    assert_eq!(message_id(&wis2[0]), update);
    assert_eq!(confirmations[0].rel.as_str(), "update");

    // Two deliveries of one new state in flight at once: one publication.
    let (a, c) = (new_id(), new_id());
    tokio::join!(
        rig.announce(&a, "wis2/x/R2.nc", "CCCC", "canonical"),
        rig.announce(&c, "wis2/x/R2.nc", "CCCC", "canonical")
    );
    let (wis2, _) = rig.outcome(2).await;
    assert_eq!(
        wis2.len(),
        1,
        "one publication for concurrent duplicates: {wis2:?}"
    );
    svc.stop().await.expect("clean stop");

    let store = rig.store();
    let audit = store.message(&id).expect("read").expect("audit entry");
    assert_eq!(
        (audit.topic.as_str(), audit.rel.as_str()),
        (TOPIC, "canonical")
    );
    assert!(!audit.published_at.is_empty() && !audit.pubtime.is_empty());
    assert!(
        store.message(&again).expect("read").is_none(),
        "a suppressed duplicate is not a publication"
    );
    assert_eq!(
        store
            .last("wis2/x/R1.nc")
            .expect("read")
            .expect("last")
            .integrity
            .as_deref(),
        Some("BBBB")
    );
}

/// A file deleted before it was ever published: wis2-watch announces the deletion
/// of what it announced, but there is nothing on the WIS2 topic to delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deletion_of_a_data_id_never_published_is_confirmed_not_published() {
    let mut rig = Rig::new().await;
    let svc = rig.start(&[]).await;

    let gone = new_id();
    rig.announce(&gone, "wis2/x/never.nc", "AAAA", "deletion")
        .await;
    rig.assert_confirmed_not_published(&gone, "nothing to delete")
        .await;
    assert!(
        !logs::lines(&["nothing to delete", &gone]).is_empty(),
        "the reason is logged"
    );

    // Published, then deleted: the deletion is published.
    let (made, deleted) = (new_id(), new_id());
    rig.announce(&made, "wis2/x/kept.nc", "BBBB", "canonical")
        .await;
    let (wis2, _) = rig.outcome(1).await;
    assert_eq!(wis2.len(), 1);
    rig.announce(&deleted, "wis2/x/kept.nc", "BBBB", "deletion")
        .await;
    let (wis2, _) = rig.outcome(1).await;
    assert_eq!(
        wis2.len(),
        1,
        "the deletion of a published file is published"
    );
    assert_eq!(message_id(&wis2[0]), deleted);
    svc.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_record_survives_a_restart_of_the_service() {
    let mut rig = Rig::new().await;
    let id = new_id();
    let env = envelope(&wnm(&id, "wis2/x/R9.nc", "AAAA", "canonical"));

    let svc = rig.start(&[]).await;
    rig.validated(&env).await;
    let (wis2, _) = rig.outcome(1).await;
    assert_eq!(wis2.len(), 1);
    svc.stop().await.expect("clean stop");

    let svc = rig.start(&[]).await;
    rig.validated(&env).await;
    rig.assert_confirmed_not_published(&id, "not again after a restart")
        .await;
    svc.stop().await.expect("clean stop");
}

/// The state a `kill -9` between the broker's PUBACK and the commit of the record
/// leaves, built exactly: the message is on the WIS2 topic (so in the read-back
/// session of wis2-publish, which exists from an earlier start), the store does not
/// know it, and its input is waiting to be redelivered. The next start finds it on the
/// WIS2 topic, records it, and does not publish it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_published_but_not_recorded_before_a_crash_is_not_published_again() {
    let mut rig = Rig::new().await;
    let out = tempfile::tempdir().expect("output");
    let output = vec![s("--output"), format!("{}/", out.path().display())];
    // A first start creates the sessions (input and read-back), then the service stops.
    rig.start(&output).await.stop().await.expect("clean stop");

    let id = new_id();
    let message = wnm(&id, "wis2/x/R7.nc", "AAAA", "canonical");
    // The publication the crashed run got a PUBACK for, and the redelivery of its input.
    send(
        &rig.b.url("wis2-publish"),
        TOPIC,
        message.clone().into_bytes(),
    )
    .await;
    rig.validated(&envelope(&message)).await;
    let (wis2, _) = rig.outcome(0).await;
    assert_eq!(wis2.len(), 1, "the crashed run's publication: {wis2:?}");

    let svc = rig.start(&output).await;
    rig.assert_confirmed_not_published(&id, "not twice: the redelivery")
        .await;
    assert!(
        !logs::lines(&["found on the WIS2 topic", &id]).is_empty(),
        "the recovery is logged"
    );
    svc.stop().await.expect("clean stop");
    let record = rig.store().message(&id).expect("read").expect("recorded");
    assert_eq!(record.topic, TOPIC);
    // The copy the crash skipped is written too.
    let copies = wis2_tests::output::messages(out.path())
        .into_iter()
        .filter(|m| m["id"] == id.as_str())
        .count();
    assert_eq!(copies, 1, "one output copy");
}

// ---------------------------------------------------------------------------------
// Remote outbox.

/// A remote broker that is down, with a persistent observer session on it waiting for
/// what is forwarded while it is down: it is started once to create the session, then
/// stopped (mosquitto saves the session).
async fn remote_down_with_session(session: &str) -> (tempfile::TempDir, u16) {
    let remote = Broker::start();
    let obs = Observer::session(&remote, "operator", session, false, &["origin/a/wis2/#"]).await;
    obs.close().await;
    remote.stop()
}

/// Starts the remote broker again on its folder and port, resumes the observer
/// `session` on it and asserts that what was forwarded while it was down is `ids`, in
/// order, on the WIS2 topic. Returns the remote broker, running.
async fn assert_drained(
    dir: tempfile::TempDir,
    port: u16,
    session: &str,
    ids: &[String],
) -> Broker {
    let remote = Broker::start_in(dir, port);
    let mut obs =
        Observer::session(&remote, "operator", session, false, &["origin/a/wis2/#"]).await;
    let seen = obs
        .collect(ids.len(), Duration::from_secs(30), |_| true)
        .await;
    let got: Vec<String> = seen.iter().map(message_id).collect();
    if got != ids {
        eprintln!("{}", logs::lines(&["remote"]).join("\n"));
        eprintln!("{}", remote.log());
    }
    assert_eq!(got, ids, "all of them, drained in order");
    assert!(seen.iter().all(|m| m.topic == TOPIC));
    remote
}

fn remote_flags(port: u16) -> Vec<String> {
    vec![
        s("--remote-broker-url"),
        mqtt_url("wis2-publish", port),
        s("--remote-client-id"),
        s("wis2-publish-remote-test"),
    ]
}

/// Sends `n` new messages (data_ids `wis2/x/<prefix><i>.nc`) and waits for their
/// local publication; returns their ids, in the order they were sent.
async fn publish_n(rig: &mut Rig, n: usize, prefix: &str) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|_| new_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        let data_id = format!("wis2/x/{prefix}{i}.nc");
        rig.announce(id, &data_id, "AAAA", "canonical").await;
    }
    let seen = rig
        .obs
        .collect(n, Duration::from_secs(20), |m| {
            m.topic.starts_with("origin/")
        })
        .await;
    // Locally they go out concurrently (--concurrency); the remote outbox keeps the
    // order they arrived in.
    let mut local: Vec<String> = seen.iter().map(message_id).collect();
    local.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(local, want, "published locally");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_remote_outbox_queues_while_the_remote_broker_is_down_and_drains_in_order() {
    let (remote_dir, remote_port) = remote_down_with_session("remote-obs-1").await;
    let mut rig = Rig::new().await;
    let svc = rig.start(&remote_flags(remote_port)).await;
    let ids = publish_n(&mut rig, 5, "Q").await;
    let _remote = assert_drained(remote_dir, remote_port, "remote-obs-1", &ids).await;
    svc.stop().await.expect("clean stop");
    assert!(
        rig.queue("remote-outbox.redb").is_empty().expect("len"),
        "removed after the remote PUBACK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_remote_outbox_survives_a_restart_of_the_service() {
    let (remote_dir, remote_port) = remote_down_with_session("remote-obs-2").await;
    let mut rig = Rig::new().await;

    let svc = rig.start(&remote_flags(remote_port)).await;
    let mut ids = publish_n(&mut rig, 3, "S").await;
    svc.stop().await.expect("clean stop");
    let outbox = rig.queue("remote-outbox.redb");
    assert_eq!(outbox.len().expect("len"), 3, "kept on disk");
    drop(outbox);

    let svc = rig.start(&remote_flags(remote_port)).await;
    ids.extend(publish_n(&mut rig, 2, "T").await);
    let _remote = assert_drained(remote_dir, remote_port, "remote-obs-2", &ids).await;
    svc.stop().await.expect("clean stop");
}

// ---------------------------------------------------------------------------------
// Dead letters replay.

fn replay_args(port: u16, user: &str, dir: &Path) -> wis2_publish::replay::ReplayArgs {
    args(&[
        s("--broker-url"),
        mqtt_url(user, port),
        s("--dir"),
        dir.display().to_string(),
    ])
}

/// Writes the dead letter of `stage` for `payload` (come on `topic`) into `dir`;
/// returns its file.
fn dead_letter(dir: &Path, stage: &str, reason: &str, topic: &str, payload: &[u8]) -> PathBuf {
    DeadLetter::new(stage, reason, topic, payload)
        .write_to(dir)
        .expect("dead letter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_reinjects_a_dead_letter_and_moves_it() {
    let mut rig = Rig::observing(&["origin/a/wis2/#", EVENTS]).await;
    let port = rig.b.port;
    let letters = tempfile::tempdir().expect("letters");
    let svc = rig.start(&[]).await;

    // A message wis2-publish could not handle earlier, and a file event wis2-create could not.
    let id = new_id();
    let env = envelope(&wnm(&id, "wis2/x/D1.nc", "AAAA", "canonical"));
    let file = dead_letter(
        letters.path(),
        "wis2-publish",
        "store unavailable",
        VALIDATED,
        &env,
    );
    let event = br#"{"specversion":"1.0","id":"e1","type":"created"}"#;
    let file2 = dead_letter(
        letters.path(),
        "wis2-create",
        "file vanished",
        EVENTS,
        event,
    );

    // Dry run: nothing moves.
    let mut dry = replay_args(port, "wis2-validate", letters.path());
    dry.dry_run = true;
    dry.stage = Some("wis2-publish".into());
    let report = wis2_publish::replay::replay(&dry).await.expect("dry run");
    assert_eq!(
        (report.replayed(), report.failed(), report.skipped),
        (1, 0, 1)
    );
    assert!(file.exists());

    // chain/validated is written by wis2-validate.
    let mut a = replay_args(port, "wis2-validate", letters.path());
    a.stage = Some("wis2-publish".into());
    let report = wis2_publish::replay::replay(&a).await.expect("replay");
    assert_eq!(report.failed(), 0, "{:?}", report.lines());
    assert!(!file.exists(), "moved");
    let moved = letters
        .path()
        .join("replayed")
        .join(file.file_name().expect("name"));
    assert!(moved.exists(), "in replayed/");
    let seen = rig
        .obs
        .collect(1, Duration::from_secs(20), |m| {
            m.topic.starts_with("origin/")
        })
        .await;
    assert_eq!(seen.len(), 1, "the replayed message is published");
    assert_eq!(message_id(&seen[0]), id);

    // chain/events may be written by the wis2-publish account (for replay).
    let report = wis2_publish::replay::replay(&replay_args(port, "wis2-publish", letters.path()))
        .await
        .expect("replay");
    assert_eq!(
        (report.replayed(), report.failed()),
        (1, 0),
        "{:?}",
        report.lines()
    );
    assert!(!file2.exists());
    let seen = rig
        .obs
        .collect(1, Duration::from_secs(20), |m| m.topic == EVENTS)
        .await;
    assert_eq!(
        seen.first().map(|m| m.payload.as_slice()),
        Some(&event[..]),
        "payload byte for byte"
    );
    svc.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_refuses_a_topic_the_account_cannot_write() {
    let letters = tempfile::tempdir().expect("letters");
    let file = dead_letter(
        letters.path(),
        "wis2-validate",
        "schema missing",
        CREATED,
        b"{}",
    );
    // No broker: the check happens before connecting.
    let report =
        wis2_publish::replay::replay(&replay_args(free_port(), "wis2-publish", letters.path()))
            .await
            .expect("report");
    assert_eq!(report.failed(), 1);
    let line = report.lines().join("\n");
    assert!(
        line.contains("chain/created") && line.contains("--broker-user wis2-create"),
        "{line}"
    );
    assert!(file.exists(), "a refused letter stays");
}

// ---------------------------------------------------------------------------------
// Output folder failures.

/// Makes `dir` unwritable: read-only, or (as root, who ignores permissions) a file in
/// its place. Returns a function that undoes it.
fn break_folder(dir: &Path) -> impl FnOnce() {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let probe = dir.join(".probe");
    let as_root = std::fs::write(&probe, b"").is_ok();
    let dir = dir.to_path_buf();
    if as_root {
        let _ = std::fs::remove_file(&probe);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::remove_dir_all(&dir).expect("rm");
        std::fs::write(&dir, b"not a folder").expect("file");
    }
    move || {
        if as_root {
            std::fs::remove_file(&dir).expect("rm");
            std::fs::create_dir(&dir).expect("mkdir");
        } else {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unwritable_output_folder_logs_the_fix_and_the_message_is_still_published() {
    let mut rig = Rig::new().await;
    let root = tempfile::tempdir().expect("out");
    let out = root.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let flags = [
        s("--output"),
        format!("{}/", out.display()),
        s("--output-retry-ms"),
        s(100),
    ];
    let svc = rig.start(&flags).await;

    let restore = break_folder(&out);
    let id = new_id();
    rig.announce(&id, "wis2/x/W1.nc", "AAAA", "canonical").await;
    let (wis2, confirmations) = rig.outcome(1).await;
    assert_eq!(wis2.len(), 1, "published despite the output folder");
    assert_eq!(confirmations.len(), 1, "and confirmed");
    svc.stop().await.expect("clean stop");
    let errors = logs::lines(&["WIS2_OUTPUT", &id]);
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("writable")),
        "a clear error naming WIS2_OUTPUT and the fix: {errors:?}"
    );
    {
        let recorded = rig.store().message(&id).expect("read");
        assert!(recorded.is_some(), "recorded");
        let retry = rig.queue("output-retry.redb");
        assert_eq!(retry.len().expect("len"), 1, "the write waits for a retry");
    }

    // Fixed: the next start writes it.
    restore();
    let svc = rig.start(&flags).await;
    let written = || {
        wis2_tests::output::messages(&out)
            .iter()
            .filter(|m| m["id"] == id.as_str())
            .count()
    };
    let start = Instant::now();
    while written() == 0 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(written(), 1, "written once the folder is writable again");
    svc.stop().await.expect("clean stop");
}

// ---------------------------------------------------------------------------------
// Monitoring events of a Global Broker.

/// The accounts of the stand-in Global Broker: the operator writes monitoring events,
/// wis2-publish reads them.
const GB_ACL: &str = "user operator\ntopic readwrite monitor/a/wis2/#\nuser wis2-publish\ntopic read monitor/a/wis2/#\n";

/// Sends a monitoring event of `kind` about `data` on the Global Broker `gb`, as its
/// operator; returns the event's id.
async fn monitoring_event(gb: &Broker, kind: &str, data: serde_json::Value) -> String {
    let id = new_id();
    let e = serde_json::json!({
        "specversion": "1.0",
        "type": kind,
        "source": "fr-meteofrance-global-broker",
        "id": id,
        "time": "2026-11-29T10:00:00Z",
        "datacontenttype": "application/json",
        "data": data
    });
    gb_send(gb, e.to_string().into_bytes()).await;
    id
}

/// Publishes `payload` on the centre's monitoring topic of the Global Broker `gb`.
async fn gb_send(gb: &Broker, payload: Vec<u8>) {
    let topic = "monitor/a/wis2/fr-ifremer-argo/fr-meteofrance-global-broker";
    send(&gb.url("operator"), topic, payload).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitoring_events_of_a_global_broker_are_logged_with_the_message_they_name() {
    let mut rig = Rig::new().await;
    let gb = Broker::start_with_acl(GB_ACL);
    let svc = rig
        .start(&[
            s("--monitor-broker-url"),
            gb.url("wis2-publish"),
            s("--monitor-centre-id"),
            s("fr-ifremer-argo"),
            s("--monitor-client-id"),
            format!("monitor-test-{}", uuid::Uuid::new_v4().simple()),
        ])
        .await;
    let id = new_id();
    let data_id = format!("wis2/x/M{}.nc", uuid::Uuid::new_v4().simple());
    rig.announce(&id, &data_id, "AAAA", "canonical").await;
    let seen = rig
        .obs
        .collect(1, Duration::from_secs(20), |m| m.topic == TOPIC)
        .await;
    assert_eq!(
        seen.iter().map(message_id).collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );
    // Published and recorded: the store now names it.
    logs::line(&["published", &id]).await;
    logs::line(&["subscribed to the Global Broker's monitoring events"]).await;

    // A discard naming our message id.
    let discarded = monitoring_event(
        &gb,
        "int.wmo.wis2.gb.message.discarded",
        serde_json::json!({"message_id": id, "reason": "no discovery metadata for this topic"}),
    )
    .await;
    let line = logs::line(&[&discarded, "reports a problem with our message"]).await;
    assert!(line.contains(" WARN "), "a warning: {line}");
    assert!(line.contains(&data_id), "names the data_id: {line}");
    assert!(line.contains(&id), "names the message id: {line}");
    assert!(
        line.contains("no discovery metadata"),
        "carries the reason: {line}"
    );
    // Information naming only the data_id.
    let cached = monitoring_event(
        &gb,
        "int.wmo.wis2.gc.data.cached",
        serde_json::json!({"data_id": data_id}),
    )
    .await;
    let line = logs::line(&[&cached, "monitoring event about our message"]).await;
    assert!(line.contains(" INFO ") && line.contains(&id), "{line}");
    // An event about something we never published, then a payload that is not one.
    let other = monitoring_event(
        &gb,
        "int.wmo.wis2.gb.message.rejected",
        serde_json::json!({"message_id": new_id()}),
    )
    .await;
    logs::line(&[&other, "no message published here is named in it"]).await;
    gb_send(&gb, b"garbage from the monitor".to_vec()).await;
    logs::line(&["not a WIS2 monitoring event", "garbage from the monitor"]).await;
    svc.stop().await.expect("clean stop");
}

// ---------------------------------------------------------------------------------
// A broker that loses what it acknowledged.

/// The read-back of wis2-publish and its stage, on `b`, caught up.
async fn read_back(
    b: &Broker,
    state: &Path,
) -> (
    wis2_publish::echo::Echo,
    std::sync::Arc<wis2_publish::stage::PublishStage>,
) {
    let store = wis2_publish::store::PublishedStore::open(state).expect("store");
    let stage = std::sync::Arc::new(wis2_publish::stage::PublishStage::new(
        wis2_publish::dedup::Dedup::new(store.clone()),
        wis2_publish::after::AfterPublication::new(store, None, None, PUBLISHED.to_string()),
    ));
    let broker = BrokerArgs::from_url(&b.url("wis2-publish"))
        .check()
        .expect("broker settings");
    let mut echo = wis2_publish::echo::Echo::start(
        wis2_publish::echo::options(&broker, "wis2-publish"),
        stage.clone(),
    );
    echo.caught_up().await;
    (echo, stage)
}

/// The `id` of a message.
fn message_id_of(message: &str) -> String {
    serde_json::from_str::<serde_json::Value>(message).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Waits until `cond` holds (checked every 20 ms), at most 20 s.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A message the broker acknowledged and then lost before handing it to the read-back
/// (as a `kill -9` of mosquitto does with what it took since its last snapshot) is
/// published again after the broker comes back, with the same bytes and so the same
/// id; one that came back on the read-back is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_broker_lost_after_acknowledging_it_is_published_again_with_the_same_id() {
    let b = Broker::start();
    let state = tempfile::tempdir().expect("state");
    // A subscriber's persistent session, saved by the broker across the restart.
    let mut gb = Observer::session(
        &b,
        "everyone",
        "a-global-broker",
        false,
        &["origin/a/wis2/#"],
    )
    .await;
    let (echo, stage) = read_back(&b, state.path()).await;

    // One acknowledged and read back: it came back, nothing to re-send.
    let came_back = wnm(&new_id(), "wis2/x/L1.nc", "AAAA", "canonical");
    stage
        .unechoed()
        .acknowledged(&message_id_of(&came_back), TOPIC, came_back.as_bytes());
    send(
        &b.url("wis2-publish"),
        TOPIC,
        came_back.clone().into_bytes(),
    )
    .await;
    until("the copy comes back", || stage.unechoed().is_empty()).await;
    assert_eq!(
        gb.next_on(TOPIC, Duration::from_secs(10)).await.payload,
        came_back.as_bytes()
    );

    // One the broker acknowledged and lost: it never reached any session.
    let lost = wnm(&new_id(), "wis2/x/L2.nc", "BBBB", "canonical");
    stage
        .unechoed()
        .acknowledged(&message_id_of(&lost), TOPIC, lost.as_bytes());

    // The broker restarts (its sessions saved): every connection comes back.
    let (dir, port) = b.stop();
    let b = Broker::start_in(dir, port);
    let again = gb.next_on(TOPIC, Duration::from_secs(20)).await;
    assert_eq!(
        again.payload,
        lost.as_bytes(),
        "the lost message, byte for byte"
    );
    until("its copy comes back too", || stage.unechoed().is_empty()).await;
    let stray = gb.collect(5, Duration::from_millis(800), |_| true).await;
    assert!(
        stray.is_empty(),
        "only the lost one is sent again: {stray:?}"
    );
    echo.stop().await;
    drop(b);
}

/// The delivery of `message` (in its envelope) as the stage parses it.
fn parsed(message: &str, seq: u64) -> wis2_publish::stage::Parsed {
    wis2_publish::stage::Parsed {
        env: Envelope::parse(&envelope(message)).expect("envelope"),
        fields: wis2_publish::fields::Fields::of(message.as_bytes()).expect("fields"),
        seq,
    }
}

/// A publication whose PUBACK never came (the connection broke) is in doubt: the
/// re-announcement of its file, a new message for the same data, does not go out
/// under a new id; after the broker comes back, the message in doubt is published
/// again with its own id, recorded, and confirmed for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publication_in_doubt_goes_out_again_under_its_own_id_never_a_new_one() {
    use wis2_bus::Stage;
    let b = Broker::start();
    let state = tempfile::tempdir().expect("state");
    let mut gb = Observer::session(
        &b,
        "everyone",
        "a-global-broker",
        false,
        &["origin/a/wis2/#"],
    )
    .await;
    let mut ops = Observer::session(&b, "operator", "an-operator", false, &[PUBLISHED]).await;
    let (echo, stage) = read_back(&b, state.path()).await;

    let first = wnm(&new_id(), "wis2/x/D1.nc", "CCCC", "canonical");
    let p1 = parsed(&first, 1);
    let out = stage.handle(&p1).expect("handled");
    assert_eq!(out.len(), 1, "the message to publish");
    // Its PUBACK never comes: the connection broke.
    let not_acknowledged = stage.after_ack().not_acknowledged.expect("a step");
    not_acknowledged(&p1);
    assert_eq!(stage.unechoed().doubtful(), 1, "in doubt");
    // The broker restarts (it never had the message, or lost it).
    let (dir, port) = b.stop();
    let b = Broker::start_in(dir, port);
    let again = gb.next_on(TOPIC, Duration::from_secs(20)).await;
    assert_eq!(
        again.payload,
        first.as_bytes(),
        "the message in doubt, its own id"
    );
    let confirmed = ops.next_on(PUBLISHED, Duration::from_secs(10)).await;
    let c: Confirmation = serde_json::from_slice(&confirmed.payload).expect("confirmation");
    assert_eq!(c.message_id, message_id_of(&first));
    // The file announced again (a new message for the same data) is confirmed, not
    // published under a new id: the message in doubt is recorded.
    let second = wnm(&new_id(), "wis2/x/D1.nc", "CCCC", "canonical");
    let out = stage.handle(&parsed(&second, 2)).expect("handled");
    assert!(
        out.len() == 1 && out[0].topic == PUBLISHED,
        "only its confirmation: {out:?}"
    );
    let stray = gb.collect(5, Duration::from_millis(800), |_| true).await;
    assert!(
        stray.is_empty(),
        "nothing else on the WIS2 topic: {stray:?}"
    );
    // (The confirmation alone says the store has it as published.)
    echo.stop().await;
    drop(b);
}
