//! The WMO's own Python tools run against the chain (issue 19): pywis-pubsub subscribes
//! to the stack's broker and downloads and verifies what the chain announces, pywcmp
//! judges the WCMP2 records the chain publishes, pywis-topics the topics it publishes
//! on, and wis2downloader downloads a 100-file stream. Real servers: mosquitto from
//! `broker/`, nginx serving the chain's data directory (the messages link into it),
//! the four services. The tools come from the virtual environment `scripts/test.sh`
//! makes (the kit's [`Wmo`]), offline, their caches filled from `../shared/standards`.
//!
//! Where a tool's verdict differs from ours, the test names the rule, and
//! `docs/conformance.md` ("The WMO's tools, run against the chain") says which side
//! the standard is on.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wis2_tests::fixtures::{CENTRE, argo, drop_file, put, repo, shared};
use wis2_tests::net::free_port;
use wis2_tests::observer::{Observer, Seen};
use wis2_tests::service::{Chain, spawn, start_publish, start_validate, start_watch};
use wis2_tests::site::Site;
use wis2_tests::web::Web;
use wis2_tests::wmo::Wmo;

/// The Argo files the chain announces (one message each), with the project's record.
const FILES: [&str; 5] = [
    "R6903247_274.nc",
    "D1900857_000D.nc",
    "R4902481_001.nc",
    "D5900865_001.nc",
    "R2901623_000.nc",
];

/// The topic the chain publishes the test centre's records on.
fn metadata_topic() -> String {
    format!("origin/a/wis2/{CENTRE}/metadata")
}

/// The project's own WCMP2 record.
fn record() -> PathBuf {
    repo().join("data/metadata/fr-ifremer-argo-core-metadata.json")
}

/// A broker, nginx serving the chain's data directory, and the chain, whose
/// messages link into that nginx.
struct Stack {
    site: Site,
    web: Web,
    chain: Chain,
}

impl Stack {
    async fn start() -> Stack {
        let site = Site::start();
        std::fs::create_dir_all(site.dirs.data.join("metadata")).expect("metadata dir");
        let web = Web::serving(&site.dirs.data);
        let (b, d) = (&site.broker, &site.dirs);
        // wis2-create's links point at this nginx instead of the kit's example host.
        let mut create = d.create_flags(b);
        let at = create
            .iter()
            .position(|f| f == "--base-url")
            .expect("--base-url")
            + 1;
        create[at] = web.url("").trim_end_matches('/').to_string();
        let mut services = vec![
            ("publish", start_publish(b, d)),
            ("validate", start_validate(b, d)),
            (
                "create",
                spawn::<wis2_create::RunArgs, _, _>("wis2-create", wis2_create::run, &create),
            ),
        ];
        for (_, s) in &services {
            s.wait_ready().await;
        }
        let watch = start_watch(b, d, &[]);
        watch.wait_ready().await;
        services.push(("watch", watch));
        Stack {
            site,
            web,
            chain: Chain { services },
        }
    }

    /// Drops the Argo [`FILES`] and the project's record into the data directory and
    /// returns the chain's messages for them (one each).
    async fn publish_samples(&self, obs: &mut Observer) -> Vec<Seen> {
        let data = &self.site.dirs.data;
        for name in FILES {
            drop_file(&argo(name), data, name);
        }
        drop_file(&record(), &data.join("metadata"), "argo.json");
        let got = obs
            .collect(FILES.len() + 1, Duration::from_secs(60), |_| true)
            .await;
        assert_eq!(got.len(), FILES.len() + 1, "one message per file");
        got
    }

    async fn stop(self) {
        self.chain.stop().await;
    }
}

/// The JSON document a tool prints after its lines of progress ("Opening ...").
fn printed_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let at = text
        .find("\n{")
        .map(|i| i + 1)
        .or_else(|| text.starts_with('{').then_some(0))
        .unwrap_or_else(|| panic!("no JSON document in: {text}"));
    serde_json::from_str(&text[at..]).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The short name of a test id (`.../conf/core/links` -> `links`).
