//! The whole chain over a real mosquitto: real Argo files in, one valid WNM per file
//! out on the WIS2 topic.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha512};

use wis2_bus::topics::{EVENTS, REJECTED};
use wis2_tests::fixtures::{OUTCOMES, TOPIC, argo, drop_file, put, repo, shared};
use wis2_tests::flags::s;
use wis2_tests::observer::Observer;
use wis2_tests::service::{Chain, start_downstream, start_watch};
use wis2_tests::site::Site;
use wis2_tests::tap::{Tap, assert_letter, folder, injector};

/// Classic Argo files, with the values read by hand from their variables (JULD with
/// REFERENCE_DATE_TIME 19500101000000; LATITUDE, LONGITUDE), as listed in
/// ../shared/data/PROVENANCE.md (D5900865_001's JULD is 06:28:06.99999, which rounds
/// to 06:28:07; PROVENANCE.md truncates it).
const FILES: [(&str, &str, f64, f64); 5] = [
    ("R6903247_274.nc", "2022-04-18T09:48:00Z", 36.537, 22.860),
    ("D1900857_000D.nc", "2008-02-25T04:03:00Z", -39.926, 10.809),
    ("R4902481_001.nc", "2019-06-14T05:27:00Z", 56.486, -52.739),
    ("D5900865_001.nc", "2005-08-28T06:28:07Z", -9.768, 115.852),
    ("R2901623_000.nc", "2010-05-17T04:19:00Z", -0.025, 92.214),
];

fn validator() -> wis2::validate::Validator {
    wis2::validate::Validator::new(&wis2::validate::ValidatorOptions {
        schema: Some(shared().join("standards/wnm/wis2-notification-message-bundled.json")),
        wth_dir: Some(shared().join("standards/wth")),
        profile: wis2::validate::Profile::Wnm13,
    })
    .expect("validator with the authoritative schema")
}

