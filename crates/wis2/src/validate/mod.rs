//! The WNM abstract test suite, the authoritative JSON Schema, reports.
//!
//! A [`Validator`] runs one test per requirement class of the WIS2 Notification
//! Message standard (ids `http://wis.wmo.int/spec/wnm/1/conf/core/<name>`, see [`ids`])
//! and, when a topic is given, the WIS2 Topic Hierarchy test, and returns a
//! [`Report`] shaped like pywis-pubsub's `ets-report`.
//!
//! The `validation` test is the authoritative WNM JSON Schema (Draft 2020-12 with the
//! `date-time` and `uuid` formats asserted), compiled once per validator. Without the
//! schema a built-in structural check (the schema written out by hand) still runs: the
//! test fails on what it finds, and is otherwise SKIPPED with a message saying the
//! authoritative schema was not checked.
//!
//! ```no_run
//! use wis2::validate::{Validator, ValidatorOptions};
//! let v = Validator::new(&ValidatorOptions {
//!     schema: Some("wis2-notification-message-bundled.json".into()),
//!     wth_dir: None,
//!     profile: wis2::validate::Profile::Wnm13,
//! })?;
//! let report = v.check_message(br#"{"id": "..."}"#, Some("origin/a/wis2/..."));
//! println!("{}", report.to_human());
//! # Ok::<(), wis2::validate::ValidateError>(())
//! ```

mod content;
mod context;
mod error;
mod ets;
pub mod ids;
mod profile;
mod schema;
mod structure;
pub mod time;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::{Finding, Report, TestResult};
use crate::topic::{self, Mode, TopicTables};

use context::Ctx;

pub use error::ValidateError;
pub use profile::{Profile, UnknownProfile};

/// Where the validator finds the standards; `None` means built-in rules only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatorOptions {
    /// The bundled WNM JSON Schema (`wis2-notification-message-bundled.json`).
    pub schema: Option<PathBuf>,
    /// A directory holding the WTH bundle's CSV tables.
    pub wth_dir: Option<PathBuf>,
    /// The edition of the standard (WNM 1.3.0 by default; the schema given should be
    /// that edition's).
    pub profile: Profile,
}

/// Runs the WNM test suite (and the topic test); build once, share between threads.
#[derive(Debug)]
pub struct Validator {
    schema: Option<schema::Schema>,
    tables: Option<TopicTables>,
    profile: Profile,
}

const SKIPPED_SCHEMA: &str = "built-in structural check passed; the authoritative WNM schema was not checked (none loaded: pass --schema or run `wis2-validate schema sync`)";

impl Validator {
    /// Loads and compiles the schema and loads the WTH tables, as given.
    pub fn new(opts: &ValidatorOptions) -> Result<Self, ValidateError> {
        let schema = opts
            .schema
            .as_deref()
            .map(schema::Schema::load)
            .transpose()?;
        let tables = opts
            .wth_dir
            .as_deref()
            .map(TopicTables::load_dir)
            .transpose()?;
        Ok(Validator {
            schema,
            tables,
            profile: opts.profile,
        })
    }

    /// Built-in rules only: no schema, no WTH tables.
    pub fn builtin() -> Self {
        Validator {
            schema: None,
            tables: None,
            profile: Profile::Wnm13,
        }
    }

    /// The same validator, checking against `profile`.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The edition of the standard checked.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// A validator with these tables (and the schema, if any, of `self`).
    pub fn with_tables(mut self, tables: TopicTables) -> Self {
        self.tables = Some(tables);
        self
    }

    /// True when the authoritative schema is loaded.
    pub fn has_schema(&self) -> bool {
        self.schema.is_some()
    }

    /// Where the schema was loaded from.
    pub fn schema_path(&self) -> Option<&Path> {
        self.schema.as_ref().map(|s| s.path.as_path())
    }

    /// The WTH tables, when loaded.
    pub fn tables(&self) -> Option<&TopicTables> {
        self.tables.as_ref()
    }

