//! The WCMP2 checker: what it loads, and the report it writes on a record.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::{Finding, Report, TestResult};
use crate::topic::TopicTables;

use super::codelists::CodeLists;
use super::context::Ctx;
use super::error::Wcmp2Error;
use super::{extent, identity, links, properties, schema, test_id, themes};

/// Where the authoritative documents are. `None` everywhere gives the built-in rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wcmp2Options {
    /// The bundled WCMP2 JSON Schema (`wcmp2-bundled.json`).
    pub schema: Option<PathBuf>,
    /// A directory of WCMP2 code list CSVs (`contact-role.csv`, ...).
    pub codelists_dir: Option<PathBuf>,
    /// A directory of WTH bundle CSVs (`centre-id.csv`, ...).
    pub wth_dir: Option<PathBuf>,
}

/// The WCMP2 test suite, compiled once; cheap to share between threads.
pub struct Wcmp2Checker {
    validator: Option<jsonschema::Validator>,
    schema_path: Option<PathBuf>,
    codelists: CodeLists,
    tables: Option<TopicTables>,
    require_mqtt_link: bool,
}

impl std::fmt::Debug for Wcmp2Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wcmp2Checker")
            .field("schema", &self.schema_path)
            .field("codelists", &self.codelists.source)
            .field("wth_tables", &self.tables.is_some())
            .field("require_mqtt_link", &self.require_mqtt_link)
            .finish()
    }
}

const NO_SCHEMA: &str = "no WCMP2 schema loaded, built-in rules only (fix: run `wis2-validate metadata sync`, or pass --schema / WIS2_WCMP2_SCHEMA)";

impl Wcmp2Checker {
    /// Loads the schema, code lists and WTH tables that `o` names; what it leaves
    /// out runs on the built-in rules.
    pub fn new(o: &Wcmp2Options) -> Result<Self, Wcmp2Error> {
        let mut c = Self::builtin();
        if let Some(path) = &o.schema {
            c.validator = Some(schema::load(path)?);
            c.schema_path = Some(path.clone());
        }
        if let Some(dir) = &o.codelists_dir {
            c.codelists = CodeLists::load_dir(dir)?;
        }
        if let Some(dir) = &o.wth_dir {
            c.tables = Some(TopicTables::load_dir(dir)?);
        }
        Ok(c)
    }

    /// Built-in rules only: code lists compiled in, no WTH registry, and the
    /// `validation` test SKIPPED with the reason.
    pub fn builtin() -> Self {
        Wcmp2Checker {
            validator: None,
            schema_path: None,
            codelists: CodeLists::builtin(),
            tables: None,
            require_mqtt_link: false,
        }
    }

    /// With `true`, a dataset record without an MQTT link fails `links` (instead of
    /// a warning): for a publisher's own real-time records.
    pub fn require_mqtt_link(mut self, yes: bool) -> Self {
        self.require_mqtt_link = yes;
        self
    }

    /// The schema file in use, if any.
    pub fn schema_path(&self) -> Option<&Path> {
        self.schema_path.as_deref()
    }

    /// The code lists in force.
    pub fn codelists(&self) -> &CodeLists {
        &self.codelists
    }

    /// The WTH tables, when loaded.
    pub fn topic_tables(&self) -> Option<&TopicTables> {
        self.tables.as_ref()
    }

    /// Checks a record given as bytes (a file's content).
    pub fn check_record(&self, raw: &[u8]) -> Report {
        match serde_json::from_slice::<Value>(raw) {
            Ok(v) => self.check_value(&v),
            Err(e) => {
                let why = format!("record is not JSON: {e}");
                let mut tests = vec![TestResult::from_errors(
                    test_id::VALIDATION,
                    vec![
                        Finding::new("", why.clone())
                            .with_fix("write the record as one UTF-8 JSON object"),
                    ],
                )];
                tests.extend(
                    test_id::ALL[1..]
                        .iter()
                        .map(|id| TestResult::skipped(*id, why.clone())),
                );
                Report::new(None, tests, Vec::new())
            }
        }
    }

    /// Checks a parsed record.
    pub fn check_value(&self, v: &Value) -> Report {
        let mut warnings = Vec::new();
        let w = &mut warnings;
        let cx = Ctx::new(v, &self.codelists, self.tables.as_ref());
        let tests = vec![
            self.validation(v),
            TestResult::from_errors(test_id::IDENTIFIER, identity::identifier(&cx, w)),
            TestResult::from_errors(test_id::CONFORMANCE, identity::conformance(&cx)),
            TestResult::from_errors(test_id::TYPE, identity::resource_type(&cx)),
            TestResult::from_errors(test_id::EXTENT_GEOSPATIAL, extent::geospatial(&cx)),
            TestResult::from_errors(test_id::EXTENT_TEMPORAL, extent::temporal(&cx, w)),
            TestResult::from_errors(test_id::TITLE, properties::text(&cx, "title")),
            TestResult::from_errors(test_id::DESCRIPTION, properties::description(&cx, w)),
            TestResult::from_errors(test_id::THEMES, themes::themes(&cx, w)),
            TestResult::from_errors(
                test_id::THEMES_WIS2_GLOBAL_SERVICE,
                themes::global_service(&cx),
            ),
            TestResult::from_errors(test_id::CONTACTS, properties::contacts(&cx, w)),
            TestResult::from_errors(
                test_id::RECORD_CREATION_DATE,
                properties::record_created(&cx, w),
            ),
            TestResult::from_errors(test_id::DATA_POLICY, links::data_policy(&cx)),
            TestResult::from_errors(test_id::LINKS, links::links(&cx, self.require_mqtt_link, w)),
        ];
        let subject = v.get("id").and_then(Value::as_str).map(str::to_string);
        Report::new(subject, tests, warnings)
    }

    fn validation(&self, v: &Value) -> TestResult {
        let Some(validator) = &self.validator else {
            return TestResult::skipped(test_id::VALIDATION, NO_SCHEMA);
        };
        let errors = validator
            .iter_errors(v)
            .map(|e| schema::finding(&e))
            .collect();
        TestResult::from_errors(test_id::VALIDATION, errors)
    }
}