/// The INFCOM-4 draft (WNM 1.4.0) with its own schema: the chain's messages pass it too.
fn draft_validator() -> wis2::validate::Validator {
    wis2::validate::Validator::new(&wis2::validate::ValidatorOptions {
        schema: Some(
            shared()
                .join("standards/wnm-infcom4-draft/schemas/wis2-notification-message-bundled.json"),
        ),
        wth_dir: Some(shared().join("standards/wth")),
        profile: wis2::validate::Profile::Infcom4Draft,
    })
    .expect("validator with the draft's schema")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dropped_file_gets_one_valid_message_on_the_wis2_topic() {
    let site = Site::start();
    let mut obs = Observer::connect(&site.broker, "operator", &OUTCOMES).await;
    let chain = site.chain().await;

    let start = Utc::now();
    let data = &site.dirs.data;
    std::fs::create_dir_all(data.join("2024")).expect("subdir");
    for (i, (name, ..)) in FILES.iter().enumerate() {
        let dir = if i == 0 {
            data.join("2024")
        } else {
            data.clone()
        };
        drop_file(&argo(name), &dir, name);
    }
    let got = obs
        .collect(FILES.len(), Duration::from_secs(120), |_| true)
        .await;
    for m in &got {
        assert_eq!(
            m.topic,
            TOPIC,
            "unexpected message on {}: {}",
            m.topic,
            String::from_utf8_lossy(&m.payload)
        );
    }
    assert_eq!(got.len(), FILES.len(), "one message per file");

    let v = validator();
    let draft = draft_validator();
    let mut by_name: HashMap<String, serde_json::Value> = HashMap::new();
    for m in &got {
        let report = v.check_message(&m.payload, Some(&m.topic));
        assert!(report.is_valid(), "{}", report.to_human());
        let report = draft.check_message(&m.payload, Some(&m.topic));
        assert!(report.is_valid(), "INFCOM-4 draft: {}", report.to_human());
        let msg = m.json();
        let data_id = msg["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .to_string();
        let name = data_id.rsplit('/').next().expect("name").to_string();
        assert!(
            by_name.insert(name, msg).is_none(),
            "two messages for {data_id}"
        );
    }

    for (i, (name, datetime, lat, lon)) in FILES.iter().enumerate() {
        let msg = by_name
            .get(*name)
            .unwrap_or_else(|| panic!("no message for {name}"));
        let rel = if i == 0 {
            format!("2024/{name}")
        } else {
            name.to_string()
        };
        let bytes = std::fs::read(argo(name)).expect("read");
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes));
        let p = &msg["properties"];
        assert_eq!(p["integrity"]["method"], "sha512");
        assert_eq!(p["integrity"]["value"], digest.as_str(), "{name}");
        assert_eq!(
            p["data_id"],
            format!(
                "wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/{rel}"
            )
        );
        assert_eq!(p["metadata_id"], "urn:wmo:md:fr-ifremer-argo:cor:msg:argo");
        assert_eq!(p["datetime"], *datetime, "{name}: datetime from JULD");
        let link = &msg["links"][0];
        assert_eq!(link["rel"], "canonical");
        assert_eq!(link["href"], format!("https://data.example.org/argo/{rel}"));
        assert_eq!(link["type"], "application/x-netcdf");
        assert_eq!(link["length"], bytes.len() as u64, "{name}: length");
        assert_eq!(msg["geometry"]["type"], "Point", "{name}");
        let c = &msg["geometry"]["coordinates"];
        let (glon, glat) = (c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat"));
        assert!(
            (glon - lon).abs() < 1e-3 && (glat - lat).abs() < 1e-3,
            "{name}: {c} vs ({lon}, {lat})"
        );
        let pubtime: DateTime<Utc> = p["pubtime"]
            .as_str()
            .expect("pubtime")
            .parse()
            .expect("rfc3339");
        assert!(
            pubtime >= start - chrono::Duration::seconds(1) && pubtime <= Utc::now(),
            "{name}: pubtime {pubtime}"
        );
    }

    // Each published message is also in the output folder (written after the
    // broker's acknowledgement, so possibly a moment after the message arrived).
    let count = || wis2_tests::output::messages(&site.dirs.output).len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count() < FILES.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(), FILES.len());

    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_input_file_is_announced_at_start_and_not_again_on_restart() {
    let Site { broker, dirs } = Site::start();
    drop_file(&argo("R6903247_274.nc"), &dirs.data, "R6903247_274.nc");
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let mut services = start_downstream(&broker, &dirs).await;
    let input = [s("--input-file"), s("R6903247_274.nc")];
    let watch = start_watch(&broker, &dirs, &input);
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    // Let the confirmation come back, then restart the watcher: nothing new.
    watch.stop().await.expect("watch stops");
    let watch = start_watch(&broker, &dirs, &input);
    watch.wait_ready().await;
    // A new file proves the restarted watcher works; only it must arrive.
    drop_file(&argo("R4902481_001.nc"), &dirs.data, "R4902481_001.nc");
    let mut got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    // Anything else would arrive right after it.
    got.extend(obs.collect(1, Duration::from_secs(3), |_| true).await);
    assert_eq!(got.len(), 1, "only the new file after a restart");
    assert!(
        got[0].json()["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .ends_with("R4902481_001.nc")
    );
    services.push(("watch", watch));
    Chain { services }.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_file_is_dead_lettered_and_the_chain_keeps_going() {
    let site = Site::start();
    let mut tap = Tap::connect(&site.broker).await;
    let chain = site.chain().await;
    // An event whose path escapes the data directory, sent with wis2-watch's account.
    let bus = injector(&site.broker).await;
    let ev = r#"{"specversion":"1.0","id":"bad-1","source":"test","type":"int.wmo.wis2.chain.file.created","data":{"path":"../../etc/passwd"}}"#;
    for payload in [ev, "not json"] {
        bus.publish(EVENTS, payload).await.expect("publish");
    }
    tap.until("the two dead letters", 90, |t| t.letters.len() >= 2)
        .await;
    // Handled concurrently: find each dead letter by its payload, in the folder too.
    let folder = folder(&site.dirs);
    for (case, payload, words) in [
        ("the escaping event", ev, "escapes the data directory"),
        ("the non-JSON event", "not json", "not JSON"),
    ] {
        let l = tap.letter(&folder, case, |p| p == payload.as_bytes());
        assert_letter(case, l, "wis2-create", &[words], payload.as_bytes());
    }
    assert_eq!(
        std::fs::read_dir(&site.dirs.deadletters)
            .expect("folder")
            .count(),
        2
    );
    // The chain still works.
    drop_file(&argo("D5900865_001.nc"), &site.dirs.data, "D5900865_001.nc");
    tap.until("the good file's message", 90, |t| !t.published.is_empty())
        .await;
    tap.assert_totals(2, 1);
    bus.disconnect().await;
    chain.stop().await;
}

/// The WCMP2 record of the test centre, in the repository.
fn record() -> PathBuf {
    repo().join("data/metadata/fr-ifremer-argo-core-metadata.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_metadata_record_is_announced_updated_and_deleted_on_the_metadata_topic() {
    let site = Site::start();
    let meta = site.dirs.data.join("metadata");
    std::fs::create_dir_all(&meta).expect("metadata dir");
    let mut obs = Observer::connect(&site.broker, "operator", &OUTCOMES).await;
    let chain = site.chain().await;
    let topic = "origin/a/wis2/fr-ifremer-argo/metadata";
    let wcmp2 = wis2::wcmp2::Wcmp2Checker::new(&wis2::wcmp2::Wcmp2Options {
        schema: Some(shared().join("standards/wcmp2/wcmp2-bundled.json")),
        codelists_dir: Some(shared().join("standards/wcmp2/codelists")),
        wth_dir: Some(shared().join("standards/wth")),
    })
    .expect("checker");
    assert!(
        wcmp2
            .check_record(&std::fs::read(record()).expect("read"))
            .is_valid()
    );

    drop_file(&record(), &meta, "argo.json");
    let got = obs.next_on(topic, Duration::from_secs(90)).await;
    let v = validator();
    let report = v.check_message(&got.payload, Some(topic));
    assert!(report.is_valid(), "{}", report.to_human());
    let m = got.json();
    assert_eq!(
        m["properties"]["data_id"],
        "fr-ifremer-argo/metadata/cor:msg:argo"
    );
    assert_eq!(
        m["properties"]["metadata_id"],
        "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    );
    assert_eq!(m["links"][0]["rel"], "canonical");
    assert_eq!(m["links"][0]["type"], "application/geo+json");
    assert_eq!(
        m["links"][0]["href"],
        "https://data.example.org/argo/metadata/argo.json"
    );

    // A changed record: update, same data_id.
    let mut rec = record_json();
    rec["properties"]["updated"] = serde_json::json!("2026-11-29T00:00:00Z");
    put(
        &meta,
        "argo.json",
        &serde_json::to_vec_pretty(&rec).expect("json"),
    );
    let m = obs.next_on(topic, Duration::from_secs(90)).await.json();
    assert_eq!(m["links"][0]["rel"], "update");
    assert_eq!(
        m["properties"]["data_id"],
        "fr-ifremer-argo/metadata/cor:msg:argo"
    );
    assert_eq!(m["properties"]["datetime"], "2026-11-29T00:00:00Z");

    // Removed: deletion, with the metadata_id.
    std::fs::remove_file(meta.join("argo.json")).expect("remove");
    let got = obs.next_on(topic, Duration::from_secs(90)).await;
    let m = got.json();
    assert_eq!(m["links"][0]["rel"], "deletion");
    assert_eq!(
        m["properties"]["metadata_id"],
        "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    );
    let report = v.check_message(&got.payload, Some(topic));
    assert!(report.is_valid(), "{}", report.to_human());
    chain.stop().await;
}

/// [`record`] as JSON, to change.
fn record_json() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(record()).expect("read")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_record_is_rejected_with_the_wcmp2_report() {
    let site = Site::start();
    let meta = site.dirs.data.join("metadata");
    std::fs::create_dir_all(&meta).expect("metadata dir");
    let mut obs = Observer::connect(&site.broker, "operator", &["origin/a/wis2/#", REJECTED]).await;
    let chain = site.chain().await;
    let mut rec = record_json();
    rec["properties"]["title"] = serde_json::Value::Null;
    put(&meta, "bad.json", &serde_json::to_vec(&rec).expect("json"));
    // On chain/rejected: an invalid record must not be announced.
    let r = obs.next_on(REJECTED, Duration::from_secs(90)).await.json();
    let failed: Vec<&str> = r["report"]["ets-report"]["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter(|t| t["code"] == "FAILED")
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        failed.contains(&"http://wis.wmo.int/spec/wcmp/2/conf/core/title"),
        "{failed:?}"
    );
    chain.stop().await;
}
