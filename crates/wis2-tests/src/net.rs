//! Loopback helpers: free ports, waiting for a listener, and the `/healthz` and
//! `/metrics` endpoints every service serves.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts TCP connections on `port`; false after `timeout`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The status code of `GET /healthz` on `port`, if something answers.
pub fn healthz(port: u16) -> Option<u16> {
    match ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call() {
        Ok(r) => Some(r.status().as_u16()),
        Err(ureq::Error::StatusCode(code)) => Some(code),
        Err(_) => None,
    }
}

/// Waits until `/healthz` on `port` answers 200 (the service is connected and every
/// subscription acknowledged); false after `timeout`.
pub async fn wait_healthy(port: u16, timeout: Duration) -> bool {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if healthz(port) == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await
    .expect("health poller")
}

/// A counter or gauge from `/metrics` on `port` (0 when absent).
pub async fn metric(port: u16, name: &str) -> f64 {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let body = ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        body.lines()
            .find_map(|l| {
                l.strip_prefix(&name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    })
    .await
    .unwrap_or(0.0)
}