fn rule(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

/// The code of each rule of an ETS report's `tests` (a rule listed twice counts as
/// FAILED if either entry is).
fn codes(tests: &Value) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for t in tests.as_array().expect("tests") {
        let (id, code) = (
            rule(t["id"].as_str().expect("id")),
            t["code"].as_str().expect("code").to_string(),
        );
        let e = out.entry(id).or_insert_with(|| code.clone());
        if code == "FAILED" {
            *e = code;
        }
    }
    out
}

/// The rules on which two verdicts differ (one fails, the other does not, or does not
/// run the rule): `(rule, the tool's code, ours)`, "-" where a side has no such test.
fn disagreements(
    tool: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let mut rules: Vec<&String> = tool.keys().chain(ours.keys()).collect();
    rules.sort();
    rules.dedup();
    let dash = "-".to_string();
    rules
        .into_iter()
        .filter_map(|r| {
            let (t, o) = (tool.get(r).unwrap_or(&dash), ours.get(r).unwrap_or(&dash));
            ((t == "FAILED") != (o == "FAILED")).then(|| (r.clone(), t.clone(), o.clone()))
        })
        .collect()
}

/// The project's WCMP2 checker, on the authoritative schema, code lists and WTH.
fn wcmp2() -> wis2::wcmp2::Wcmp2Checker {
    wis2::wcmp2::Wcmp2Checker::new(&wis2::wcmp2::Wcmp2Options {
        schema: Some(shared().join("standards/wcmp2/wcmp2-bundled.json")),
        codelists_dir: Some(shared().join("standards/wcmp2/codelists")),
        wth_dir: Some(shared().join("standards/wth")),
    })
    .expect("WCMP2 checker")
}

