//! The chain pointed at a folder that already holds files (an archive): a first start
//! announces none of them by default (`WIS2_ANNOUNCE_EXISTING`: `none`, `all`, or a
//! duration), but the discovery metadata records and `WIS2_INPUT_FILE`; files that
//! arrive while the watcher is stopped are announced after its restart; `wis2-watch
//! baseline` prepares the store without the chain; a tree past the inotify limit is
//! still watched (rescans cover the directories without a watch).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use wis2_tests::fixtures::{argo, drop_file, repo};
use wis2_tests::flags::{args, s};
use wis2_tests::logs;
use wis2_tests::observer::Observer;
use wis2_tests::service::{Chain, start_downstream, start_watch};
use wis2_tests::site::Site;

/// The WCMP2 record of the test centre, in the repository.
fn record() -> std::path::PathBuf {
    repo().join("data/metadata/fr-ifremer-argo-core-metadata.json")
}

/// Copies the Argo file `name` to `dir/rel` (its folders created), modified `age` ago.
fn existing(dir: &Path, rel: &str, name: &str, age: Duration) {
    let dst = dir.join(rel);
    let parent = dst.parent().expect("a parent");
    std::fs::create_dir_all(parent).expect("mkdir");
    let file_name = dst.file_name().and_then(|n| n.to_str()).expect("name");
    let path = drop_file(&argo(name), parent, file_name);
    let f = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_modified(SystemTime::now() - age).expect("set mtime");
}

