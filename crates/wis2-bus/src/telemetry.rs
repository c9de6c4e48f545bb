//! Tracing, set up once per process: `RUST_LOG` filter (default `info`), human output
//! on a terminal, JSON lines otherwise (containers), or as `WIS2_LOG_FORMAT` says.
//! Human output is coloured only on a terminal: a log file gets plain text.

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
        .with_ansi(std::io::stderr().is_terminal())
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

/// An error and its causes on one line, as `{:#}` prints them, but without repeating
/// a cause whose text the message before it already includes (most of the chain's
/// errors name their cause in their own message and keep it as the source too).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_already_told_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(io).context("cannot read x.nc: disk on fire; fix the disk");
        assert_eq!(
            super::error_text(&e),
            "cannot read x.nc: disk on fire; fix the disk"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::error_text(&e), "outer: inner");
    }
}