/// pywcmp's verdict on the record at `file_or_url` (whose bytes are `bytes`) against
/// ours, rule by rule: the rules on which they differ.
fn pywcmp_vs_ours(wmo: &Wmo, file_or_url: &str, bytes: &[u8]) -> Vec<(String, String, String)> {
    let out = wmo.run("pywcmp", &["ets", "validate", file_or_url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pywcmp stops, without a report, on a record its schema refuses.
    let tool = if stderr.contains("fails WCMP2 validation") {
        BTreeMap::from([("validation".to_string(), "FAILED".to_string())])
    } else {
        let report = printed_json(&out.stdout);
        let failed = report["summary"]["FAILED"].as_i64().expect("summary");
        assert_eq!(
            out.status.code(),
            Some(i32::try_from(failed).expect("small")),
            "pywcmp's exit code is its failure count: {stderr}"
        );
        codes(&report["tests"])
    };
    let ours: Value = serde_json::from_str(&wcmp2().check_record(bytes).to_json()).expect("JSON");
    disagreements(&tool, &codes(&ours["ets-report"]["tests"]))
}

/// The project's WNM validator (WNM 1.3.0), on the authoritative schema and WTH.
fn wnm() -> wis2::validate::Validator {
    wis2::validate::Validator::new(&wis2::validate::ValidatorOptions {
        schema: Some(shared().join("standards/wnm/wis2-notification-message-bundled.json")),
        wth_dir: Some(shared().join("standards/wth")),
        profile: wis2::validate::Profile::Wnm13,
    })
    .expect("validator")
}

/// pywis-pubsub's ETS verdict on the message in `file` (whose bytes are `bytes`,
/// published on `topic`) against ours, rule by rule: the rules on which they differ.
/// pywis-pubsub's `id` is our `identifier`; its `version` test always passes.
fn pubsub_vs_ours(
    wmo: &Wmo,
    validator: &wis2::validate::Validator,
    file: &str,
    bytes: &[u8],
    topic: Option<&str>,
) -> Vec<(String, String, String)> {
    let out = wmo.run("pywis-pubsub", &["ets", "validate", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pywis-pubsub stops, without a report, on a message its schema refuses.
    let tool = if stderr.contains("fails WNM validation") {
        BTreeMap::from([("validation".to_string(), "FAILED".to_string())])
    } else {
        let report = printed_json(&out.stdout);
        let mut tool = codes(&report["ets-report"]["tests"]);
        if let Some(c) = tool.remove("id") {
            tool.insert("identifier".to_string(), c);
        }
        tool
    };
    let ours: Value =
        serde_json::from_str(&validator.check_message(bytes, topic).to_json()).expect("JSON");
    disagreements(&tool, &codes(&ours["ets-report"]["tests"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
async fn pywis_pubsub_downloads_and_verifies_every_message_and_passes_its_ets() {
    let wmo = Wmo::offline();
    let stack = Stack::start().await;
    let store = wmo.home().join("store");
    // A subscriber as a data consumer runs it, with the Global Brokers' account:
    // messages checked by its ETS, data downloaded, verified (integrity and length)
    // and stored under each data_id.
    let config = wmo.home().join("subscriber.yml");
    std::fs::write(
        &config,
        format!(
            "broker: {}\nsubscribe_topics:\n  - origin/a/wis2/{CENTRE}/#\nqos: 1\n\
             verify_data: true\nvalidate_message: true\nstorage:\n  type: fs\n  options:\n    \
             basedir: {}\n    filepath: data_id\n",
            stack.site.broker.url("everyone"),
            store.display()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path");
    let mut sub = wmo.spawn(
        "pywis-pubsub",
        &[
            "subscribe",
            "--config",
            config,
            "--download",
            "--verbosity",
            "DEBUG",
        ],
        &[],
    );
    tokio::task::block_in_place(|| sub.wait_for("Received SUBACK", Duration::from_secs(30)));
    let mut obs = Observer::connect(&stack.site.broker, "operator", &["origin/a/wis2/#"]).await;
    let got = stack.publish_samples(&mut obs).await;

    // Every file stored, byte for byte the one the chain announced.
    let deadline = Instant::now() + Duration::from_secs(30);
    for m in &got {
        let msg = m.json();
        let data_id = msg["properties"]["data_id"].as_str().expect("data_id");
        let href = msg["links"][0]["href"].as_str().expect("href");
        let served = stack
            .site
            .dirs
            .data
            .join(href.trim_start_matches(&stack.web.url("")));
        let want = std::fs::read(&served).expect("the announced file");
        let stored = store.join(data_id);
        while std::fs::read(&stored).ok().as_deref() != Some(&want[..]) {
            assert!(
                Instant::now() < deadline,
                "pywis-pubsub did not store {data_id} ({} bytes):\n{}",
                want.len(),
                sub.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let log = sub.log();
    assert!(!log.contains("verification failed"), "{log}");
    assert!(!log.contains("Cannot validate message"), "{log}");
    assert_eq!(
        log.matches("Data verification passed").count(),
        got.len(),
        "each message's data verified once:\n{log}"
    );
    assert_eq!(
        stack
            .web
            .requests()
            .iter()
            .filter(|(_, status)| *status == 200)
            .count(),
        got.len(),
        "each file downloaded once through nginx: {:?}",
        stack.web.requests()
    );

    // A Global Discovery Catalogue for its KPI: nginx serving the project's record at
    // the catalogue's item address (what a GDC answers for a published record).
    let gdc = Web::start();
    let items = gdc.www().join("collections/wis2-discovery-metadata/items");
    std::fs::create_dir_all(&items).expect("items");
    let rec: Value = serde_json::from_slice(&std::fs::read(record()).expect("read")).expect("json");
    std::fs::copy(record(), items.join(rec["id"].as_str().expect("id"))).expect("copy");
    let gdc_url = gdc.url("");
    let gdc_url = gdc_url.trim_end_matches('/');

    let validator = wnm();
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, m) in got.iter().enumerate() {
        let file = dir.path().join(format!("message-{i}.json"));
        std::fs::write(&file, &m.payload).expect("write");
        let file = file.to_str().expect("utf-8 path");
        let text = String::from_utf8_lossy(&m.payload);

        let out = wmo.run("pywis-pubsub", &["ets", "validate", file]);
        let report = printed_json(&out.stdout);
        assert!(out.status.success(), "pywis-pubsub ets: {report}\n{text}");
        assert_eq!(report["ets-report"]["summary"]["FAILED"], 0, "{report}");
        assert_eq!(
            pubsub_vs_ours(&wmo, &validator, file, &m.payload, Some(&m.topic)),
            vec![],
            "{text}"
        );

        let out = wmo.run("pywis-pubsub", &["message", "verify", file]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("Valid message"),
            "pywis-pubsub message verify: {said}{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );

        let out = wmo
            .command("pywis-pubsub")
            .args(["kpi", "validate", file])
            .env("PYWIS_PUBSUB_GDC_URL", gdc_url)
            .output()
            .expect("pywis-pubsub kpi");
        let kpi = printed_json(&out.stdout);
        assert!(out.status.success(), "{kpi}");
        assert_eq!(
            kpi["summary"]["percentage"], 100.0,
            "pywis-pubsub kpi: {kpi}"
        );
    }
    drop(sub);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
async fn pywis_topics_finds_every_topic_the_chain_publishes_on_valid() {
    let wmo = Wmo::offline();
    let stack = Stack::start().await;
    let mut obs = Observer::connect(&stack.site.broker, "operator", &["origin/a/wis2/#"]).await;
    let got = stack.publish_samples(&mut obs).await;
    let mut topics: Vec<&str> = got.iter().map(|m| m.topic.as_str()).collect();
    topics.sort_unstable();
    topics.dedup();
    assert_eq!(
        topics.len(),
        2,
        "the data topic and the metadata topic: {topics:?}"
    );
    assert!(topics.contains(&metadata_topic().as_str()), "{topics:?}");
    for topic in topics {
        let out = wmo.run("pywis-topics", &["topic", "validate", "publication", topic]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Valid",
            "pywis-topics on {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And a topic the WTH has not: the tool does say no (so "Valid" above means yes).
    let bogus = format!("origin/a/wis2/{CENTRE}/data/core/ocean/no-such-discipline");
    let out = wmo.run(
        "pywis-topics",
        &["topic", "validate", "publication", &bogus],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Invalid");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
async fn pywcmp_passes_the_projects_record_and_every_record_the_chain_publishes() {
    let wmo = Wmo::offline();
    let path = record();
    let bytes = std::fs::read(&path).expect("read the record");
    let out = wmo.run(
        "pywcmp",
        &["ets", "validate", path.to_str().expect("utf-8")],
    );
    let report = printed_json(&out.stdout);
    assert!(out.status.success(), "pywcmp: {report}");
    assert_eq!(report["summary"]["FAILED"], 0, "{report}");
    assert_eq!(
        pywcmp_vs_ours(&wmo, path.to_str().expect("utf-8"), &bytes),
        vec![]
    );

    // As the metadata test of chain.rs does: the record announced, then updated.
    let stack = Stack::start().await;
    let meta = stack.site.dirs.data.join("metadata");
    let mut obs = Observer::connect(&stack.site.broker, "operator", &["origin/a/wis2/#"]).await;
    let mut updated: Value = serde_json::from_slice(&bytes).expect("json");
    updated["properties"]["updated"] = json!("2026-11-29T00:00:00Z");
    let updated = serde_json::to_vec_pretty(&updated).expect("json");
    for (version, rel) in [(&bytes, "canonical"), (&updated, "update")] {
        put(&meta, "argo.json", version);
        let m = obs
            .next_on(&metadata_topic(), Duration::from_secs(60))
            .await
            .json();
        let link = &m["links"][0];
        assert_eq!(link["rel"], rel);
        // pywcmp reads the record where the message links to it, through nginx.
        let href = link["href"].as_str().expect("href");
        assert!(href.starts_with(&stack.web.url("")), "{href}");
        assert_eq!(pywcmp_vs_ours(&wmo, href, version), vec![], "{href}");
        let out = wmo.run("pywcmp", &["ets", "validate", href]);
        assert!(out.status.success(), "{}", printed_json(&out.stdout));
    }
    stack.stop().await;
}

/// A copy of the project's record with its centre-id (in the id and the MQTT channels)
/// replaced by `centre`.
fn record_of(centre: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(record()).expect("read");
    text.replace(CENTRE, centre).into_bytes()
}

#[test]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
fn pywcmp_and_wis2_validate_differ_only_where_docs_conformance_says() {
    let wmo = Wmo::offline();
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let check = |p: &Path| -> Vec<(String, String, String)> {
        let bytes = std::fs::read(p).expect("read");
        pywcmp_vs_ours(&wmo, p.to_str().expect("utf-8"), &bytes)
    };

    // A test centre (`-test`): both skip the registry, both pass.
    let test_centre = write("test-centre.json", &record_of("fr-ifremer-argo-test"));
    assert_eq!(check(&test_centre), vec![]);

    // An unregistered centre: both fail the identifier and the channel.
    let unknown = write("unknown-centre.json", &record_of("xx-nowhere"));
    assert_eq!(check(&unknown), vec![]);

    // A WIS2 Global Service's record without its global-service-type theme: WCMP2
    // 2.3.0's /conf/core/themes_wis2_global_service fails it; pywcmp 0.13.2 has no
    // such test.
    let mut gb: Value = serde_json::from_slice(
        &std::fs::read(shared().join("standards/wcmp2/examples/fr-meteofrance-global-broker.json"))
            .expect("read"),
    )
    .expect("json");
    let themes = gb["properties"]["themes"].as_array_mut().expect("themes");
    themes.retain(|t| {
        t["scheme"]
            .as_str()
            .is_some_and(|s| s.ends_with("earth-system-discipline"))
    });
    let gb = write(
        "global-broker.json",
        &serde_json::to_vec(&gb).expect("json"),
    );
    assert_eq!(
        check(&gb),
        vec![(
            "themes_wis2_global_service".to_string(),
            "-".to_string(),
            "FAILED".to_string()
        )]
    );
}

#[test]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
fn pywcmp_and_wis2_validate_agree_on_every_example_of_the_wcmp2_standard() {
    let wmo = Wmo::offline();
    let dir = shared().join("standards/wcmp2/examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir)
        .expect("the standard's examples")
        .flatten()
    {
        let p = e.path();
        let bytes = std::fs::read(&p).expect("read");
        let file = p.to_str().expect("utf-8 path");
        assert_eq!(pywcmp_vs_ours(&wmo, file, &bytes), vec![], "{file}");
        n += 1;
    }
    assert!(n >= 17, "the 17 examples of WCMP2 2.3.0, {n} found");
}

#[test]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
fn pywis_pubsub_and_wis2_validate_differ_only_where_docs_conformance_says() {
    let wmo = Wmo::offline();
    let validator = wnm();
    let examples = shared().join("standards/wnm/examples");
    let mut n = 0;
    for e in std::fs::read_dir(&examples)
        .expect("the standard's examples")
        .flatten()
    {
        let p = e.path();
        let bytes = std::fs::read(&p).expect("read");
        let file = p.to_str().expect("utf-8 path");
        assert_eq!(
            pubsub_vs_ours(&wmo, &validator, file, &bytes, None),
            vec![],
            "{file}"
        );
        n += 1;
    }
    assert!(n >= 7, "the standard's 7 examples, {n} found");

    let dir = tempfile::tempdir().expect("temp dir");
    let variant = |name: &str, pointer: &str, value: Value| {
        let mut m: Value =
            serde_json::from_slice(&std::fs::read(examples.join("example1.json")).expect("read"))
                .expect("json");
        *m.pointer_mut(pointer).expect("the member") = value;
        let p = dir.path().join(name);
        let bytes = serde_json::to_vec(&m).expect("json");
        std::fs::write(&p, &bytes).expect("write");
        pubsub_vs_ours(&wmo, &validator, p.to_str().expect("utf-8"), &bytes, None)
    };
    // A datetime with an offset: both fail /conf/core/temporal (not UTC).
    let offset = json!("2022-03-20T04:45:00+01:00");
    assert_eq!(
        variant("datetime.json", "/properties/datetime", offset.clone()),
        vec![]
    );
    // A pubtime with an offset: /req/core/pubtime C says UTC; pywis-pubsub 0.12.0 has
    // no pubtime test (its schema only asks for a date-time).
    assert_eq!(
        variant("pubtime.json", "/properties/pubtime", offset),
        vec![("pubtime".to_string(), "-".to_string(), "FAILED".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow, the WMO's Python tools: scripts/test.sh makes their environment and runs it"]
async fn wis2downloader_downloads_each_file_of_a_100_file_stream_exactly_once() {
    const N: usize = 100;
    let wmo = Wmo::offline();
    let stack = Stack::start().await;
    let home = wmo.home();
    let downloads = home.join("downloads");
    let flask_port = free_port();
    // Its configuration (a JSON file named by WIS2DOWNLOADER_CONFIG), on the stack's
    // broker with the Global Brokers' account. Topic validation off: it calls
    // pywis-topics' `bundle sync`, which downloads the WTH on every subscription.
    let config = home.join("wis2downloader.json");
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&json!({
            "base_url": format!("http://127.0.0.1:{flask_port}"),
            "broker_hostname": "127.0.0.1",
            "broker_port": stack.site.broker.port,
            "broker_username": "everyone",
            "broker_password": "everyone",
            "broker_protocol": "tcp",
            "download_dir": downloads,
            "download_workers": 4,
            "flask_host": "127.0.0.1",
            "flask_port": flask_port,
            "log_level": "INFO",
            "log_path": home,
            "min_free_space": 0,
            "mqtt_session_info": home.join("mqtt_session.json"),
            "save_logs": false,
            "validate_topics": false
        }))
        .expect("json"),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path");
    let mut app = wmo.spawn(
        "wis2downloader",
        &["run-dev"],
        &[("WIS2DOWNLOADER_CONFIG", config)],
    );
    tokio::task::block_in_place(|| app.wait_for("Running on", Duration::from_secs(30)));
    // Subscribed as its users do, through its API (its own command line).
    let topic = format!("origin/a/wis2/{CENTRE}/data/#");
    let port = flask_port.to_string();
    let out = wmo.run(
        "wis2downloader",
        &[
            "add-subscription",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--topic",
            &topic,
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Subscription added"), "{said}\n{}", app.log());
    tokio::task::block_in_place(|| {
        app.wait_for("Subscription to topic successful", Duration::from_secs(30))
    });

    let mut obs = Observer::connect(&stack.site.broker, "operator", &["origin/a/wis2/#"]).await;
    let sources: Vec<PathBuf> = FILES.iter().map(|f| argo(f)).collect();
    let mut want: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..N {
        let src = &sources[i % sources.len()];
        let bytes = std::fs::read(src).expect("read");
        let name = format!(
            "W{i:03}_{}",
            src.file_name().and_then(|n| n.to_str()).expect("name")
        );
        put(&stack.site.dirs.data, &name, &bytes);
        want.insert(name, bytes);
    }
    let got = obs.collect(N, Duration::from_secs(60), |_| true).await;
    assert_eq!(got.len(), N, "the chain announced every file");

    // Saved under <yyyy>/<mm>/<dd>/<topic>/<name>.bin (netCDF is not in its table of
    // media types), each once and byte for byte.
    let is_a_file = |(path, bytes): &(PathBuf, Vec<u8>)| {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        path.extension().is_some_and(|e| e == "bin")
            && path.to_string_lossy().contains(&topic[..topic.len() - 2])
            && want.get(&format!("{stem}.nc")) == Some(bytes)
    };
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let saved = files_under(&downloads);
        if saved.len() == N && saved.iter().all(is_a_file) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} files saved, {} of them right:\n{}",
            saved.len(),
            saved.iter().filter(|f| is_a_file(f)).count(),
            app.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = app.log();
    assert_eq!(log.matches("Downloaded W").count(), N, "{log}");
    assert!(!log.contains("failed verification"), "{log}");
    assert!(!log.contains("Error downloading"), "{log}");
    // Each file was asked of nginx exactly once.
    let mut asked: HashMap<String, usize> = HashMap::new();
    for (path, status) in stack.web.requests() {
        assert_eq!(status, 200, "{path}");
        *asked
            .entry(path.trim_start_matches('/').to_string())
            .or_default() += 1;
    }
    assert_eq!(asked.len(), N, "{asked:?}");
    assert!(asked.values().all(|n| *n == 1), "{asked:?}");
    assert!(asked.keys().all(|k| want.contains_key(k)), "{asked:?}");
    drop(app);
    stack.stop().await;
}

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}
