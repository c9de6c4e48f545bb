//! Test reports, shaped like pywis-pubsub's `ets validate` output so users can switch
//! tools: `{"ets-report": {"summary": {"PASSED": n, "FAILED": n, "SKIPPED": n},
//! "tests": [{"id", "code", "message", "errors"}]}}`, plus warnings with their fix.

use serde::{Deserialize, Serialize};

/// Outcome of one requirement test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Code {
    Passed,
    Failed,
    Skipped,
}

/// One problem found: where (JSON pointer), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// JSON pointer of the offending value (`/properties/pubtime`), or `""` for the
    /// whole document, or a topic level (`level 5`).
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            path: path.into(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

/// The result of one requirement class test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// The requirement's identifier, e.g. `http://wis.wmo.int/spec/wnm/1/conf/core/pubtime`.
    pub id: String,
    pub code: Code,
    /// Summary of the failures (first one), as pywis-pubsub writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every failure of this test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Finding>,
}

impl TestResult {
    /// Passed when `errors` is empty, failed otherwise.
    pub fn from_errors(id: impl Into<String>, errors: Vec<Finding>) -> Self {
        let code = if errors.is_empty() {
            Code::Passed
        } else {
            Code::Failed
        };
        TestResult {
            id: id.into(),
            code,
            message: errors.first().map(|e| e.to_string()),
            errors,
        }
    }

    pub fn skipped(id: impl Into<String>, why: impl Into<String>) -> Self {
        TestResult {
            id: id.into(),
            code: Code::Skipped,
            message: Some(why.into()),
            errors: Vec::new(),
        }
    }
}

/// Counts of each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(rename = "PASSED")]
    pub passed: usize,
    #[serde(rename = "FAILED")]
    pub failed: usize,
    #[serde(rename = "SKIPPED")]
    pub skipped: usize,
}

/// A full report on one document (message, topic or record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtsReport {
    /// What was checked: a file name, a message id, a topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub summary: Summary,
    pub tests: Vec<TestResult>,
    /// Problems that are not failures, each with its fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Finding>,
    pub generated_by: String,
}

// Strings, counts, options and vectors of them, and plain enums.
impl crate::json::PlainJson for Report {}

/// The JSON document printed by `--json` and carried on the rejected topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    #[serde(rename = "ets-report")]
    pub ets_report: EtsReport,
}

impl Report {
    /// Builds a report from test results and warnings.
    pub fn new(subject: Option<String>, tests: Vec<TestResult>, warnings: Vec<Finding>) -> Self {
        let mut summary = Summary::default();
        for t in &tests {
            match t.code {
                Code::Passed => summary.passed += 1,
                Code::Failed => summary.failed += 1,
                Code::Skipped => summary.skipped += 1,
            }
        }
        Report {
            ets_report: EtsReport {
                subject,
                summary,
                tests,
                warnings,
                generated_by: concat!("wis2 ", env!("CARGO_PKG_VERSION")).to_string(),
            },
        }
    }

    /// True when no test failed.
    pub fn is_valid(&self) -> bool {
        self.ets_report.summary.failed == 0
    }

    /// Failed tests.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.ets_report
            .tests
            .iter()
            .filter(|t| t.code == Code::Failed)
    }

    /// Ids of the failed tests.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.failures().map(|t| t.id.as_str()).collect()
    }

    /// The human form: one line per failed rule (where, what, fix), then warnings.
    pub fn to_human(&self) -> String {
        let r = &self.ets_report;
        let mut out = String::new();
        let subject = r.subject.as_deref().unwrap_or("message");
        if self.is_valid() {
            out.push_str(&format!(
                "{subject}: valid ({} passed, {} skipped)\n",
                r.summary.passed, r.summary.skipped
            ));
        } else {
            out.push_str(&format!(
                "{subject}: INVALID ({} failed, {} passed, {} skipped)\n",
                r.summary.failed, r.summary.passed, r.summary.skipped
            ));
        }
        for t in self.failures() {
            for e in &t.errors {
                out.push_str(&format!("  FAILED {}\n    {e}\n", t.id));
            }
        }
        for t in r.tests.iter().filter(|t| t.code == Code::Skipped) {
            out.push_str(&format!(
                "  SKIPPED {}: {}\n",
                t.id,
                t.message.as_deref().unwrap_or("")
            ));
        }
        for w in &r.warnings {
            out.push_str(&format!("  WARNING {w}\n"));
        }
        out
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        crate::json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_shape() {
        let r = Report::new(
            Some("m.json".into()),
            vec![
                TestResult::from_errors("a", vec![]),
                TestResult::from_errors(
                    "b",
                    vec![Finding::new("/id", "bad").with_fix("use a UUID")],
                ),
                TestResult::skipped("c", "no schema"),
            ],
            vec![],
        );
        assert!(!r.is_valid());
        assert_eq!(r.failed_ids(), vec!["b"]);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("report JSON");
        assert_eq!(v["ets-report"]["summary"]["PASSED"], 1);
        assert_eq!(v["ets-report"]["summary"]["FAILED"], 1);
        assert_eq!(v["ets-report"]["summary"]["SKIPPED"], 1);
        assert_eq!(v["ets-report"]["tests"][1]["code"], "FAILED");
        assert!(r.to_human().contains("fix: use a UUID"));
    }
}
