//! Bad input (issue #6) through the running chain: a real mosquitto started from the
//! project's `broker/`, the real services, real damaged files. For each case the chain
//! must say what is wrong and how to fix it (a dead letter on `chain/deadletter` and in
//! the dead-letter folder, from the stage that found it, with the original input whole
//! in the folder), and keep going: a good Argo file dropped afterwards still gets its
//! one message on the WIS2 topic.
//!
//! Cases are grouped by what they need (files in the data directory, events injected on
//! `chain/events`, a broker with a raised packet limit, services as processes), one
//! chain per group, each case with its own assertions.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha512};
use wis2::event::FILE_CREATED;
use wis2_bus::DeadLetter;
use wis2_bus::topics::EVENTS;

use wis2_tests::broker::{Broker, password};
use wis2_tests::fixtures::{TOPIC, argo, drop_file, put, repo, run_ok, shared};
use wis2_tests::service::{Chain, ChainDirs};
use wis2_tests::site::Site;
use wis2_tests::tap::{Tap, assert_letter, event_path, folder, injector};

/// The good file dropped last in every test.
const GOOD: &str = "R6903247_274.nc";
/// The broker's `max_packet_size` (broker/mosquitto.conf) and the services' default
/// `WIS2_MAX_PACKET_BYTES`.
const BROKER_LIMIT: usize = 1024 * 1024;

fn bufr(name: &str) -> PathBuf {
    shared().join("data/bufr").join(name)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sha512_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
}

/// A sparse file of `len` bytes (zeros), put in place with a rename.
fn put_sparse(dir: &Path, name: &str, len: u64) -> PathBuf {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::File::create(&tmp)
        .and_then(|f| f.set_len(len))
        .expect("sparse file");
    let dst = dir.join(name);
    std::fs::rename(&tmp, &dst).expect("rename");
    dst
}

fn mkfifo(path: &Path) {
    run_ok(Command::new("mkfifo").arg(path), "mkfifo");
}

/// A CloudEvent of version `spec` and type `kind` from the test injector, with `data`
/// when there is some.
fn cloud_event(spec: &str, id: &str, kind: &str, data: Option<Value>) -> Vec<u8> {
    let mut e = json!({"specversion": spec, "id": id, "source": "test-injector", "type": kind});
    if let Some(data) = data {
        e["data"] = data;
    }
    e.to_string().into_bytes()
}

/// The CloudEvent wis2-watch would send for `path`.
fn file_event(id: &str, path: &str) -> Vec<u8> {
    cloud_event("1.0", id, FILE_CREATED, Some(json!({"path": path})))
}

fn validator() -> wis2::validate::Validator {
    wis2::validate::Validator::new(&wis2::validate::ValidatorOptions {
        schema: Some(shared().join("standards/wnm/wis2-notification-message-bundled.json")),
        wth_dir: Some(shared().join("standards/wth")),
        profile: wis2::validate::Profile::Wnm13,
    })
    .expect("validator with the authoritative schema")
}

/// Asserts the one valid message of `rel`, for `bytes`, and returns it.
fn assert_published<'a>(tap: &'a Tap, rel: &str, bytes: &[u8]) -> &'a Value {
    let got = tap.published_for(rel);
    assert_eq!(got.len(), 1, "{rel}: one message; seen: {}", tap.summary());
    let m = got[0];
    let report = validator().check_message(&serde_json::to_vec(m).expect("json"), Some(TOPIC));
    assert!(report.is_valid(), "{rel}: {}", report.to_human());
    assert_eq!(m["links"][0]["length"], bytes.len() as u64, "{rel}: length");
    assert_eq!(
        m["properties"]["integrity"]["value"],
        sha512_b64(bytes).as_str(),
        "{rel}: integrity"
    );
    m
}

