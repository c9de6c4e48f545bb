//! Tracing, set up once per process: `RUST_LOG` filter (default `info`), human output
//! on a terminal, JSON lines otherwise (containers), or as `WIS2_LOG_FORMAT` says.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Initialises tracing for a binary. Logs go to stderr so that one-shot commands keep
/// stdout for their result. Calling it twice is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match std::env::var("WIS2_LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("human" | "text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