    /// Checks a message as received (raw bytes: the size test measures them), and
    /// the topic it came on when given (its test is part of the same report).
    pub fn check_message(&self, raw: &[u8], topic: Option<&str>) -> Report {
        match serde_json::from_slice::<Value>(raw) {
            Ok(v) => self.run(&v, raw.len(), topic),
            Err(err) => {
                let mut tests = Vec::with_capacity(ids::ALL.len() + 1);
                let why = format!("the message is not JSON: {err}");
                tests.push(TestResult::from_errors(
                    ids::VALIDATION,
                    vec![
                        Finding::new("", why)
                            .with_fix("send one UTF-8 JSON object (a GeoJSON Feature) per message"),
                    ],
                ));
                for id in &ids::ALL[1..] {
                    if *id == ids::CONTENT && self.profile.is_draft() {
                        tests.push(TestResult::skipped(
                            ids::INTEGRITY,
                            "the message is not JSON",
                        ));
                    }
                    if *id == ids::MESSAGE_SIZE {
                        let null = Value::Null;
                        tests.push(ets::message_size(&Ctx::new(&null, raw.len(), None)));
                    } else {
                        tests.push(TestResult::skipped(*id, "the message is not JSON"));
                    }
                }
                if let Some(t) = topic {
                    tests.push(topic::check_result(t, self.tables.as_ref(), Mode::Publish));
                }
                Report::new(None, tests, Vec::new())
            }
        }
    }

    /// Checks a parsed message; the size test measures its compact serialization.
    pub fn check_value(&self, v: &Value, topic: Option<&str>) -> Report {
        self.run(v, crate::json::compact_len(v), topic)
    }

    /// Checks a topic alone (the WTH tables are used when loaded).
    pub fn check_topic(&self, topic: &str, mode: Mode) -> Report {
        topic::check_report(topic, self.tables.as_ref(), mode)
    }

    fn validation(&self, v: &Value) -> TestResult {
        let mut errors = Vec::new();
        match &self.schema {
            Some(s) => {
                // The built-in check is implied by the authoritative schema (the
                // differential test holds them together), so a valid message is not
                // checked twice.
                if !s.is_valid(v) {
                    s.errors(v, &mut errors);
                }
                TestResult::from_errors(ids::VALIDATION, errors)
            }
            None => {
                structure::check(v, &mut errors);
                if errors.is_empty() {
                    TestResult::skipped(ids::VALIDATION, SKIPPED_SCHEMA)
                } else {
                    TestResult::from_errors(ids::VALIDATION, errors)
                }
            }
        }
    }

    fn run(&self, v: &Value, size: usize, topic: Option<&str>) -> Report {
        let c = Ctx::new(v, size, topic).with_profile(self.profile);
        let mut warnings = Vec::new();
        let mut tests = Vec::with_capacity(ids::ALL.len() + usize::from(topic.is_some()));
        tests.push(self.validation(v));
        tests.push(ets::identifier(&c));
        tests.push(ets::conformance(&c));
        tests.push(ets::geometry(&c));
        tests.push(ets::data_id(&c, &mut warnings));
        tests.push(ets::metadata_id(&c));
        tests.push(ets::pubtime(&c));
        tests.push(ets::temporal(&c));
        tests.push(ets::links(&c));
        tests.push(ets::message_size(&c));
        let expected = if self.profile.is_draft() {
            let (test, expected) = content::integrity(&c);
            tests.push(test);
            expected
        } else {
            content::integrity_warnings(&c, &mut warnings)
        };
        tests.push(content::content(&c, expected, &mut warnings));
        if let Some(t) = topic {
            tests.push(topic::check_result(t, self.tables.as_ref(), Mode::Publish));
            warnings.extend(topic::notes(t, self.tables.as_ref()));
        }
        let subject = v.get("id").and_then(Value::as_str).map(str::to_string);
        Report::new(subject, tests, warnings)
    }
}