/// Drops the good file and waits for its one message; then nothing else may have
/// come than what the test already took: `letters` dead letters and `published` WIS2
/// messages, the good file's included.
async fn good_file_still_published(tap: &mut Tap, d: &ChainDirs, letters: usize, published: usize) {
    drop_file(&argo(GOOD), &d.data, GOOD);
    tap.until("the good file's message", 90, |t| {
        !t.published_for(GOOD).is_empty()
    })
    .await;
    tap.drain();
    let m = assert_published(tap, GOOD, &read(&argo(GOOD)));
    assert_eq!(m["properties"]["datetime"], "2022-04-18T09:48:00Z");
    tap.assert_totals(letters, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_netcdf_and_bufr_files_are_dead_lettered_and_the_real_negative_files_published() {
    let Site { broker, dirs } = Site::start();
    let mut tap = Tap::connect(&broker).await;
    let chain = Chain::start(&broker, &dirs).await;

    let classic = read(&argo(GOOD));
    let nc4 = read(&argo("BD4901784_000.nc"));
    let nan = read(&argo("negative/R6903724_001_bodc_NaN.nc"));
    let ocea = read(&bufr("pybufrkit_ocea_132.bufr"));
    let ship = read(&bufr(
        "A_ISSA05LFPW111700RRA_C_EDZW_20240211170705_50982396.bin",
    ));
    let mut header = classic.clone();
    header[8..400].fill(0xff);
    let mut magic = read(&argo("D5900865_001.nc"));
    magic[..4].copy_from_slice(b"XXXX");
    let mut no_end = ocea.clone();
    let at = no_end
        .windows(4)
        .position(|w| w == b"7777")
        .expect("end section");
    no_end[at..at + 4].copy_from_slice(b"0000");
    let cut_nan = nan[..nan.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "cut_R6903247_274.nc",
            classic[..60_000].to_vec(),
            vec![
                "the file is 60000 bytes but its header puts the end of its data at byte 122032",
                "it is truncated",
                "send the complete file",
            ],
        ),
        (
            "cut_R6903724_001_bodc_NaN.nc",
            cut_nan,
            vec!["it is truncated", "send the complete file"],
        ),
        (
            "cut_BD4901784_000.nc",
            nc4[..3000].to_vec(),
            vec![
                "is not usable netCDF",
                "damaged, truncated or not netCDF",
                "send the complete, valid file",
            ],
        ),
        (
            "damaged_header.nc",
            header,
            vec![
                "is not usable netCDF",
                "header is damaged",
                "re-create the file",
            ],
        ),
        (
            "not_netcdf.nc",
            magic,
            vec![
                "is named as application/x-netcdf but its content is not",
                "send the right file or rename it",
            ],
        ),
        (
            "cut_ocea_132.bufr",
            ocea[..500].to_vec(),
            vec![
                "is not usable BUFR",
                "declares 938 bytes but only 500 remain",
                "the file is truncated; send the complete file",
            ],
        ),
        (
            "cut_ship.bin",
            ship[..150].to_vec(),
            vec![
                "is not usable BUFR",
                "the file is truncated; send the complete file",
            ],
        ),
        (
            "no_7777.bufr",
            no_end,
            vec![
                "is not usable BUFR",
                "does not end with `7777`",
                "re-encode the message",
            ],
        ),
    ];
    for (name, bytes, _) in &cases {
        put(&dirs.data, name, bytes);
    }
    // The real files of argo/negative are intact netCDF whose oddities (a NaN in
    // TEMP; a technical file without JULD under a profile-like name) do not touch
    // time and place: they are published as they are, with no invented time.
    let negative = ["R6903724_001_bodc_NaN.nc", "6903283_badName.nc"];
    for name in negative {
        drop_file(&argo(&format!("negative/{name}")), &dirs.data, name);
    }
    tap.until(
        "a dead letter per damaged file, a message per negative file",
        90,
        |t| {
            t.letters.len() >= cases.len()
                && negative.iter().all(|n| !t.published_for(n).is_empty())
        },
    )
    .await;

    let folder = folder(&dirs);
    for (name, bytes, words) in &cases {
        let mut words = words.clone();
        words.push(name);
        tap.assert_file_letter(&folder, name, name, "wis2-create", &words);
        // Nothing lost: the file is still there, untouched, for a replay once fixed.
        assert!(
            read(&dirs.data.join(name)) == *bytes,
            "{name}: the file changed"
        );
    }

    let m = assert_published(&tap, negative[0], &nan);
    assert_eq!(m["properties"]["datetime"], "2020-11-01T01:42:30Z");
    assert_eq!(m["geometry"]["coordinates"], json!([-13.2169, 59.1477]));
    let m = assert_published(
        &tap,
        negative[1],
        &read(&argo("negative/6903283_badName.nc")),
    );
    assert_eq!(m["properties"]["datetime"], Value::Null, "time unknown");
    assert_eq!(m["geometry"], Value::Null, "place unknown");

    good_file_still_published(&mut tap, &dirs, cases.len(), negative.len() + 1).await;
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_special_outside_non_utf8_unreadable_and_oversized_files_are_reported() {
    let Site { broker, dirs } = Site::start();
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("secret.nc");
    std::fs::copy(argo(GOOD), &target).expect("copy");
    std::fs::create_dir_all(dirs.data.join("metadata")).expect("metadata dir");
    let mut tap = Tap::connect(&broker).await;
    let chain = Chain::start(&broker, &dirs).await;

    // A 0-byte file (a producer that failed).
    put(&dirs.data, "empty.nc", b"");
    // A FIFO: opening it would block whoever reads it.
    mkfifo(&dirs.data.join("pipe.nc"));
    // A symlink to a file outside the data directory.
    std::os::unix::fs::symlink(&target, dirs.data.join("outside.nc")).expect("symlink");
    // A name that is not UTF-8, on a good file.
    let raw_name = b"R\xff\xfe_274.nc";
    put(&dirs.data, OsStr::from_bytes(raw_name), &read(&argo(GOOD)));
    // A file nobody may read (chmod 000 before it is put in place).
    let locked_bytes = read(&argo("D5900865_001.nc"));
    let tmp = dirs.data.join(".locked.nc.tmp");
    std::fs::write(&tmp, &locked_bytes).expect("write");
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod 000");
    std::fs::rename(&tmp, dirs.data.join("locked.nc")).expect("rename");
    // root (or CAP_DAC_OVERRIDE, as in many CI containers) reads it anyway.
    let readable_anyway = std::fs::File::open(dirs.data.join("locked.nc")).is_ok();
    // A WCMP2 record under the 1 MiB a record may have, whose envelope on
    // chain/created (the message plus the record) is over the broker's packet limit.
    let mut rec: Value = serde_json::from_slice(&read(
        &repo().join("data/metadata/fr-ifremer-argo-core-metadata.json"),
    ))
    .expect("record");
    rec["properties"]["description"] = json!("");
    let base = serde_json::to_vec(&rec).expect("json").len();
    rec["properties"]["description"] = json!("x".repeat(1_048_000 - base));
    let huge = serde_json::to_vec(&rec).expect("json");
    assert_eq!(huge.len(), 1_048_000);
    put(&dirs.data.join("metadata"), "huge.json", &huge);
    // Directories: one dropped whole with a file in it (renamed into place), an empty
    // one, one named like a data file. They hold files, they are not data: the files
    // in them are announced, the directories themselves neither announced nor refused.
    let incoming = dirs.data.join(".incoming");
    std::fs::create_dir(&incoming).expect("dir");
    std::fs::copy(argo("R4902481_001.nc"), incoming.join("R4902481_001.nc")).expect("copy");
    std::fs::rename(&incoming, dirs.data.join("2024")).expect("rename dir");
    std::fs::create_dir(dirs.data.join("empty.d")).expect("dir");
    std::fs::create_dir(dirs.data.join("dir.nc")).expect("dir");

    let letters = if readable_anyway { 5 } else { 6 };
    tap.until("the dead letters and the directory's file", 90, |t| {
        t.letters.len() >= letters
            && !t.published_for("2024/R4902481_001.nc").is_empty()
            && (!readable_anyway || !t.published_for("locked.nc").is_empty())
    })
    .await;
    let folder = folder(&dirs);

    tap.assert_file_letter(
        &folder,
        "0-byte file",
        "empty.nc",
        "wis2-create",
        &[
            "empty.nc is empty (0 bytes)",
            "nothing to publish",
            "send the complete file",
        ],
    );

    tap.assert_file_letter(
        &folder,
        "FIFO",
        "pipe.nc",
        "wis2-watch",
        &[
            "pipe.nc is not announced",
            "it is a FIFO (named pipe), not a regular file",
            "remove it from the data directory",
        ],
    );

    tap.assert_file_letter(
        &folder,
        "symlink leaving the data directory",
        "outside.nc",
        "wis2-watch",
        &[
            "outside.nc",
            "points outside the data directory",
            "copy the file in instead",
        ],
    );

    // The payload is the file's name itself, byte for byte (base64 on the topic).
    let l = tap.letter(&folder, "non-UTF-8 name", |p| p == raw_name);
    assert_eq!(l.0.payload_encoding, "base64");
    assert_letter(
        "non-UTF-8 name",
        l,
        "wis2-watch",
        &[
            "_274.nc is not announced",
            "its name is not valid UTF-8",
            "rename it to UTF-8",
        ],
        raw_name,
    );

    tap.assert_file_letter(
        &folder,
        "output over the broker's packet limit",
        "metadata/huge.json",
        "wis2-create",
        &[
            "the message on `chain/created` would be a",
            &format!("over the broker's limit of {BROKER_LIMIT} bytes"),
            "make the input smaller",
            "or raise both limits together",
        ],
    );

    if readable_anyway {
        // Running as root: chmod 000 does not stop reading, so the file is simply
        // published, like any other.
        assert_published(&tap, "locked.nc", &locked_bytes);
    } else {
        tap.assert_file_letter(
            &folder,
            "unreadable file",
            "locked.nc",
            "wis2-create",
            &[
                "locked.nc",
                "Permission denied",
                "check that the file exists under WIS2_DATA_DIR and is readable",
            ],
        );
    }

    assert_published(
        &tap,
        "2024/R4902481_001.nc",
        &read(&argo("R4902481_001.nc")),
    );

    let published = if readable_anyway { 3 } else { 2 };
    good_file_still_published(&mut tap, &dirs, letters, published).await;
    for dir in ["empty.d", "dir.nc", "2024"] {
        let about_it = |l: &DeadLetter| {
            let input = l.original().expect("the payload decodes");
            let subject =
                event_path(&input).unwrap_or_else(|| String::from_utf8_lossy(&input).into_owned());
            subject == dir
                || subject.starts_with(&format!("{dir}/"))
                || l.reason.contains(&format!("/{dir} "))
                || l.reason.contains(&format!("{dir} is "))
        };
        assert!(
            !tap.letters.iter().any(about_it),
            "directory {dir} was refused: {}",
            tap.summary()
        );
    }
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_events_are_dead_lettered_with_what_is_wrong_and_the_event_kept() {
    let Site { broker, dirs } = Site::start();
    // Things events may name. Hidden names, so that wis2-watch leaves them alone: only
    // the injected events point at them.
    std::fs::create_dir(dirs.data.join(".adir.nc")).expect("dir");
    mkfifo(&dirs.data.join(".pipe.nc"));
    std::os::unix::fs::symlink(argo(GOOD), dirs.data.join(".outside.nc")).expect("symlink");
    let mut tap = Tap::connect(&broker).await;
    let chain = Chain::start(&broker, &dirs).await;
    let bus = injector(&broker).await;

    // An event of about 1 MB (under the broker's limit) whose data is a string of
    // quotes: the reason quotes it back, escaped twice over.
    let quotes = cloud_event(
        "1.0",
        "quotes",
        FILE_CREATED,
        Some(json!("\"".repeat(500_000))),
    );
    assert!(quotes.len() > 1_000_000 && quotes.len() < BROKER_LIMIT - 100);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "not JSON (text)",
            b"not json".to_vec(),
            vec![
                "event is not JSON",
                "send a CloudEvents 1.0 JSON object (structured mode)",
            ],
        ),
        (
            "not JSON (binary, not UTF-8)",
            b"\x89HDF\r\n\x1a\n\xff\xfe\x00garbage".to_vec(),
            vec!["event is not JSON", "send a CloudEvents 1.0 JSON object"],
        ),
        (
            "JSON of the wrong shape (an object)",
            br#"{"path":"R6903247_274.nc"}"#.to_vec(),
            vec![
                "event is not a CloudEvent",
                "missing field",
                "it needs specversion \"1.0\", id, source and type",
            ],
        ),
        (
            "JSON of the wrong shape (an array)",
            b"[1,2,3]".to_vec(),
            vec![
                "event is not a CloudEvent",
                "it needs specversion \"1.0\", id, source and type",
            ],
        ),
        (
            "CloudEvents 0.3",
            cloud_event("0.3", "v03", FILE_CREATED, Some(json!({"path": GOOD}))),
            vec![
                "unsupported CloudEvents specversion `0.3`",
                "only \"1.0\" is accepted",
            ],
        ),
        (
            "file event without data",
            cloud_event("1.0", "nodata", FILE_CREATED, None),
            vec![
                "file event has no usable data: no data",
                "data must be {\"path\": \"relative/path\"}",
            ],
        ),
        (
            "file event whose data has no path",
            cloud_event("1.0", "nopath", FILE_CREATED, Some(json!({"file": GOOD}))),
            vec![
                "file event has no usable data",
                "missing field `path`",
                "data must be {\"path\": \"relative/path\"}",
            ],
        ),
        (
            "unknown CloudEvents type",
            cloud_event(
                "1.0",
                "unknown",
                "org.example.file.created",
                Some(json!({"path": GOOD})),
            ),
            vec![
                "unknown event type `org.example.file.created`",
                "expected int.wmo.wis2.chain.file.created",
            ],
        ),
        (
            "path escaping the data directory",
            file_event("passwd", "../../etc/passwd"),
            vec![
                "path `../../etc/passwd` escapes the data directory",
                "give a path relative to it, without `..`",
            ],
        ),
        (
            "absolute path",
            file_event("abs", "/etc/passwd"),
            vec![
                "path `/etc/passwd` escapes the data directory",
                "give a path relative to it",
            ],
        ),
        (
            "event naming a directory",
            file_event("dir", ".adir.nc"),
            vec![
                ".adir.nc is a directory, not a regular file",
                "only regular files are published",
                "name a file",
            ],
        ),
        (
            "event naming a FIFO",
            file_event("fifo", ".pipe.nc"),
            vec![
                ".pipe.nc is a FIFO (named pipe), not a regular file",
                "only regular files are published",
            ],
        ),
        (
            "event naming a symlink that leaves the data directory",
            file_event("link", ".outside.nc"),
            vec![
                ".outside.nc resolves outside the data directory",
                "copy the file into the data directory",
            ],
        ),
        (
            "event of a file gone before it is read",
            file_event("gone", "gone.nc"),
            vec!["gone.nc no longer exists", "there is nothing to publish"],
        ),
        (
            "1 MB event quoted back in its reason",
            quotes.clone(),
            vec![
                "file event has no usable data",
                "data must be {\"path\": \"relative/path\"}",
            ],
        ),
    ];
    for (case, payload, _) in &cases {
        bus.publish(EVENTS, payload.clone())
            .await
            .unwrap_or_else(|e| panic!("{case}: not sent: {e}"));
    }
    tap.until("a dead letter per bad event", 60, |t| {
        t.letters.len() >= cases.len()
    })
    .await;
    let folder = folder(&dirs);
    for (case, payload, words) in &cases {
        let l = tap.letter(&folder, case, |p| p == payload.as_slice());
        assert_letter(case, l, "wis2-create", words, payload);
        assert!(
            l.0.reason.len() <= 8192,
            "{case}: a reason of {} bytes",
            l.0.reason.len()
        );
    }
    // The large one was cut on the topic to fit the broker, whole in the folder.
    let (on_topic, _) = tap.letter(&folder, "1 MB event", |p| p == quotes.as_slice());
    assert_eq!(on_topic.truncated_from, Some(quotes.len() as u64));
    assert!(
        serde_json::to_vec(on_topic).expect("json").len() <= BROKER_LIMIT,
        "the letter fits the broker"
    );

    // A 10 MB event on the project's broker (max_packet_size 1 MiB): mosquitto closes
    // the producer's connection without acknowledging it; nothing reaches the chain.
    let mut o = rumqttc::MqttOptions::new("ten-mb-producer", "127.0.0.1", broker.port);
    o.set_credentials("wis2-watch", password("wis2-watch"))
        .set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 10);
    let ten_mb = ten_mb_event();
    client
        .publish(EVENTS, rumqttc::QoS::AtLeastOnce, false, ten_mb)
        .await
        .expect("queued");
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                    return "acknowledged".to_string();
                }
                Ok(_) => {}
                Err(e) => return format!("connection closed: {e}"),
            }
        }
    })
    .await
    .expect("the broker answers the 10 MB event within 20 s");
    assert!(
        outcome.starts_with("connection closed"),
        "the broker {outcome} a 10 MB event"
    );
    drop(client);

    good_file_still_published(&mut tap, &dirs, cases.len(), 1).await;
    bus.disconnect().await;
    chain.stop().await;
}

