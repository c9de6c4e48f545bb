//! A real browser for the tests of web pages: Debian's headless `chromium`, driven
//! through `chromedriver` (package `chromium-driver`) over WebDriver with
//! [`fantoccini`]. Both come from `scripts/test.sh`.
//!
//! [`Browser::start`] starts chromedriver on a free loopback port (awaited by
//! connecting, never by sleeping) and opens a session on a fresh profile; dropping the
//! [`Browser`] ends the session (chromium quits) and stops chromedriver. The helpers
//! panic with what the page shows, so that a failing test says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::net::{free_port, wait_port};

/// Debian's chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long [`Browser::click`], [`Browser::type_into`] and [`Browser::text`] wait for
/// their element to appear (the page may still be building it).
pub const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long chromedriver may take to listen, and chromium to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(50);

/// A headless chromium driven over WebDriver; the session ends and chromedriver stops
/// on drop.
pub struct Browser {
    client: Client,
    driver: Child,
    port: u16,
    session: Option<String>,
    // Deleted once chromium has quit (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session with a fresh
    /// profile. Panics, saying how to install them, when chromium or chromedriver is
    /// missing.
    pub async fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).is_file(),
                "{bin} not found: run scripts/test.sh, which installs it, or \
                 `apt-get install chromium chromium-driver`"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let profile = dir.path().join("profile");
        std::fs::create_dir_all(&profile).expect("profile dir");
        let (driver, port) = tokio::task::spawn_blocking({
            let log = dir.path().join("chromedriver.log");
            move || start_driver(&log)
        })
        .await
        .expect("chromedriver starter");

        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{port}");
        let client = match tokio::time::timeout(START_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            outcome => {
                let mut driver = driver;
                let _ = driver.kill();
                let _ = driver.wait();
                let log = std::fs::read_to_string(dir.path().join("chromedriver.log"))
                    .unwrap_or_default();
                match outcome {
                    Ok(Err(e)) => panic!("chromium did not start: {e}\n{log}"),
                    _ => panic!(
                        "chromium did not start within {} s\n{log}",
                        START_TIMEOUT.as_secs()
                    ),
                }
            }
        };
        let session = client.session_id().await.ok().flatten();
        Browser {
            client,
            driver,
            port,
            session,
            dir,
        }
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The folder of this browser's profile and chromedriver's log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Loads `url` (returns once the page's `load` event fired).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
    }

    /// The first element that matches `css`, waiting up to [`FIND_TIMEOUT`] for it.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(FIND_TIMEOUT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no element matches {css:?} after {} s: {e}",
                    FIND_TIMEOUT.as_secs()
                )
            })
    }

    /// The rendered text of the first element that matches `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|e| panic!("cannot read the text of {css:?}: {e}"))
    }

    /// Waits until the rendered text of the first element that matches `css` contains
    /// `text`; panics after `timeout` with the element's current text.
    pub async fn wait_text(&self, css: &str, text: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let current = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.text().await {
                    Ok(t) if t.contains(text) => return,
                    Ok(t) => format!("its text is {t:?}"),
                    // Replaced by the page between find and read: look again.
                    Err(e) => format!("its text cannot be read: {e}"),
                },
                Err(_) => "no element matches".to_string(),
            };
            if start.elapsed() > timeout {
                panic!(
                    "{css:?} did not show {text:?} within {:?}: {current}",
                    timeout
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until exactly `n` elements match `css`; panics after `timeout` with the
    /// count it last saw.
    pub async fn wait_count(&self, css: &str, n: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            let seen = self.count(css).await;
            if seen == n {
                return;
            }
            if start.elapsed() > timeout {
                panic!("{css:?} matched {seen} elements, not {n}, after {timeout:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the first element that matches `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }

    /// Clears the first field that matches `css` (waiting for it), then types `text`
    /// into it. Keys go in as characters: end `text` with
    /// `fantoccini::key::Key::Enter` (`'\u{e007}'`) to press Enter.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css:?}: {e}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css:?}: {e}"));
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("cannot look for {css:?}: {e}"))
            .len()
    }

    /// Writes a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("cannot take a screenshot: {e}"));
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's end quits chromium. fantoccini would end it from its own task
        // when the client drops, but the test's runtime may stop before that task runs:
        // tell chromedriver directly.
        if let Some(id) = &self.session {
            let _ = ureq::delete(&format!("http://127.0.0.1:{}/session/{id}", self.port))
                .config()
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free port, its output in `log`; retries on another port
/// when the one it was given was taken in between.
fn start_driver(log: &Path) -> (Child, u16) {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let out = std::fs::File::create(log).expect("chromedriver log");
        let err = out.try_clone().expect("chromedriver log");
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if wait_port(port, Duration::from_millis(200)) {
                return (child, port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                last_error = format!(
                    "chromedriver exited ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromedriver did not listen on port {port} within {} s",
                    START_TIMEOUT.as_secs()
                );
            }
        }
    }
    panic!("chromedriver would not start: {last_error}");
}
