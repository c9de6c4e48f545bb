//! The console's page in a real browser (Debian's chromium, driven over WebDriver by
//! chromedriver), against a real chain and broker: a dropped file appears as
//! published with its four steps, without a reload; a truncated one as a dead letter
//! with its reason, published after it is fixed and replayed from the page; search
//! finds a file by its data_id; a payload that is not what its topic carries is
//! listed as unreadable; a stopped service shows as offline.
//!
//! `WIS2_UPDATE_SCREENSHOT=1` writes the README's screenshot, `docs/console.png`.

use std::time::Duration;

use wis2_tests::broker::password;
use wis2_tests::browser::Browser;
use wis2_tests::console::Console;
use wis2_tests::fixtures::{argo, drop_file, put, repo};
use wis2_tests::site::Site;

const SAMPLE: &str = "R9900001_001.nc";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn the_page_shows_every_file_live_and_replays_a_dead_letter() {
    let site = Site::start();
    let state = tempfile::tempdir().expect("state");
    let console = Console::start(&site.broker, state.path(), &[]).await;
    let mut chain = site.chain().await;
    let browser = Browser::start().await;
    browser.goto(&console.url("/")).await;
    let wait = Duration::from_secs(60);
    browser
        .wait_text(
            "#services li[data-service=\"wis2-create\"] .state",
            "online",
            wait,
        )
        .await;

    // The quick start's sample file, dropped while the page is open.
    drop_file(
        &repo().join("data/argo").join(SAMPLE),
        &site.dirs.data,
        SAMPLE,
    );
    let row = format!("#files tr[data-path=\"{SAMPLE}\"]");
    browser
        .wait_text(&format!("{row} .state"), "published", wait)
        .await;
    let steps = browser.text(&format!("{row} .steps")).await;
    for stage in ["announced", "created", "validated", "published"] {
        assert!(steps.contains(stage), "{stage} in {steps}");
    }
    let data_id = browser.text(&format!("{row} .data-id")).await;
    assert!(data_id.ends_with(SAMPLE), "{data_id}");

    // Its journey: the message as published.
    browser.click(&format!("{row} .path")).await;
    browser.wait_text("#journey-message", &data_id, wait).await;

    // A truncated file: a dead letter with its reason.
    let good = std::fs::read(argo("R6903247_274.nc")).expect("read");
    put(&site.dirs.data, "T.nc", &good[..good.len() / 2]);
    browser
        .wait_text("#files tr[data-path=\"T.nc\"] .state", "deadletter", wait)
        .await;
    browser
        .wait_text("#deadletters tbody", "truncated", wait)
        .await;
    if std::env::var_os("WIS2_UPDATE_SCREENSHOT").is_some() {
        browser.screenshot(&repo().join("docs/console.png")).await;
    }

    // Fixed (wis2-watch stopped, so that the replay alone publishes it) and replayed.
    chain.stop_one("watch").await;
    std::fs::write(site.dirs.data.join("T.nc"), &good).expect("fix");
    browser.click("#deadletters button.replay").await;
    browser.type_into("#password", password("operator")).await;
    browser.click("#auth-ok").await;
    browser
        .wait_text("#deadletters tbody", "replayed", wait)
        .await;
    browser
        .wait_text("#files tr[data-path=\"T.nc\"] .state", "published", wait)
        .await;

    // Search by data_id.
    browser.type_into("#search", &data_id).await;
    browser.click("#apply-filters").await;
    browser.wait_count("#files tbody tr", 1, wait).await;
    browser
        .wait_text("#files tbody tr .path", SAMPLE, Duration::from_secs(5))
        .await;

    // A payload that is not what its topic carries: listed as such, live, with why.
    let producer = wis2_tests::tap::injector(&site.broker).await;
    producer
        .publish(wis2_bus::topics::EVENTS, b"{not json".to_vec())
        .await
        .expect("publish");
    browser
        .wait_text("#unreadable tbody", "not a CloudEvent", wait)
        .await;
    browser
        .wait_text("#unreadable tbody", "{not json", Duration::from_secs(5))
        .await;
    let (_, listed) = console.get("/api/unreadable").await;
    assert_eq!(listed["unreadable"][0]["topic"], wis2_bus::topics::EVENTS);

    // A stopped service shows as offline within seconds.
    chain.stop_one("create").await;
    browser
        .wait_text(
            "#services li[data-service=\"wis2-create\"] .state",
            "offline",
            Duration::from_secs(10),
        )
        .await;
    chain.stop().await;
}
