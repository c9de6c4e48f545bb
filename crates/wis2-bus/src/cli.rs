//! What the `main` of every binary of the chain shares: the global `--log-format`
//! option, and one exit-code policy with one error printer.
//!
//! Exit codes, for every binary and subcommand:
//! - `0`: done;
//! - `1`: done, but some inputs failed their checks or were refused (an invalid
//!   message or record, a dead letter the broker's ACL does not let this account
//!   replay): [`Exit::Refused`];
//! - `2`: not done, or not all of it: bad settings or usage, a file that cannot be
//!   read, a broker that cannot be reached ([`Exit::Failed`] when the errors were
//!   printed as they came). clap's own usage errors exit 2 as well.

use std::process::ExitCode;

use std::future::Future;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::service::{Run, Settings};
use crate::shutdown::Signal;
use crate::telemetry::LogFormat;

/// What a binary's `--help` says of it.
pub struct Binary {
    pub name: &'static str,
    pub about: &'static str,
}

/// The subcommands of a service's binary: `run`, the service, with its settings `S`,
/// and the binary's own tools `T`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand<S: Settings, T: Subcommand> {
    // No doc comment: the help of `run` is the one of `S` (what the service does).
    Run(Box<Run<S>>),
    #[command(flatten)]
    Tool(T),
}

/// The subcommands of a binary other than `run`: each runs once and exits.
pub trait Tool: Subcommand {
    fn run(self) -> anyhow::Result<Exit>;
}

/// The `main` of a service's binary: named after its package, which names its service,
/// and described by the package's description; `run` (settings `$settings`, function
/// `$run`) and the other subcommands `$tool` ([`service_main`]).
#[macro_export]
macro_rules! service_main {
    ($settings:ty, $tool:ty, $run:path) => {
        fn main() -> std::process::ExitCode {
            let binary = $crate::cli::Binary {
                name: env!("CARGO_PKG_NAME"),
                about: env!("CARGO_PKG_DESCRIPTION"),
            };
            $crate::cli::service_main::<$settings, $tool, _>(binary, $run)
        }
    };
}

/// The `main` of a service's binary ([`main`]): `run` checks every setting and runs
/// the service `binary.name` on its runtime until SIGTERM
/// ([`crate::service::serve`]); the other subcommands run themselves ([`Tool::run`]).
pub fn service_main<S, T, F>(
    binary: Binary,
    run: impl FnOnce(crate::service::Service, S::Config, Signal) -> F,
) -> ExitCode
where
    S: Settings,
    T: Tool,
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let name = binary.name;
    parse_and_run(
        binary,
        Cli::<ServiceCommand<S, T>>::command(),
        |command: ServiceCommand<S, T>| match command {
            ServiceCommand::Run(args) => {
                crate::service::serve(name, &args, run).map(|()| Exit::Done)
            }
            ServiceCommand::Tool(t) => t.run(),
        },
    )
}

/// The command line of a binary of the chain: the global options, then one of its
/// subcommands `C`.
#[derive(Debug, Parser)]
pub struct Cli<C: Subcommand> {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: C,
}

/// The `main` of every binary of the chain: parses the command line of `binary`
/// (described by `about`, its subcommands `C`; a usage error exits 2 with clap's
/// message), sets up tracing as `--log-format` says, runs `run` on the subcommand, and
/// exits with the code of its outcome ([`exit`]).
pub fn main<C: Subcommand>(
    binary: Binary,
    run: impl FnOnce(C) -> anyhow::Result<Exit>,
) -> ExitCode {
    parse_and_run(binary, Cli::<C>::command(), run)
}

fn parse_and_run<C: Subcommand>(
    binary: Binary,
    command: clap::Command,
    run: impl FnOnce(C) -> anyhow::Result<Exit>,
) -> ExitCode {
    let command = command
        .name(binary.name)
        .bin_name(binary.name)
        .about(binary.about)
        .version(env!("CARGO_PKG_VERSION"));
    let cli = match Cli::<C>::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    crate::telemetry::init(cli.global.log_format);
    exit(binary.name, run(cli.command))
}

/// Options of every binary, given before or after the subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct GlobalArgs {
    /// How logs are written (on stderr): human (coloured on a terminal), json (one
    /// object per line, for containers and log collectors), or auto: human on a
    /// terminal, json otherwise.
    #[arg(
        long,
        env = "WIS2_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t = LogFormat::Auto
    )]
    pub log_format: LogFormat,
}

/// How a command that ran ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything done: exit code 0.
    Done,
    /// Done, but some inputs failed their checks or were refused: exit code 1.
    Refused,
    /// Some inputs could not be processed at all (a file that cannot be read), their
    /// errors already printed with [`print_error`]: exit code 2.
    Failed,
}

/// The exit code of a command's outcome; an error is printed on stderr, with its
/// causes, as `<binary>: error: ...`.
pub fn exit(binary: &str, outcome: anyhow::Result<Exit>) -> ExitCode {
    match outcome {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::Refused) => ExitCode::from(1),
        Ok(Exit::Failed) => ExitCode::from(2),
        Err(e) => {
            print_error(binary, &e);
            ExitCode::from(2)
        }
    }
}

/// Prints `e` on stderr as `<binary>: error: ...`, with its causes on one line.
pub fn print_error(binary: &str, e: &anyhow::Error) {
    eprintln!("{binary}: error: {}", error_text(e));
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
    use super::*;

    #[test]
    fn causes_already_told_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(io).context("cannot read x.nc: disk on fire; fix the disk");
        assert_eq!(
            error_text(&e),
            "cannot read x.nc: disk on fire; fix the disk"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }

    #[test]
    fn one_policy_for_every_binary() {
        assert_eq!(exit("t", Ok(Exit::Done)), ExitCode::SUCCESS);
        assert_eq!(exit("t", Ok(Exit::Refused)), ExitCode::from(1));
        assert_eq!(exit("t", Ok(Exit::Failed)), ExitCode::from(2));
        assert_eq!(
            exit("t", Err(anyhow::anyhow!("no broker"))),
            ExitCode::from(2)
        );
    }
}
