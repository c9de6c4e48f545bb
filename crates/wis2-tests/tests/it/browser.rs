//! The browser kit itself (`wis2_tests::browser`): headless chromium loads a page from
//! the kit's nginx, types into a field, clicks a button, and the page's script changes
//! a text.

use std::time::{Duration, Instant};

use wis2_tests::browser::Browser;
use wis2_tests::web::Web;

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>kit</title></head>
<body>
<input id="name"> <button id="go">Go</button>
<p id="out">waiting</p>
<ul id="items"></ul>
<script>
document.getElementById("go").addEventListener("click", () => {
  const name = document.getElementById("name").value;
  document.getElementById("out").textContent = "hello " + name;
  const li = document.createElement("li");
  li.textContent = name;
  document.getElementById("items").append(li);
});
</script>
</body></html>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: scripts/test.sh runs it (cargo test -- --include-ignored)"]
async fn a_click_changes_the_page() {
    let started = Instant::now();
    let web = Web::start();
    std::fs::write(web.www().join("index.html"), PAGE).expect("write the page");
    let browser = Browser::start().await;
    browser.goto(&web.url("index.html")).await;
    assert_eq!(browser.text("#out").await, "waiting");
    assert_eq!(browser.count("#items li").await, 0);

    browser.type_into("#name", "<b>WIS2</b>").await;
    browser.click("#go").await;
    browser
        .wait_text("#out", "hello <b>WIS2</b>", Duration::from_secs(10))
        .await;
    browser
        .wait_count("#items li", 1, Duration::from_secs(10))
        .await;

    let png = browser.dir().join("page.png");
    browser.screenshot(&png).await;
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    eprintln!("browser self-test: {:?}", started.elapsed());
}
