//! How the one-shot checks print their reports (human text, or one JSON
//! `ets-report` document per line with `--json`) and the exit code they add up to,
//! by the policy of [`wis2_bus::cli`].

use std::io::Write;

use wis2::report::Report;
use wis2_bus::cli::{Exit, print_error};

/// The binary's name, as its errors begin.
pub const BINARY: &str = "wis2-validate";

/// Where reports are printed, and how.
pub struct Reports<W> {
    out: W,
    json: bool,
}

impl Reports<std::io::StdoutLock<'static>> {
    /// Reports on standard output.
    pub fn stdout(json: bool) -> Self {
        Reports::new(std::io::stdout().lock(), json)
    }
}

impl<W: Write> Reports<W> {
    /// Reports on `out`: human text, or JSON lines with `json`.
    pub fn new(out: W, json: bool) -> Self {
        Reports { out, json }
    }

    /// Prints the reports of each input as they come, or the error that kept an input
    /// from being checked (on stderr), and returns the outcome: [`Exit::Failed`] when
    /// an input had an error or the reports cannot be written, else
    /// [`Exit::Refused`] when a report is invalid, else [`Exit::Done`].
    pub fn print_all<R>(mut self, inputs: impl IntoIterator<Item = anyhow::Result<R>>) -> Exit
    where
        R: IntoIterator<Item = Report>,
    {
        let mut failed = false;
        let mut refused = false;
        for input in inputs {
            let reports = match input {
                Ok(reports) => reports,
                Err(e) => {
                    print_error(BINARY, &e);
                    failed = true;
                    continue;
                }
            };
            for r in reports {
                refused |= !r.is_valid();
                if let Err(e) = self.print(&r) {
                    print_error(
                        BINARY,
                        &anyhow::Error::new(e).context("cannot write a report"),
                    );
                    return Exit::Failed;
                }
            }
        }
        if failed {
            Exit::Failed
        } else if refused {
            Exit::Refused
        } else {
            Exit::Done
        }
    }

    fn print(&mut self, report: &Report) -> std::io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", report.to_json())
        } else {
            write!(self.out, "{}", report.to_human())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wis2::report::{Finding, TestResult};

    fn report(valid: bool) -> Report {
        let findings = if valid {
            Vec::new()
        } else {
            vec![Finding::new("/id", "missing")]
        };
        Report::new(
            Some("r".into()),
            vec![TestResult::from_errors("t", findings)],
            Vec::new(),
        )
    }

    fn outcome(inputs: Vec<anyhow::Result<Vec<Report>>>) -> (Exit, usize) {
        let mut out = Vec::new();
        let exit = Reports::new(&mut out, true).print_all(inputs);
        (exit, String::from_utf8_lossy(&out).lines().count())
    }

    #[test]
    fn one_exit_policy_for_every_check() {
        assert_eq!(outcome(vec![Ok(vec![report(true)])]), (Exit::Done, 1));
        assert_eq!(
            outcome(vec![Ok(vec![report(true), report(false)])]),
            (Exit::Refused, 2)
        );
        // An input that cannot be checked does not stop the others.
        assert_eq!(
            outcome(vec![
                Err(anyhow::anyhow!("cannot read x")),
                Ok(vec![report(false)])
            ]),
            (Exit::Failed, 1)
        );
    }
}
