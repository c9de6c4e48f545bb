//! The console (`wis2-console`) on a test's broker, in-process or as its own process
//! (to `kill -9` it), and a client of its HTTP API.

use std::path::Path;
use std::time::Duration;

use crate::broker::{Broker, password};
use crate::fixtures::CENTRE;
use crate::flags::s;
use crate::net::free_port;
use crate::process::Proc;
use crate::service::{self, Service};

/// A console on `b` with its history in `state`, serving on a free port; the
/// operator's password is the test broker's.
pub struct Console {
    pub service: Service,
    pub api: Api,
}

/// The console's flags on `b`, with its history in `state`, serving on `port`.
fn flags(b: &Broker, state: &Path, port: u16) -> Vec<String> {
    vec![
        s("--broker-url"),
        b.url("wis2-console"),
        s("--state-dir"),
        state.display().to_string(),
        s("--addr"),
        format!("127.0.0.1:{port}"),
        s("--centre-id"),
        s(CENTRE),
        s("--operator-password"),
        s(password("operator")),
    ]
}

impl Console {
    /// Starts it (with `extra` flags) and waits until it is connected and serving.
    pub async fn start(b: &Broker, state: &Path, extra: &[String]) -> Console {
        let port = free_port();
        let mut flags = flags(b, state, port);
        flags.extend(extra.iter().cloned());
        let service = service::spawn::<wis2_console::RunArgs, _, _>(
            "wis2-console",
            wis2_console::run,
            &flags,
        )
        .ready()
        .await;
        assert!(
            crate::net::wait_port(port, Duration::from_secs(10)),
            "the console does not serve on {port}"
        );
        Console {
            service,
            api: Api { port },
        }
    }
}

impl std::ops::Deref for Console {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The console as its own process (the binary cargo built), to `kill -9` it.
pub struct ConsoleProc {
    pub proc: Proc,
    pub api: Api,
}

impl ConsoleProc {
    /// Starts it and waits until it is connected and serving; its log goes to `logs`.
    pub async fn start(b: &Broker, state: &Path, logs: &Path) -> ConsoleProc {
        let port = free_port();
        let c = ConsoleProc {
            proc: Proc::start("wis2-console", flags(b, state, port), logs),
            api: Api { port },
        };
        c.wait_ready().await;
        c
    }

    /// Waits until it is connected and serving (after a start or a restart).
    pub async fn wait_ready(&self) {
        self.proc.wait_ready().await;
        assert!(
            crate::net::wait_port(self.api.port, Duration::from_secs(10)),
            "the console does not serve on {}",
            self.api.port
        );
    }
}

impl std::ops::Deref for ConsoleProc {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A client of the console's page and API.
pub struct Api {
    /// The port of the page and the API.
    pub port: u16,
}

impl Api {
    /// The URL of `path` on the console.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path`: the status and the body as JSON (null when it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, &[]).await
    }

    /// POST `path` with `headers`: the status and the body as JSON.
    pub async fn post(&self, path: &str, headers: &[(&str, String)]) -> (u16, serde_json::Value) {
        self.call("POST", path, headers).await
    }

    /// `method` on `path` with `headers`: the status (an error status is an answer
    /// too) and the body as JSON (null when it is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> (u16, serde_json::Value) {
        let url = self.url(path);
        let method = method.to_string();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent();
            let mut answer = if method == "POST" {
                let mut req = agent.post(&url);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                req.send_empty()
            } else {
                let mut req = agent.get(&url);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                req.call()
            }
            .expect("the console answers");
            let status = answer.status().as_u16();
            let body = answer.body_mut().read_to_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            )
        })
        .await
        .expect("request")
    }

    /// Polls GET `path` until `pred` holds on its JSON body (every 100 ms), at most
    /// `timeout`; returns the last body.
    pub async fn until(
        &self,
        path: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (_, body) = self.get(path).await;
            if pred(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "GET {path}: not within {timeout:?}; last answer: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