/// The ends of the data_ids of what the observer gets within `wait` (after `n` came,
/// 3 s more for anything that should not).
async fn published(obs: &mut Observer, n: usize, wait: Duration) -> BTreeSet<String> {
    let mut got = obs.collect(n, wait, |_| true).await;
    got.extend(obs.collect(1, Duration::from_secs(3), |_| true).await);
    got.iter()
        .map(|m| {
            let id = m.json()["properties"]["data_id"]
                .as_str()
                .expect("data_id")
                .to_string();
            id.rsplit('/').next().unwrap_or_default().to_string()
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

const HOUR: Duration = Duration::from_secs(3600);
const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_start_announces_only_the_metadata_and_the_input_file_and_a_restart_what_came_meanwhile()
 {
    logs::capture();
    let Site { broker, dirs } = Site::start();
    existing(
        &dirs.data,
        "argo/a/R6903247_274.nc",
        "R6903247_274.nc",
        HOUR,
    );
    existing(
        &dirs.data,
        "argo/b/D1900857_000D.nc",
        "D1900857_000D.nc",
        HOUR,
    );
    existing(&dirs.data, "argo/R4902481_001.nc", "R4902481_001.nc", HOUR);
    std::fs::create_dir_all(dirs.data.join("metadata")).expect("mkdir");
    drop_file(&record(), &dirs.data.join("metadata"), "argo.json");
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let mut services = start_downstream(&broker, &dirs).await;
    // The default (`none`), written out: the kit's own default for the chain tests is
    // `all`.
    let flags = [
        s("--announce-existing"),
        s("none"),
        s("--input-file"),
        s("argo/R4902481_001.nc"),
    ];
    let watch = start_watch(&broker, &dirs, &flags);
    watch.wait_ready().await;
    assert_eq!(
        published(&mut obs, 2, WAIT).await,
        set(&["cor:msg:argo", "R4902481_001.nc"]),
        "the record and the input file only"
    );
    let store = dirs.state.join("announced.redb").display().to_string();
    let line = logs::line(&["first start", &store]).await;
    assert!(
        line.contains("2 files already in WIS2_DATA_DIR are recorded as known")
            && line.contains("WIS2_ANNOUNCE_EXISTING=all"),
        "{line}"
    );
    // Afterwards, new files are announced.
    drop_file(
        &argo("R2901623_000.nc"),
        &dirs.data.join("argo/a"),
        "R2901623_000.nc",
    );
    assert_eq!(
        published(&mut obs, 1, WAIT).await,
        set(&["R2901623_000.nc"])
    );

    // A file that arrives while the watcher is stopped is announced at its restart
    // (not a first start: `none` no longer applies); the others are not again.
    watch.stop().await.expect("watch stops");
    existing(
        &dirs.data,
        "argo/c/D5900865_001.nc",
        "D5900865_001.nc",
        HOUR,
    );
    let watch = start_watch(&broker, &dirs, &flags);
    watch.wait_ready().await;
    assert_eq!(
        published(&mut obs, 1, WAIT).await,
        set(&["D5900865_001.nc"])
    );
    services.push(("watch", watch));
    Chain { services }.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duration_announces_the_files_modified_within_it_and_all_announces_every_one() {
    let Site { broker, dirs } = Site::start();
    existing(
        &dirs.data,
        "old/R6903247_274.nc",
        "R6903247_274.nc",
        72 * HOUR,
    );
    existing(&dirs.data, "new/D1900857_000D.nc", "D1900857_000D.nc", HOUR);
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let mut services = start_downstream(&broker, &dirs).await;
    let watch = start_watch(&broker, &dirs, &[s("--announce-existing"), s("24h")]);
    watch.wait_ready().await;
    assert_eq!(
        published(&mut obs, 1, WAIT).await,
        set(&["D1900857_000D.nc"])
    );
    watch.stop().await.expect("watch stops");

    // `all`, on a fresh state (the same tree, its own store).
    let state = dirs.state.join("all");
    let mut flags = vec![s("--announce-existing"), s("all")];
    flags.extend([s("--state-dir"), state.display().to_string()]);
    let watch = wis2_tests::service::spawn::<wis2_watch::RunArgs, _, _>(
        "wis2-watch",
        wis2_watch::run,
        &[
            vec![
                s("--broker-url"),
                broker.url("wis2-watch"),
                s("--data-dir"),
                dirs.data.display().to_string(),
                s("--settle-ms"),
                s(300),
            ],
            flags,
        ]
        .concat(),
    );
    watch.wait_ready().await;
    // The old file is new to wis2-publish; the other was published already (same
    // data_id and integrity: not published twice).
    assert_eq!(
        published(&mut obs, 1, WAIT).await,
        set(&["R6903247_274.nc"])
    );
    services.push(("watch", watch));
    Chain { services }.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_baselined_tree_announces_only_its_metadata_and_what_changes_after() {
    let Site { broker, dirs } = Site::start();
    existing(&dirs.data, "a/R6903247_274.nc", "R6903247_274.nc", HOUR);
    existing(&dirs.data, "b/D1900857_000D.nc", "D1900857_000D.nc", HOUR);
    std::fs::create_dir_all(dirs.data.join("metadata")).expect("mkdir");
    drop_file(&record(), &dirs.data.join("metadata"), "argo.json");
    // What `wis2-watch baseline --data-dir DATA --state-dir STATE` runs.
    let watch_args: wis2_watch::WatchArgs =
        args(&[s("--data-dir"), dirs.data.display().to_string()]);
    let (counts, _) =
        wis2_watch::baseline::tree(&dirs.state, &watch_args, &[s("README.md")]).expect("baseline");
    assert_eq!((counts.recorded, counts.left), (2, 1));
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let mut services = start_downstream(&broker, &dirs).await;
    // Even `all` announces nothing baselined: the first start is over.
    let watch = start_watch(&broker, &dirs, &[s("--announce-existing"), s("all")]);
    watch.wait_ready().await;
    assert_eq!(published(&mut obs, 1, WAIT).await, set(&["cor:msg:argo"]));
    // A baselined file that changes is announced (an update).
    drop_file(
        &argo("R4902481_001.nc"),
        &dirs.data.join("a"),
        "R6903247_274.nc",
    );
    let got = obs.collect(1, WAIT, |_| true).await;
    assert_eq!(got.len(), 1);
    let m = got[0].json();
    assert!(
        m["properties"]["data_id"]
            .as_str()
            .is_some_and(|id| id.ends_with("a/R6903247_274.nc")),
        "{m}"
    );
    assert_eq!(m["links"][0]["rel"], "update", "{m}");
    services.push(("watch", watch));
    Chain { services }.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_inotify_limit_the_directories_without_a_watch_are_rescanned() {
    logs::capture();
    let Site { broker, dirs } = Site::start();
    for d in ["d0", "d1", "d2", "d3"] {
        std::fs::create_dir_all(dirs.data.join(d)).expect("mkdir");
    }
    let mut obs = Observer::connect(&broker, "operator", &["origin/a/wis2/#"]).await;
    let mut services = start_downstream(&broker, &dirs).await;
    // Two watches (the data directory and d0), as if fs.inotify.max_user_watches were
    // reached there: the same way as the kernel's ENOSPC.
    let flags = [s("--max-watches"), s(2), s("--rescan-secs"), s(2)];
    let watch = start_watch(&broker, &dirs, &flags);
    watch.wait_ready().await;
    let d1 = dirs.data.join("d1").display().to_string();
    let line = logs::line(&["inotify watch limit is reached", &d1]).await;
    assert!(line.contains("2 directories are watched"), "{line}");
    // A watched directory and one without a watch: both files are announced.
    drop_file(
        &argo("R6903247_274.nc"),
        &dirs.data.join("d0"),
        "R6903247_274.nc",
    );
    drop_file(
        &argo("D1900857_000D.nc"),
        &dirs.data.join("d3"),
        "D1900857_000D.nc",
    );
    assert_eq!(
        published(&mut obs, 2, WAIT).await,
        set(&["R6903247_274.nc", "D1900857_000D.nc"])
    );
    let data = dirs.data.display().to_string();
    let line = logs::line(&["data directory scanned", "unwatched_dirs=3", &data]).await;
    assert!(line.contains("watched_dirs=2"), "{line}");
    services.push(("watch", watch));
    Chain { services }.stop().await;
}
