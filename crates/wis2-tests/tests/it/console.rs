//! The console against a real chain and broker: its API for every parameter, the
//! refusals of replay, the services' state, the history across a restart. (The page
//! in a real browser: `console_page.rs`.)

use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use wis2_tests::broker::password;
use wis2_tests::console::{Console, ConsoleProc};
use wis2_tests::fixtures::{CENTRE, TOPIC, argo, drop_file, put};
use wis2_tests::site::Site;

const GOOD: &str = "R6903247_274.nc";

fn operator() -> String {
    let v = base64::engine::general_purpose::STANDARD
        .encode(format!("operator:{}", password("operator")));
    format!("Basic {v}")
}

fn files(body: &Value) -> Vec<Value> {
    body["files"].as_array().cloned().unwrap_or_default()
}

fn state_of(body: &Value, path: &str) -> Option<String> {
    files(body)
        .iter()
        .find(|f| f["path"] == path)
        .and_then(|f| f["state"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_follows_every_file_and_replays_a_dead_letter() {
    let site = Site::start();
    let console_state = tempfile::tempdir().expect("state");
    let console = Console::start(&site.broker, console_state.path(), &[]).await;
    let mut chain = site.chain().await;
    let wait = Duration::from_secs(60);

    // A good file: published, with its four steps, its message and its link.
    drop_file(&argo(GOOD), &site.dirs.data, GOOD);
    let body = console
        .until("/api/files", wait, |b| {
            state_of(b, GOOD).as_deref() == Some("published")
        })
        .await;
    let f = files(&body)
        .into_iter()
        .find(|f| f["path"] == GOOD)
        .expect("listed");
    let stages: Vec<&str> = f["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    assert_eq!(stages, ["announced", "created", "validated", "published"]);
    let data_id = f["data_id"].as_str().expect("data_id").to_string();
    let message_id = f["message_id"].as_str().expect("message_id").to_string();
    let (status, one) = console.get(&format!("/api/file?path={GOOD}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        one["file"]["message"]["id"],
        message_id.as_str(),
        "the WNM as published"
    );
    assert!(
        one["file"]["link"]
            .as_str()
            .is_some_and(|l| l.ends_with(GOOD))
    );
    assert_eq!(console.get("/api/file?path=nope.nc").await.0, 404);

    // Search by data_id, message id and name; filters; refusals of bad parameters.
    for q in [data_id.as_str(), message_id.as_str(), "R6903247"] {
        let (_, b) = console.get(&format!("/api/files?q={q}")).await;
        assert_eq!(files(&b).len(), 1, "q={q}: {b}");
    }
    assert!(files(&console.get("/api/files?state=rejected").await.1).is_empty());
    assert_eq!(
        files(&console.get("/api/files?state=published").await.1).len(),
        1
    );
    assert!(files(&console.get("/api/files?from=2999-01-01T00:00:00Z").await.1).is_empty());
    assert_eq!(console.get("/api/files?state=lost").await.0, 400);
    assert_eq!(console.get("/api/files?from=yesterday").await.0, 400);

    // A truncated file: a dead letter with its reason, on the file and in the list.
    let bytes = std::fs::read(argo(GOOD)).expect("read");
    put(&site.dirs.data, "T.nc", &bytes[..bytes.len() / 2]);
    let body = console
        .until("/api/files?state=deadletter", wait, |b| {
            state_of(b, "T.nc").is_some()
        })
        .await;
    let t = files(&body)
        .into_iter()
        .find(|f| f["path"] == "T.nc")
        .expect("listed");
    assert!(
        t["reason"]
            .as_str()
            .is_some_and(|r| r.contains("truncated")),
        "{t}"
    );
    let (_, letters) = console.get("/api/deadletters").await;
    let letter = letters["deadletters"][0].clone();
    assert_eq!(letter["path"], "T.nc");
    let id = letter["id"].as_str().expect("id").to_string();

    // Replay: refused without the operator, from another site, without the header.
    let replay = format!("/api/deadletters/{id}/replay");
    let xrw = ("X-Requested-With", "wis2-console".to_string());
    assert_eq!(
        console.post(&replay, std::slice::from_ref(&xrw)).await.0,
        401
    );
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("operator:wrong")
    );
    assert_eq!(
        console
            .post(&replay, &[("Authorization", wrong), xrw.clone()])
            .await
            .0,
        401
    );
    assert_eq!(
        console
            .post(&replay, &[("Authorization", operator())])
            .await
            .0,
        403
    );
    let evil = ("Origin", "http://evil.example".to_string());
    assert_eq!(
        console
            .post(&replay, &[("Authorization", operator()), xrw.clone(), evil])
            .await
            .0,
        403
    );
    let cross = ("Sec-Fetch-Site", "cross-site".to_string());
    assert_eq!(
        console
            .post(
                &replay,
                &[("Authorization", operator()), xrw.clone(), cross]
            )
            .await
            .0,
        403
    );
    // The file fixed, then replayed. wis2-watch is stopped first, so that the replay
    // alone (not an announcement of the fixed file) publishes it.
    chain.stop_one("watch").await;
    std::fs::write(site.dirs.data.join("T.nc"), &bytes).expect("fix");
    let (status, done) = console
        .post(&replay, &[("Authorization", operator()), xrw])
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["topic"], "chain/events");
    console
        .until("/api/files?q=T.nc", wait, |b| {
            state_of(b, "T.nc").as_deref() == Some("published")
        })
        .await;
    let (_, letters) = console.get("/api/deadletters").await;
    assert!(
        letters["deadletters"][0]["replayed"].is_string(),
        "{letters}"
    );

    // The messages as an OGC API - Features collection, newest first.
    let (status, items) = console.get("/collections/messages/items").await;
    assert_eq!(status, 200);
    assert_eq!(items["type"], "FeatureCollection");
    assert_eq!(items["numberMatched"], 2, "{items}");
    assert_eq!(items["numberReturned"], 2);
    let newest = items["features"][0]["properties"]["data_id"]
        .as_str()
        .expect("data_id");
    assert!(newest.ends_with("T.nc"), "newest first: {newest}");
    let (_, page) = console.get("/collections/messages/items?limit=1").await;
    assert_eq!(page["numberReturned"], 1);
    let next = page["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["rel"] == "next")
        .expect("a next link");
    assert!(
        next["href"]
            .as_str()
            .is_some_and(|h| h.contains("offset=1")),
        "{next}"
    );
    let (_, by_id) = console
        .get(&format!("/collections/messages/items?data_id={data_id}"))
        .await;
    assert_eq!(by_id["numberMatched"], 1);
    assert_eq!(by_id["features"][0]["id"], message_id.as_str());
    let (_, future) = console
        .get("/collections/messages/items?datetime=2999-01-01T00:00:00Z/..")
        .await;
    assert_eq!(future["numberMatched"], 0);
    let (_, past) = console
        .get("/collections/messages/items?datetime=../2999-01-01T00:00:00Z")
        .await;
    assert_eq!(past["numberMatched"], 2);
    assert_eq!(
        console
            .get("/collections/messages/items?datetime=soon")
            .await
            .0,
        400
    );

    // Charts: the minute counts.
    let (_, stats) = console.get("/api/stats?window=hour").await;
    let published: u64 = stats["minutes"]
        .as_array()
        .expect("minutes")
        .iter()
        .filter_map(|m| m["published"].as_u64())
        .sum();
    assert_eq!(published, 2, "{stats}");
    assert_eq!(console.get("/api/stats?window=year").await.0, 400);

    // The services' state: a stopped service shows as offline.
    let (_, st) = console.get("/api/status").await;
    let names: Vec<&str> = st["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["service"].as_str())
        .collect();
    for s in ["wis2-watch", "wis2-create", "wis2-validate", "wis2-publish"] {
        assert!(names.contains(&s), "{s} in {names:?}");
    }
    chain.stop().await;
    console
        .until("/api/status", Duration::from_secs(10), |b| {
            b["services"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|s| s["service"] == "wis2-create" && s["state"] == "offline")
            })
        })
        .await;

    // /healthz and /metrics on the console's address too.
    let (h, _) = console.get("/healthz").await;
    assert_eq!(h, 200);

    // The history survives a restart of the console.
    console.service.stop().await.expect("clean stop");
    let again = Console::start(&site.broker, console_state.path(), &[]).await;
    let (_, b) = again.get("/api/files").await;
    assert_eq!(files(&b).len(), 2, "{b}");
    let _ = (TOPIC, CENTRE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_its_password_set_every_page_needs_it() {
    let site = Site::start();
    let state = tempfile::tempdir().expect("state");
    let console = Console::start(
        &site.broker,
        state.path(),
        &["--console-password".to_string(), "look".to_string()],
    )
    .await;
    assert_eq!(console.get("/").await.0, 401);
    assert_eq!(console.get("/api/files").await.0, 401);
    assert_eq!(console.get("/collections/messages/items").await.0, 401);
    assert_eq!(
        console.get("/healthz").await.0,
        200,
        "health stays open to probes"
    );
    let v = base64::engine::general_purpose::STANDARD.encode("me:look");
    let (status, _) = console
        .call(
            "GET",
            "/api/files",
            &[("Authorization", format!("Basic {v}"))],
        )
        .await;
    assert_eq!(status, 200);
}

/// A Global Broker's monitoring events about the centre (monitor mode): listed, the
/// problems marked, with the message of ours they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitoring_events_of_a_global_broker_are_shown_with_the_message_they_name() {
    let gb = wis2_tests::broker::Broker::start_with_acl(
        "user operator\ntopic readwrite monitor/a/wis2/#\nuser wis2-console\ntopic read monitor/a/wis2/#\n",
    );
    let site = Site::start();
    let state = tempfile::tempdir().expect("state");
    let console = Console::start(
        &site.broker,
        state.path(),
        &["--monitor-broker-url".to_string(), gb.url("wis2-console")],
    )
    .await;
    let chain = site.chain().await;
    drop_file(&argo(GOOD), &site.dirs.data, GOOD);
    let body = console
        .until("/api/files", Duration::from_secs(60), |b| {
            state_of(b, GOOD).as_deref() == Some("published")
        })
        .await;
    let message_id = files(&body)[0]["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let event = serde_json::json!({
        "specversion": "1.0", "type": "org.wmo.wis2.gb.message.discarded",
        "source": "fr-meteofrance-global-broker", "id": uuid::Uuid::new_v4().to_string(),
        "time": "2026-12-07T10:00:00Z", "datacontenttype": "application/json",
        "data": {"message_id": message_id, "reason": "duplicate"}
    });
    let url = gb.url("operator");
    wis2_bus::publish_once(
        &wis2_bus::BrokerArgs::from_url(&url).check().expect("gb"),
        "gb-test",
        "monitor/a/wis2/fr-ifremer-argo/fr-meteofrance-global-broker",
        event.to_string().into_bytes(),
    )
    .await
    .expect("sent");
    let body = console
        .until("/api/monitor", Duration::from_secs(20), |b| {
            b["events"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    let e = &body["events"][0];
    assert_eq!(e["problem"], true, "{e}");
    assert_eq!(
        e["message_id"],
        message_id.as_str(),
        "the message it names: {e}"
    );
    assert!(e["data_id"].as_str().is_some_and(|d| d.ends_with(GOOD)));
    chain.stop().await;
}

/// The console killed with SIGKILL three times while a stream of files goes through
/// the chain: each time it comes back, it applies what its journal held, the broker
/// resends what it had not acknowledged, and in the end every file is in its history
/// as published with its four steps once each, every message once in the collection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn the_history_survives_kill_9_of_the_console_during_a_stream() {
    const N: usize = 300;
    let site = Site::start();
    let state = tempfile::tempdir().expect("state");
    let logs = tempfile::tempdir().expect("logs");
    let mut console = ConsoleProc::start(&site.broker, state.path(), logs.path()).await;
    let _chain = site.chain().await;
    let src = std::fs::read(argo(GOOD)).expect("read");
    let data = site.dirs.data.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            put(&data, format!("K{i:04}.nc"), &src);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let wait = Duration::from_secs(120);
    for round in 1..=3 {
        // Some more of the stream recorded, then SIGKILL in the middle of it.
        let at_least = round * N / 5;
        console
            .until("/api/files?limit=1", wait, |b| {
                b["total"].as_u64().unwrap_or(0) as usize >= at_least
            })
            .await;
        console.proc.restart();
        console.wait_ready().await;
    }
    writer.join().expect("writer");
    let path = "/api/files?state=published&limit=1000";
    let body = console
        .until(path, wait, |b| b["total"].as_u64() == Some(N as u64))
        .await;
    for f in files(&body) {
        let stages: Vec<&str> = f["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["stage"].as_str())
            .collect();
        assert_eq!(
            stages,
            ["announced", "created", "validated", "published"],
            "{}",
            f["path"]
        );
    }
    let (_, items) = console.get("/collections/messages/items?limit=1000").await;
    let published: std::collections::BTreeSet<String> = items["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<String> = files(&body)
        .iter()
        .filter(|f| !published.contains(f["message_id"].as_str().unwrap_or_default()))
        .map(|f| format!("{} {}", f["path"], f["steps"]))
        .collect();
    assert_eq!(
        items["numberMatched"],
        N,
        "each message once; missing: {missing:?}; log: {}",
        console.proc.log()
    );
    let log = console.proc.log();
    assert!(
        log.contains("recorded what the journal held"),
        "at least one SIGKILL left deliveries in the journal: {log}"
    );
}
