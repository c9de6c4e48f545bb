//! Tracing, set up once per process: `RUST_LOG` filter (default `info`), human or JSON
//! lines on stderr as `--log-format` (`WIS2_LOG_FORMAT`) says. Human output is
//! coloured only on a terminal: a log file gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human on a terminal, JSON otherwise (a container's log).
    Auto,
    /// One line per event, for people.
    #[value(alias = "text")]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Initialises tracing for a binary. Logs go to stderr so that one-shot commands keep
/// stdout for their result. Calling it twice is harmless.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
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
