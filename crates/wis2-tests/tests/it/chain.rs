//! The whole chain over a real mosquitto: real Argo files in, one valid WNM per file
//! out on the WIS2 topic.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha512};

use wis2_tests::broker::{Broker, password};
use wis2_tests::fixtures::{TOPIC, drop_file, repo, shared};
use wis2_tests::flags::s;
use wis2_tests::observer::Observer;
use wis2_tests::service::{Chain, ChainDirs, start_downstream, start_watch};

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
    })
    .expect("validator with the authoritative schema")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dropped_file_gets_one_valid_message_on_the_wis2_topic() {
    let broker = Broker::start();
    let root = tempfile::tempdir().expect("tmp");
    let dirs = ChainDirs::new(root.path());
    let mut obs = Observer::connect(
        &broker,
        "operator",
        &["origin/a/wis2/#", "chain/rejected", "chain/deadletter"],
    )
    .await;
    let chain = Chain::start(&broker, &dirs).await;

    let start = Utc::now();
    std::fs::create_dir_all(dirs.data.join("2024")).expect("subdir");
    for (i, (name, ..)) in FILES.iter().enumerate() {
        let dir = if i == 0 {
            dirs.data.join("2024")
        } else {
            dirs.data.clone()
        };
        drop_file(&shared().join("data/argo").join(name), &dir, name);
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
    let mut by_name: HashMap<String, serde_json::Value> = HashMap::new();
    for m in &got {
        let report = v.check_message(&m.payload, Some(&m.topic));
        assert!(report.is_valid(), "{}", report.to_human());
        let msg: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
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
        let bytes = std::fs::read(shared().join("data/argo").join(name)).expect("read");
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
    let count = || {
        std::fs::read_dir(&dirs.output)
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count() < FILES.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(), FILES.len());

    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_input_file_is_announced_at_start_and_not_again_on_restart() {
    let broker = Broker::start();
    let root = tempfile::tempdir().expect("tmp");
    let dirs = ChainDirs::new(root.path());
    drop_file(
        &shared().join("data/argo/R6903247_274.nc"),
        &dirs.data,
        "R6903247_274.nc",
    );
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let services = start_downstream(&broker, &dirs).await;
    let watch = start_watch(&broker, &dirs, &[s("--input-file"), s("R6903247_274.nc")]);
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    // Let the confirmation come back, then restart the watcher: nothing new.
    watch.stop().await.expect("watch stops");
    let watch = start_watch(&broker, &dirs, &[s("--input-file"), s("R6903247_274.nc")]);
    watch.wait_ready().await;
    // A new file proves the restarted watcher works; only it must arrive.
    drop_file(
        &shared().join("data/argo/R4902481_001.nc"),
        &dirs.data,
        "R4902481_001.nc",
    );
    let mut got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    // Anything else would arrive right after it.
    got.extend(obs.collect(1, Duration::from_secs(3), |_| true).await);
    assert_eq!(got.len(), 1, "only the new file after a restart");
    let m: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("json");
    assert!(
        m["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .ends_with("R4902481_001.nc")
    );
    watch.stop().await.expect("watch stops");
    for (_, s) in services {
        s.stop().await.expect("stops");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_file_is_dead_lettered_and_the_chain_keeps_going() {
    let broker = Broker::start();
    let root = tempfile::tempdir().expect("tmp");
    let dirs = ChainDirs::new(root.path());
    let mut obs = Observer::connect(
        &broker,
        "operator",
        &["origin/a/wis2/#", "chain/deadletter", "chain/rejected"],
    )
    .await;
    let chain = Chain::start(&broker, &dirs).await;
    // An event whose path escapes the data directory, sent with wis2-watch's account.
    let mut bad = rumqttc::MqttOptions::new("bad-producer", "127.0.0.1", broker.port);
    bad.set_credentials("wis2-watch", password("wis2-watch"));
    let (client, mut el) = rumqttc::AsyncClient::new(bad, 10);
    let poller = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let ev = r#"{"specversion":"1.0","id":"bad-1","source":"test","type":"int.wmo.wis2.chain.file.created","data":{"path":"../../etc/passwd"}}"#;
    client
        .publish("chain/events", rumqttc::QoS::AtLeastOnce, false, ev)
        .await
        .expect("publish");
    client
        .publish("chain/events", rumqttc::QoS::AtLeastOnce, false, "not json")
        .await
        .expect("publish");
    let dead = obs
        .collect(2, Duration::from_secs(90), |m| {
            m.topic == "chain/deadletter"
        })
        .await;
    assert_eq!(dead.len(), 2);
    // Handled concurrently: find each dead letter by its payload.
    let letters: Vec<serde_json::Value> = dead
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("json"))
        .collect();
    let escape = letters
        .iter()
        .find(|l| l["payload"] == ev)
        .expect("the escaping event is dead-lettered with its payload");
    assert_eq!(escape["stage"], "wis2-create");
    assert!(
        escape["reason"]
            .as_str()
            .expect("reason")
            .contains("escapes the data directory"),
        "{escape}"
    );
    let not_json = letters
        .iter()
        .find(|l| l["payload"] == "not json")
        .expect("the non-JSON event is dead-lettered");
    assert!(
        not_json["reason"]
            .as_str()
            .expect("reason")
            .contains("not JSON"),
        "{not_json}"
    );
    // The dead letters are also in the folder.
    assert_eq!(
        std::fs::read_dir(&dirs.deadletters)
            .expect("folder")
            .count(),
        2
    );
    // The chain still works.
    drop_file(
        &shared().join("data/argo/D5900865_001.nc"),
        &dirs.data,
        "D5900865_001.nc",
    );
    let ok = obs
        .collect(1, Duration::from_secs(90), |m| m.topic == TOPIC)
        .await;
    assert_eq!(ok.len(), 1);
    poller.abort();
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_metadata_record_is_announced_updated_and_deleted_on_the_metadata_topic() {
    let broker = Broker::start();
    let root = tempfile::tempdir().expect("tmp");
    let dirs = ChainDirs::new(root.path());
    let meta = dirs.data.join("metadata");
    std::fs::create_dir_all(&meta).expect("metadata dir");
    let mut obs = Observer::connect(
        &broker,
        "operator",
        &["origin/a/wis2/#", "chain/rejected", "chain/deadletter"],
    )
    .await;
    let chain = Chain::start(&broker, &dirs).await;
    let record = repo().join("data/metadata/fr-ifremer-argo-core-metadata.json");
    let topic = "origin/a/wis2/fr-ifremer-argo/metadata";
    let wcmp2 = wis2::wcmp2::Wcmp2Checker::new(&wis2::wcmp2::Wcmp2Options {
        schema: Some(shared().join("standards/wcmp2/wcmp2-bundled.json")),
        codelists_dir: Some(shared().join("standards/wcmp2/codelists")),
        wth_dir: Some(shared().join("standards/wth")),
    })
    .expect("checker");
    assert!(
        wcmp2
            .check_record(&std::fs::read(&record).expect("read"))
            .is_valid()
    );

    drop_file(&record, &meta, "argo.json");
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].topic,
        topic,
        "{}",
        String::from_utf8_lossy(&got[0].payload)
    );
    let v = validator();
    let report = v.check_message(&got[0].payload, Some(topic));
    assert!(report.is_valid(), "{}", report.to_human());
    let m: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("json");
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
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("read")).expect("json");
    rec["properties"]["updated"] = serde_json::json!("2026-11-29T00:00:00Z");
    let tmp = meta.join(".argo.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&rec).expect("json")).expect("write");
    std::fs::rename(&tmp, meta.join("argo.json")).expect("rename");
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    let m: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("json");
    assert_eq!(got[0].topic, topic);
    assert_eq!(m["links"][0]["rel"], "update");
    assert_eq!(
        m["properties"]["data_id"],
        "fr-ifremer-argo/metadata/cor:msg:argo"
    );
    assert_eq!(m["properties"]["datetime"], "2026-11-29T00:00:00Z");

    // Removed: deletion, with the metadata_id.
    std::fs::remove_file(meta.join("argo.json")).expect("remove");
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    let m: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("json");
    assert_eq!(got[0].topic, topic);
    assert_eq!(m["links"][0]["rel"], "deletion");
    assert_eq!(
        m["properties"]["metadata_id"],
        "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    );
    let report = v.check_message(&got[0].payload, Some(topic));
    assert!(report.is_valid(), "{}", report.to_human());
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_record_is_rejected_with_the_wcmp2_report() {
    let broker = Broker::start();
    let root = tempfile::tempdir().expect("tmp");
    let dirs = ChainDirs::new(root.path());
    let meta = dirs.data.join("metadata");
    std::fs::create_dir_all(&meta).expect("metadata dir");
    let mut obs =
        Observer::connect(&broker, "operator", &["origin/a/wis2/#", "chain/rejected"]).await;
    let chain = Chain::start(&broker, &dirs).await;
    let mut rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("data/metadata/fr-ifremer-argo-core-metadata.json"))
            .expect("read"),
    )
    .expect("json");
    rec["properties"]["title"] = serde_json::Value::Null;
    std::fs::write(
        meta.join(".bad.json.tmp"),
        serde_json::to_vec(&rec).expect("json"),
    )
    .expect("write");
    std::fs::rename(meta.join(".bad.json.tmp"), meta.join("bad.json")).expect("rename");
    let got = obs.collect(1, Duration::from_secs(90), |_| true).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].topic, "chain/rejected",
        "an invalid record must not be announced"
    );
    let r: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("json");
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
