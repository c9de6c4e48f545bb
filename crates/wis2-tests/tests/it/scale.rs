//! Scale-out: three replicas each of `wis2-create` and `wis2-validate` share their
//! input through MQTT shared subscriptions; every file still gets exactly one message.

use std::collections::HashMap;
use std::time::Duration;

use wis2_tests::fixtures::{TOPIC, argo, put};
use wis2_tests::flags::s;
use wis2_tests::observer::Observer;
use wis2_tests::service::{start_create_with, start_publish, start_validate_with, start_watch};
use wis2_tests::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn three_replicas_of_create_and_validate_lose_nothing_and_double_nothing() {
    const N: usize = 300;
    let Site { broker, dirs } = Site::start();
    let mut obs = Observer::connect(&broker, "operator", &[TOPIC]).await;
    let mut services = vec![start_publish(&broker, &dirs)];
    for i in 0..3 {
        let shared = |name: &str| {
            vec![
                s("--shared-group"),
                s(name),
                s("--client-id"),
                format!("{name}-{i}"),
            ]
        };
        services.push(start_validate_with(
            &broker,
            &dirs,
            &shared("wis2-validate"),
        ));
        services.push(start_create_with(&broker, &dirs, &shared("wis2-create")));
    }
    for s in &services {
        s.wait_ready().await;
    }
    let watch = start_watch(&broker, &dirs, &[]);
    watch.wait_ready().await;

    let src = std::fs::read(argo("R4902481_001.nc")).expect("read");
    for i in 0..N {
        put(&dirs.data, format!("S{i:04}.nc"), &src);
    }
    let mut got = obs.collect(N, Duration::from_secs(60), |_| true).await;
    // A short look for stragglers: a duplicate would arrive right after.
    got.extend(obs.collect(1, Duration::from_secs(2), |_| true).await);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in &got {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
        let id = v["properties"]["data_id"]
            .as_str()
            .expect("data_id")
            .to_string();
        *counts.entry(id).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), N, "every file published");
    assert!(counts.values().all(|c| *c == 1), "no file published twice");

    // The work was shared: every replica handled some of it (from its metrics).
    for s in &services[1..] {
        let handled = s.metric("wis2_messages_handled_total").await;
        assert!(handled > 0.0, "a replica handled nothing");
    }
    watch.stop().await.expect("watch stops");
    for s in services {
        s.stop().await.expect("stops");
    }
}