/// A file event of exactly 10 MiB (its data padded).
fn ten_mb_event() -> Vec<u8> {
    let mut ev = json!({
        "specversion": "1.0", "id": "ten-mb", "source": "test-injector",
        "type": wis2::event::FILE_CREATED, "data": {"path": GOOD, "padding": ""}
    });
    let base = ev.to_string().len();
    ev["data"]["padding"] = json!("x".repeat(10 * 1024 * 1024 - base));
    let bytes = ev.to_string().into_bytes();
    assert_eq!(bytes.len(), 10 * 1024 * 1024);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_10_mb_event_is_dead_lettered_cut_to_fit_on_the_topic_and_whole_in_the_folder() {
    // The project's broker refuses a 10 MB packet (see the test above). An operator
    // may raise mosquitto's max_packet_size; the services keep their own 1 MiB limits
    // (events, WIS2_MAX_PACKET_BYTES), and this is what they then do with one.
    let conf_dir = tempfile::tempdir().expect("tmp");
    let conf = std::fs::read_to_string(repo().join("broker/mosquitto.conf")).expect("conf");
    let raised = conf.replace("max_packet_size 1048576", "max_packet_size 16777216");
    assert_ne!(
        raised, conf,
        "broker/mosquitto.conf sets max_packet_size 1048576"
    );
    let conf_path = conf_dir.path().join("mosquitto.conf");
    std::fs::write(&conf_path, raised).expect("conf");
    let broker = Broker::start_with_env(&[("BROKER_CONF", conf_path.display().to_string())], &[]);
    let site = Site::on(broker);
    let mut tap = Tap::connect(&site.broker).await;
    let chain = site.chain().await;
    let bus = injector(&site.broker).await;

    let ten_mb = ten_mb_event();
    bus.publish(EVENTS, ten_mb.clone())
        .await
        .expect("the raised broker takes 10 MB");
    tap.until("the 10 MB event's dead letter", 60, |t| {
        !t.letters.is_empty()
    })
    .await;
    let folder = folder(&site.dirs);
    let l = tap.letter(&folder, "10 MB event", |p| p == ten_mb.as_slice());
    assert_letter(
        "10 MB event",
        l,
        "wis2-create",
        &[
            "event is 10485760 bytes, over the 1048576-byte limit",
            "send a reference to the file, not its content",
        ],
        &ten_mb,
    );
    assert_eq!(
        l.0.truncated_from,
        Some(ten_mb.len() as u64),
        "cut on the topic"
    );
    assert!(serde_json::to_vec(l.0).expect("json").len() <= BROKER_LIMIT);
    assert!(
        l.0.original().expect("the payload decodes").len() > BROKER_LIMIT / 2,
        "not cut more than needed"
    );

    good_file_still_published(&mut tap, &site.dirs, 1, 1).await;
    bus.disconnect().await;
    chain.stop().await;
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM), in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Waits until process `pid` has `file` open: wis2-create is hashing it.
async fn wait_open(pid: u32, file: &Path) {
    let want = file.canonicalize().expect("canonical");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == want))
            })
            .unwrap_or(false);
        if open {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "wis2-create did not open {} within 30 s",
            want.display()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn files_that_vanish_or_change_while_hashed_and_a_huge_sparse_file() {
    // The services as processes: their own memory and open files can be looked at.
    let site = Site::start();
    let dirs = &site.dirs;
    let mut tap = Tap::connect(&site.broker).await;
    let procs = site.procs(&[]).await;
    let create = procs.create.pid().expect("wis2-create runs");
    let bus = injector(&site.broker).await;
    // Large enough for a hash of a second or more (about 800 MB/s here), so that the
    // change lands while wis2-create reads, even on a loaded machine.
    const RACE: u64 = 1 << 30;

    // Vanishes while hashed: a file only the injected event names (a hidden name,
    // which wis2-watch leaves alone), removed once wis2-create has opened it.
    let vanish = put_sparse(&dirs.data, ".vanish.dat", RACE);
    let vanish_event = file_event("vanish", ".vanish.dat");
    bus.publish(EVENTS, vanish_event.clone())
        .await
        .expect("sent");
    wait_open(create, &vanish).await;
    std::fs::remove_file(&vanish).expect("remove");
    tap.until("the vanished file's dead letter", 60, |t| {
        !t.letters.is_empty()
    })
    .await;

    // Changes while hashed: a file wis2-watch announced, grown once wis2-create has
    // opened it. The reason promises it is announced again once complete: it must be.
    let grows = put_sparse(&dirs.data, "grows.dat", RACE);
    wait_open(create, &grows).await;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&grows)
            .expect("open");
        f.write_all(&vec![b'x'; 1 << 20]).expect("append");
    }
    tap.until("the changed file's dead letter and its message", 90, |t| {
        t.letters.len() >= 2 && !t.published_for("grows.dat").is_empty()
    })
    .await;
    let folder_now = folder(dirs);
    let l = tap.letter(&folder_now, "file vanished while hashed", |p| {
        p == vanish_event.as_slice()
    });
    assert_letter(
        "file vanished while hashed",
        l,
        "wis2-create",
        &[
            ".vanish.dat no longer exists",
            "removed or renamed after its event was sent",
            "there is nothing to publish",
        ],
        &vanish_event,
    );
    tap.assert_file_letter(
        &folder_now,
        "file changed while hashed",
        "grows.dat",
        "wis2-create",
        &[
            "grows.dat changed while it was being hashed",
            "it is announced again once complete",
        ],
    );
    let m = tap.published_for("grows.dat");
    assert_eq!(m.len(), 1, "{}", tap.summary());
    assert_eq!(
        m[0]["links"][0]["length"],
        RACE + (1 << 20),
        "the whole file"
    );
    assert_eq!(m[0]["links"][0]["rel"], "update");

    // A huge sparse file. 20 GiB takes about 60 s to read and hash in this chain on
    // the 2-core test machine (debug build), as long as every other test here
    // together: 4 GiB shows the same thing, memory that does not grow with the file
    // (the hash streams through 4 MiB of buffers).
    const HUGE: u64 = 4 << 30;
    let rss_before = proc_status_kib(create, "VmRSS");
    // VmHWM lags behind (the kernel updates it lazily): sample VmRSS as well.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(proc_status_kib(create, "VmRSS"));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    put_sparse(&dirs.data, "huge.dat", HUGE);
    tap.until("the huge file's message", 180, |t| {
        !t.published_for("huge.dat").is_empty()
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sampled = sampler.join().expect("sampler");
    let peak = proc_status_kib(create, "VmHWM").max(sampled);
    println!("wis2-create with a {HUGE}-byte file: VmRSS {rss_before} KiB before, peak {peak} KiB");
    let m = tap.published_for("huge.dat");
    assert_eq!(m[0]["links"][0]["length"], HUGE);
    assert_eq!(m[0]["links"][0]["type"], "application/octet-stream");
    assert!(
        peak < rss_before + 64 * 1024 && peak < 256 * 1024,
        "wis2-create's memory grew with a {HUGE}-byte file: VmRSS {rss_before} KiB before, peak {peak} KiB"
    );

    good_file_still_published(&mut tap, dirs, 2, 3).await;
    bus.disconnect().await;
    drop(procs);
}
