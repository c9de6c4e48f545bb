//! The log lines of the services running in-process, captured by one tracing
//! subscriber for the whole test binary (`TEST_LOG` sets its filter, default `info`).
//! Tests find their own lines by an id of theirs (a message id, a data_id).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let w = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "info".into()))
            .with_ansi(false)
            .with_writer(move || w.clone())
            .try_init();
        logs
    })
}

/// Starts capturing (once per test binary): call it before starting the services
/// whose lines a test reads.
pub fn capture() {
    captured();
}

/// The captured lines that contain every one of `needles`.
pub fn lines(needles: &[&str]) -> Vec<String> {
    let bytes = captured().0.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}

/// Waits (at most 20 s) for a captured line holding every one of `needles`.
pub async fn line(needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(l) = lines(needles).into_iter().next() {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
