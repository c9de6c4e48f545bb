//! WMO Core Metadata Profile 2 (WCMP2): the executable test suite for discovery
//! metadata records, like pywcmp's `ets` (same test ids, same behaviour where pywcmp
//! checks something, stricter where the standard or the Global Services are).
//!
//! One test per requirement class of the WCMP2 abstract test suite, each with the id
//! `http://wis.wmo.int/spec/wcmp/2/conf/core/<name>` (see [`test_id`]):
//!
//! | test | what |
//! |---|---|
//! | `validation` | the authoritative JSON Schema (Draft 2020-12, formats asserted); SKIPPED without a schema |
//! | `identifier` | `urn:wmo:md:<centre-id>:<local-id>`, ASCII, no spaces; centre-id registered (WTH tables) and equal to the MQTT channels' centre-id |
//! | `conformance` | `conformsTo` holds `http://wis.wmo.int/spec/wcmp/2/conf/core` |
//! | `type` | `properties.type` in the resource-type code list |
//! | `extent_geospatial` | GeoJSON geometry or null, WGS84 ranges, closed non-degenerate rings, bbox |
//! | `extent_temporal` | `time` null or date/timestamp/interval/resolution; interval order; open ends `..`/null; ISO 8601 durations |
//! | `title`, `description` | present, non-blank strings |
//! | `themes` | themes with concepts and scheme; an earth-system-discipline theme whose concepts are in the WTH |
//! | `themes_wis2_global_service` | a Global Service record: type `service`, one global-service-type concept, all disciplines |
//! | `contacts` | organization, roles from the contact-role code list, at least one `host` |
//! | `record_created_datetime` | `properties.created` (and `updated`) RFC 3339, updated not before created |
//! | `data_policy` | `wmo:dataPolicy` core/recommended for datasets, licence link when recommended, equal to the MQTT channels' level 6 |
//! | `links` | rel an IANA relation or WCMP2 link type; MQTT links carry a valid WTH `channel`; security described |
//!
//! Where the checker differs from pywcmp (all documented in the tests):
//! - pywcmp raises on a missing member (`KeyError`); here that member's test fails.
//! - An MQTT link is a link whose `href` is `mqtt://`/`mqtts://`, or `ws://`/`wss://`
//!   (MQTT over WebSocket) with a `channel`.
//! - A dataset with no MQTT link is a warning, not a failure: WCMP2 requires the
//!   MQTT link for real-time data only, and archive records (several official
//!   examples) have none. [`Wcmp2Checker::require_mqtt_link`] makes it a failure of
//!   `links`, for a publisher's own real-time records.
//! - A data policy that differs from an MQTT channel's level 6 fails `data_policy`
//!   (once, not also `links`).

pub mod codelists;
mod geo;
pub mod temporal;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use codelists::CodeLists;

use crate::report::{Finding, Report, TestResult};
use crate::topic::{self, Mode, TopicError, TopicTables};

/// The conformance class every WCMP2 record declares in `conformsTo`.
pub const WCMP2_CONFORMANCE: &str = "http://wis.wmo.int/spec/wcmp/2/conf/core";

/// Test identifiers, as pywcmp writes them.
pub mod test_id {
    macro_rules! ids {
        ($($name:ident = $s:literal),* $(,)?) => {
            $(pub const $name: &str = concat!("http://wis.wmo.int/spec/wcmp/2/conf/core/", $s);)*
            /// Every test, in report order.
            pub const ALL: &[&str] = &[$($name),*];
        };
    }
    ids! {
        VALIDATION = "validation",
        IDENTIFIER = "identifier",
        CONFORMANCE = "conformance",
        TYPE = "type",
        EXTENT_GEOSPATIAL = "extent_geospatial",
        EXTENT_TEMPORAL = "extent_temporal",
        TITLE = "title",
        DESCRIPTION = "description",
        THEMES = "themes",
        THEMES_WIS2_GLOBAL_SERVICE = "themes_wis2_global_service",
        CONTACTS = "contacts",
        RECORD_CREATED_DATETIME = "record_created_datetime",
        DATA_POLICY = "data_policy",
        LINKS = "links",
    }
}

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

/// The authoritative documents could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Wcmp2Error {
    #[error(
        "cannot read WCMP2 schema {path}: {source} (fix: point --schema / WIS2_WCMP2_SCHEMA at wcmp2-bundled.json, or run `wis2-validate metadata sync`)"
    )]
    ReadSchema {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "WCMP2 schema {path} is not JSON: {source} (fix: re-download it with `wis2-validate metadata sync`)"
    )]
    ParseSchema {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "WCMP2 schema {path} does not compile as JSON Schema 2020-12: {reason} (fix: use the official wcmp2-bundled.json)"
    )]
    CompileSchema { path: PathBuf, reason: String },
    #[error(
        "cannot read WCMP2 code list {path}: {source} (fix: point --codelists / WIS2_WCMP2_CODELISTS at the folder of code list CSVs, or run `wis2-validate metadata sync`)"
    )]
    ReadCodelist {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "WCMP2 code list {path} is malformed: {reason} (fix: re-download the code lists with `wis2-validate metadata sync`)"
    )]
    Codelist { path: PathBuf, reason: String },
    #[error(transparent)]
    Topic(#[from] TopicError),
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

/// Compiles a WCMP2 schema document: Draft 2020-12, formats asserted.
///
/// The official bundle has `$ref`s through a referenced definition (e.g.
/// `#/properties/links/items/properties/distribution/...`, where `links/items` is
/// itself `{"$ref": "#/definitions/Link"}`). Python's `jsonschema` (pywcmp) resolves
/// references lazily and never meets them unless a record uses that member; the Rust
/// compiler resolves every reference up front and rejects them. [`repair_refs`]
/// rewrites each such reference to the canonical pointer of the same subschema
/// (following the intermediate `$ref`), in memory: the schema file is not changed and
/// the rules stay the same.
fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut schema = schema.clone();
    repair_refs(&mut schema)?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Resolves a local JSON pointer, following `$ref`s met on the way; returns the
/// canonical pointer of the target.
fn resolve_through_refs(root: &Value, pointer: &str, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let mut here: Vec<String> = Vec::new();
    for token in pointer.split('/').skip(1).map(unescape) {
        let mut hops = 0;
        loop {
            let cur = node_at(root, &here)?;
            if let Some(next) = child(cur, &token) {
                let _ = next;
                here.push(token.clone());
                break;
            }
            let target = cur.get("$ref")?.as_str()?.strip_prefix('#')?;
            let canon = resolve_through_refs(root, target, depth + 1)?;
            here = canon.split('/').skip(1).map(unescape).collect();
            hops += 1;
            if hops > 16 {
                return None;
            }
        }
    }
    Some(here.iter().map(|t| format!("/{}", escape(t))).collect())
}

fn child<'v>(v: &'v Value, token: &str) -> Option<&'v Value> {
    match v {
        Value::Object(m) => m.get(token),
        Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn node_at<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, t| child(v, t))
}

/// Rewrites local `$ref`s that only resolve through another `$ref` to their
/// canonical pointer (see [`compile_schema`]). Fails on a reference that does not
/// resolve at all.
fn repair_refs(schema: &mut Value) -> Result<usize, String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref")
                    && let Some(p) = r.strip_prefix('#')
                {
                    out.push(p.to_string());
                }
                m.values().for_each(|c| collect(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| collect(c, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    collect(schema, &mut refs);
    let mut fixes = std::collections::HashMap::new();
    for r in refs {
        if r.is_empty() || !r.starts_with('/') || schema.pointer(&r).is_some() {
            continue;
        }
        match resolve_through_refs(schema, &r, 0) {
            Some(canon) => {
                fixes.insert(r, canon);
            }
            None => return Err(format!("$ref #{r} does not resolve")),
        }
    }
    fn rewrite(v: &mut Value, fixes: &std::collections::HashMap<String, String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref")
                    && let Some(canon) = r.strip_prefix('#').and_then(|p| fixes.get(p))
                {
                    *r = format!("#{canon}");
                }
                m.values_mut().for_each(|c| rewrite(c, fixes));
            }
            Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, fixes)),
            _ => {}
        }
    }
    rewrite(schema, &fixes);
    Ok(fixes.len())
}

impl Wcmp2Checker {
    /// Loads the schema, code lists and WTH tables that `o` names; what it leaves
    /// out runs on the built-in rules.
    pub fn new(o: &Wcmp2Options) -> Result<Self, Wcmp2Error> {
        let mut c = Self::builtin();
        if let Some(path) = &o.schema {
            let text = std::fs::read(path).map_err(|source| Wcmp2Error::ReadSchema {
                path: path.clone(),
                source,
            })?;
            let schema: Value =
                serde_json::from_slice(&text).map_err(|source| Wcmp2Error::ParseSchema {
                    path: path.clone(),
                    source,
                })?;
            c.validator =
                Some(
                    compile_schema(&schema).map_err(|reason| Wcmp2Error::CompileSchema {
                        path: path.clone(),
                        reason,
                    })?,
                );
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
        let cx = Ctx::new(v);
        let tests = vec![
            self.validation(v),
            TestResult::from_errors(test_id::IDENTIFIER, self.identifier(&cx, &mut warnings)),
            TestResult::from_errors(test_id::CONFORMANCE, conformance(&cx)),
            TestResult::from_errors(test_id::TYPE, self.resource_type(&cx)),
            TestResult::from_errors(test_id::EXTENT_GEOSPATIAL, extent_geospatial(&cx)),
            TestResult::from_errors(
                test_id::EXTENT_TEMPORAL,
                extent_temporal(&cx, &mut warnings),
            ),
            TestResult::from_errors(test_id::TITLE, text_property(&cx, "title")),
            TestResult::from_errors(test_id::DESCRIPTION, description(&cx, &mut warnings)),
            TestResult::from_errors(test_id::THEMES, self.themes(&cx, &mut warnings)),
            TestResult::from_errors(
                test_id::THEMES_WIS2_GLOBAL_SERVICE,
                self.global_service(&cx),
            ),
            TestResult::from_errors(test_id::CONTACTS, self.contacts(&cx, &mut warnings)),
            TestResult::from_errors(
                test_id::RECORD_CREATED_DATETIME,
                record_created(&cx, &mut warnings),
            ),
            TestResult::from_errors(test_id::DATA_POLICY, data_policy(&cx)),
            TestResult::from_errors(test_id::LINKS, self.links(&cx, &mut warnings)),
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
            .map(|e| schema_finding(&e))
            .collect();
        TestResult::from_errors(test_id::VALIDATION, errors)
    }
}

fn schema_finding(e: &jsonschema::ValidationError<'_>) -> Finding {
    use jsonschema::error::ValidationErrorKind as K;
    let fix = match e.kind() {
        K::Required { property } => format!("add the required member {property}"),
        K::Format { format } => match format.as_str() {
            "date-time" => "write an RFC 3339 date-time such as 2024-01-01T00:00:00Z".to_string(),
            "email" => "write a valid e-mail address".to_string(),
            f => format!("write a valid {f}"),
        },
        K::Enum { options } => format!("use one of {options}"),
        K::Constant { expected_value } => format!("write {expected_value}"),
        K::Contains => "add the required item".to_string(),
        K::Pattern { pattern } => format!("write a value matching {pattern}"),
        K::AdditionalProperties { unexpected } => {
            format!("remove {} (not allowed here)", unexpected.join(", "))
        }
        K::MinItems { limit } => format!("give at least {limit} item(s)"),
        K::Type { .. } => "change the value to the type the schema requires".to_string(),
        K::OneOfNotValid { .. } | K::AnyOf { .. } => {
            "make the value match one of the forms the schema allows".to_string()
        }
        _ => "make the record conform to the WCMP2 schema".to_string(),
    };
    Finding::new(
        e.instance_path().as_str(),
        format!("{e} (schema rule {})", e.schema_path()),
    )
    .with_fix(fix)
}

/// An MQTT link of the record.
struct MqttLink<'a> {
    index: usize,
    channel: Option<&'a str>,
}

/// What several tests need, computed once.
struct Ctx<'a> {
    rec: &'a Value,
    props: Option<&'a Map<String, Value>>,
    /// The centre-id of the record id, when the id has the WCMP2 form.
    centre_id: Option<&'a str>,
    mqtt: Vec<MqttLink<'a>>,
}

const ID_PREFIX: &str = "urn:wmo:md:";

fn is_mqtt_href(href: &str, has_channel: bool) -> bool {
    let scheme = href.split_once("://").map(|(s, _)| s).unwrap_or("");
    scheme.eq_ignore_ascii_case("mqtt")
        || scheme.eq_ignore_ascii_case("mqtts")
        || (has_channel
            && (scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss")))
}

fn mqtt_links(record: &Value) -> Vec<MqttLink<'_>> {
    let mut out = Vec::new();
    if let Some(links) = record.get("links").and_then(Value::as_array) {
        for (index, l) in links.iter().enumerate() {
            let href = l.get("href").and_then(Value::as_str).unwrap_or("");
            let channel = l.get("channel").and_then(Value::as_str);
            if is_mqtt_href(href, channel.is_some()) {
                out.push(MqttLink { index, channel });
            }
        }
    }
    out
}

impl<'a> Ctx<'a> {
    fn new(rec: &'a Value) -> Self {
        let centre_id = rec
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.strip_prefix(ID_PREFIX))
            .and_then(|rest| rest.split_once(':'))
            .map(|(c, _)| c)
            .filter(|c| !c.is_empty());
        Ctx {
            rec,
            props: rec.get("properties").and_then(Value::as_object),
            centre_id,
            mqtt: mqtt_links(rec),
        }
    }

    fn prop(&self, name: &str) -> Option<&'a Value> {
        self.props.and_then(|p| p.get(name))
    }

    fn prop_str(&self, name: &str) -> Option<&'a str> {
        self.prop(name).and_then(Value::as_str)
    }

    /// Channels of MQTT links that are WIS2 topics (`origin/...`, `cache/...`).
    fn wis2_channels(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        self.mqtt
            .iter()
            .filter_map(|l| l.channel.filter(|c| is_wis2_topic(c)).map(|c| (l.index, c)))
    }
}

fn is_wis2_topic(c: &str) -> bool {
    c.starts_with("origin/") || c.starts_with("cache/") || c.contains("/wis2/")
}

/// The channels of the record's MQTT links (`href` `mqtt://`/`mqtts://`, or
/// `ws://`/`wss://` with a `channel`), in link order.
pub fn mqtt_channels(record: &Value) -> Vec<String> {
    mqtt_links(record)
        .into_iter()
        .filter_map(|l| l.channel.map(str::to_string))
        .collect()
}

/// The record's time: `properties.updated`, else `properties.created` (RFC 3339).
pub fn record_time(record: &Value) -> Option<DateTime<Utc>> {
    let props = record.get("properties")?;
    ["updated", "created"].iter().find_map(|k| {
        props
            .get(*k)
            .and_then(Value::as_str)
            .and_then(temporal::parse_rfc3339)
    })
}

fn missing_props() -> Finding {
    Finding::new("/properties", "the record has no `properties` object")
        .with_fix("add `properties` with type, title, description, contacts, created, themes")
}

fn allowed(values: &[String]) -> String {
    values.join(", ")
}

impl Wcmp2Checker {
    fn identifier(&self, cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
        let shape =
            "urn:wmo:md:<centre-id>:<local-id>, e.g. urn:wmo:md:fr-ifremer-argo:cor:msg:argo";
        let id = match cx.rec.get("id") {
            None => {
                return vec![
                    Finding::new("/id", "the record has no `id`")
                        .with_fix(format!("add an id {shape}")),
                ];
            }
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return vec![
                    Finding::new("/id", format!("id {other} is not a string"))
                        .with_fix(format!("write the id as a string {shape}")),
                ];
            }
        };
        let mut out = Vec::new();
        let Some(rest) = id.strip_prefix(ID_PREFIX) else {
            let fix = match id.strip_prefix("urn:x-wmo:md:") {
                Some(r) => format!("WCMP2 dropped the x- of WCMP1: write urn:wmo:md:{r}"),
                None => format!("write {shape}"),
            };
            return vec![
                Finding::new("/id", format!("id {id:?} does not start with {ID_PREFIX}"))
                    .with_fix(fix),
            ];
        };
        let (centre, local) = rest.split_once(':').unwrap_or((rest, ""));
        if centre.is_empty() || local.is_empty() {
            return vec![
                Finding::new(
                    "/id",
                    format!("id {id:?} needs a centre-id and a local identifier after {ID_PREFIX}"),
                )
                .with_fix(format!("write {shape}")),
            ];
        }
        if id.chars().any(char::is_whitespace) {
            out.push(
                Finding::new("/id", format!("id {id:?} contains spaces"))
                    .with_fix("replace spaces with - or ."),
            );
        }
        if !id.is_ascii() {
            out.push(
                Finding::new(
                    "/id",
                    format!("id {id:?} has non-ASCII (accented) characters"),
                )
                .with_fix("use ASCII letters, digits, - . _ and : only"),
            );
        }
        let syntax_ok = centre
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !centre.starts_with('-')
            && !centre.ends_with('-');
        if !syntax_ok {
            out.push(
                Finding::new(
                    "/id",
                    format!("centre-id {centre:?} of the id is not a WTH centre-id (lowercase letters, digits and -)"),
                )
                .with_fix(format!(
                    "write your registered centre-id, e.g. {}",
                    centre.to_ascii_lowercase()
                )),
            );
        } else if let Some(tables) = &self.tables
            && !centre.ends_with("-test")
        {
            match tables.centre_status(centre) {
                None => out.push(
                    Finding::new(
                        "/id",
                        format!("centre-id {centre:?} of the id is not registered in the WTH centre-id table"),
                    )
                    .with_fix("use the centre-id WMO registered for your centre (centre-id.csv of the WTH bundle), or register it; test centres end with -test"),
                ),
                Some(s) if s.eq_ignore_ascii_case("retired") => warnings.push(
                    Finding::new("/id", format!("centre-id {centre:?} is retired in the WTH centre-id table"))
                        .with_fix("publish under the centre-id that replaced it"),
                ),
                Some(_) => {}
            }
        }
        for (i, ch) in cx.wis2_channels() {
            if let Some(tc) = topic::centre_id(ch)
                && tc != centre
            {
                out.push(
                    Finding::new(
                        "/id",
                        format!("centre-id {centre:?} of the id differs from centre-id {tc:?} of /links/{i}/channel {ch:?}"),
                    )
                    .with_fix("the Global Discovery Catalogue requires the record id's centre-id to be the topic's: use one centre-id in both"),
                );
            }
        }
        out
    }

    fn resource_type(&self, cx: &Ctx<'_>) -> Vec<Finding> {
        let types = &self.codelists.resource_types;
        let fix = format!("use one of {}", allowed(types));
        if cx.props.is_none() {
            return vec![missing_props()];
        }
        match cx.prop("type") {
            None => {
                vec![Finding::new("/properties/type", "properties.type is missing").with_fix(fix)]
            }
            Some(Value::String(t)) if types.iter().any(|x| x == t) => Vec::new(),
            Some(other) => vec![
                Finding::new(
                    "/properties/type",
                    format!("{other} is not in the WCMP2 resource-type code list"),
                )
                .with_fix(fix),
            ],
        }
    }

    fn disciplines(&self) -> Vec<&str> {
        match &self.tables {
            Some(t) => t.disciplines().collect(),
            None => topic::DISCIPLINES.to_vec(),
        }
    }

    fn themes(&self, cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
        let esd_fix = "add {\"scheme\": \"https://codes.wmo.int/wis/topic-hierarchy/earth-system-discipline\", \"concepts\": [{\"id\": \"<discipline>\"}]} with the WTH level-7 discipline(s) of the data";
        let Some(props) = cx.props else {
            return vec![missing_props()];
        };
        let themes = match props.get("themes") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) | None => {
                return vec![
                    Finding::new(
                        "/properties/themes",
                        "properties.themes needs at least one theme",
                    )
                    .with_fix(esd_fix),
                ];
            }
            Some(_) => {
                return vec![
                    Finding::new("/properties/themes", "properties.themes must be an array")
                        .with_fix(esd_fix),
                ];
            }
        };
        let disciplines = self.disciplines();
        let mut out = Vec::new();
        let mut esd_found = false;
        let mut esd_concepts: Vec<&str> = Vec::new();
        for (i, t) in themes.iter().enumerate() {
            let tpath = format!("/properties/themes/{i}");
            let concepts = match t.get("concepts").and_then(Value::as_array) {
                Some(c) if !c.is_empty() => c,
                _ => {
                    out.push(
                        Finding::new(&tpath, "theme has no concepts: at least one is required")
                            .with_fix("add \"concepts\": [{\"id\": \"...\"}]"),
                    );
                    continue;
                }
            };
            let Some(scheme) = t.get("scheme").and_then(Value::as_str) else {
                out.push(
                    Finding::new(&tpath, "theme has no scheme").with_fix(
                        "add \"scheme\": the URI of the vocabulary its concepts come from",
                    ),
                );
                continue;
            };
            let mut ids = Vec::with_capacity(concepts.len());
            for (j, c) in concepts.iter().enumerate() {
                match c.get("id").and_then(Value::as_str) {
                    Some(id) if !id.trim().is_empty() => ids.push((j, id)),
                    _ => out.push(
                        Finding::new(format!("{tpath}/concepts/{j}"), "concept has no id")
                            .with_fix("add \"id\": the concept's identifier in the scheme"),
                    ),
                }
            }
            let Some(pos) = scheme.find("earth-system-discipline") else {
                continue;
            };
            esd_found = true;
            let after = &scheme[pos + "earth-system-discipline".len()..];
            let after = after.trim_end_matches(".csv").trim_matches('/');
            if after.is_empty() {
                for (j, id) in ids {
                    esd_concepts.push(id);
                    if !disciplines.contains(&id) {
                        out.push(
                            Finding::new(
                                format!("{tpath}/concepts/{j}/id"),
                                format!("{id:?} is not a WTH earth-system discipline"),
                            )
                            .with_fix(format!("use one of {}", disciplines.join(", "))),
                        );
                    }
                }
            } else {
                // A scheme scoped to a WTH path: .../earth-system-discipline/ocean/...
                let path = after;
                let known = match &self.tables {
                    Some(tb) => tb.has_path(path),
                    None => path
                        .split('/')
                        .next()
                        .is_some_and(|d| disciplines.contains(&d)),
                };
                if let Some(d) = path.split('/').next() {
                    esd_concepts.push(d);
                }
                if !known {
                    out.push(
                        Finding::new(
                            format!("{tpath}/scheme"),
                            format!("{path:?} in scheme {scheme:?} is not a WTH earth-system-discipline path"),
                        )
                        .with_fix("name a path of earth-system-discipline.csv, e.g. .../earth-system-discipline/ocean/surface-based-observations/drifting-ocean-profilers"),
                    );
                    continue;
                }
                let last = path.rsplit('/').next().unwrap_or(path);
                for (j, id) in ids {
                    let ok = id == last
                        || match &self.tables {
                            Some(tb) => tb.has_path(&format!("{path}/{id}")),
                            None => true,
                        };
                    if !ok {
                        out.push(
                            Finding::new(
                                format!("{tpath}/concepts/{j}/id"),
                                format!("{id:?} is neither {last:?} nor a sub-level of {path:?} in the WTH"),
                            )
                            .with_fix(format!("use {last:?} or a sub-level listed under {path} in earth-system-discipline.csv")),
                        );
                    }
                }
            }
        }
        if !esd_found {
            out.push(
                Finding::new(
                    "/properties/themes",
                    "no theme uses the WTH earth-system-discipline scheme",
                )
                .with_fix(esd_fix),
            );
        }
        if esd_found {
            for (i, ch) in cx.wis2_channels() {
                if let Some(d) = ch.split('/').nth(6)
                    && !esd_concepts.contains(&d)
                {
                    warnings.push(
                        Finding::new(
                            "/properties/themes",
                            format!("discipline {d:?} of /links/{i}/channel is not among the earth-system-discipline concepts"),
                        )
                        .with_fix(format!("add {{\"id\": \"{d}\"}} to the earth-system-discipline theme")),
                    );
                }
            }
        }
        out
    }

    fn global_service(&self, cx: &Ctx<'_>) -> Vec<Finding> {
        let Some(props) = cx.props else {
            return vec![missing_props()];
        };
        let themes: &[Value] = props
            .get("themes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let scheme_last = |t: &Value| -> Option<String> {
            let s = t.get("scheme").and_then(Value::as_str)?;
            let s = s.trim_end_matches('/').trim_end_matches(".csv");
            Some(s.rsplit('/').next().unwrap_or(s).to_string())
        };
        let gs_theme = themes.iter().enumerate().find(|(_, t)| {
            scheme_last(t).is_some_and(|l| {
                matches!(
                    l.as_str(),
                    "service-type"
                        | "service-types"
                        | "global-service-type"
                        | "global-service-types"
                )
            })
        });
        let rtype = cx.prop_str("type");
        let types = &self.codelists.global_service_types;
        let Some((i, theme)) = gs_theme else {
            // Not declared as a Global Service; a Global Service centre must declare it.
            if rtype == Some("service")
                && let Some(c) = cx.centre_id
                && let Some(t) = types.iter().find(|t| c.ends_with(t.as_str()))
            {
                return vec![
                    Finding::new("/properties/themes", format!("the record of Global Service centre {c:?} has no global-service-type theme"))
                        .with_fix(format!("add {{\"scheme\": \"https://codes.wmo.int/wis/global-service-type\", \"concepts\": [{{\"id\": \"{t}\"}}]}}")),
                ];
            }
            return Vec::new();
        };
        let tpath = format!("/properties/themes/{i}");
        let mut out = Vec::new();
        if rtype != Some("service") {
            out.push(
                Finding::new("/properties/type", "a record with a global-service-type theme must have properties.type \"service\"")
                    .with_fix("set properties.type to \"service\", or remove the global-service-type theme"),
            );
        }
        let concepts: Vec<&str> = theme
            .get("concepts")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.get("id").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if concepts.len() != 1 {
            out.push(
                Finding::new(
                    format!("{tpath}/concepts"),
                    format!(
                        "the global-service-type theme needs exactly one concept, found {}",
                        concepts.len()
                    ),
                )
                .with_fix(format!("keep one of {}", allowed(types))),
            );
        }
        for (j, c) in concepts.iter().enumerate() {
            if !types.iter().any(|t| t == c) {
                out.push(
                    Finding::new(
                        format!("{tpath}/concepts/{j}/id"),
                        format!("{c:?} is not in the global-service-type code list"),
                    )
                    .with_fix(format!("use one of {}", allowed(types))),
                );
            }
        }
        let disciplines = self.disciplines();
        let esd: Option<Vec<&str>> = themes
            .iter()
            .find(|t| {
                t.get("scheme").and_then(Value::as_str).is_some_and(|s| {
                    s.trim_end_matches('/')
                        .trim_end_matches(".csv")
                        .ends_with("earth-system-discipline")
                })
            })
            .map(|t| {
                t.get("concepts")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(|c| c.get("id").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default()
            });
        match esd {
            None => out.push(
                Finding::new("/properties/themes", "a Global Service record needs an earth-system-discipline theme listing every discipline")
                    .with_fix(format!("add {{\"scheme\": \"https://codes.wmo.int/wis/topic-hierarchy/earth-system-discipline\", \"concepts\": [...]}} with {}", disciplines.join(", "))),
            ),
            Some(ids) => {
                let missing: Vec<&str> = disciplines.iter().copied().filter(|d| !ids.contains(d)).collect();
                if !missing.is_empty() {
                    out.push(
                        Finding::new("/properties/themes", format!("a Global Service serves every discipline: the earth-system-discipline theme lacks {}", missing.join(", ")))
                            .with_fix(format!("add the concepts {}", missing.join(", "))),
                    );
                }
            }
        }
        out
    }

    fn contacts(&self, cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
        let roles_fix = format!("use roles from {}", allowed(&self.codelists.contact_roles));
        let Some(props) = cx.props else {
            return vec![missing_props()];
        };
        let contacts = match props.get("contacts").and_then(Value::as_array) {
            Some(c) if !c.is_empty() => c,
            _ => {
                return vec![
                    Finding::new("/properties/contacts", "properties.contacts needs at least one contact")
                        .with_fix("add {\"organization\": \"...\", \"roles\": [\"host\"], ...} for the centre hosting the data"),
                ];
            }
        };
        let mut out = Vec::new();
        let mut hosts = 0;
        for (i, c) in contacts.iter().enumerate() {
            let path = format!("/properties/contacts/{i}");
            if c.get("organization")
                .and_then(Value::as_str)
                .is_none_or(|o| o.trim().is_empty())
            {
                out.push(
                    Finding::new(&path, "contact has no organization")
                        .with_fix("add \"organization\": the name of the organization"),
                );
            }
            match c.get("roles").and_then(Value::as_array) {
                Some(roles) if !roles.is_empty() => {
                    for (j, r) in roles.iter().enumerate() {
                        match r.as_str() {
                            Some(r) if self.codelists.contact_roles.iter().any(|x| x == r) => {
                                if r == "host" {
                                    hosts += 1;
                                }
                            }
                            _ => out.push(
                                Finding::new(
                                    format!("{path}/roles/{j}"),
                                    format!("role {r} is not in the WCMP2 contact-role code list"),
                                )
                                .with_fix(roles_fix.clone()),
                            ),
                        }
                    }
                }
                _ => out.push(
                    Finding::new(&path, "contact has no roles")
                        .with_fix(format!("add \"roles\": [...]; {roles_fix}")),
                ),
            }
        }
        if hosts == 0 {
            out.push(
                Finding::new("/properties/contacts", "no contact has the role host")
                    .with_fix("add \"host\" to the roles of the organization providing the data"),
            );
        } else if hosts > 1 {
            warnings.push(
                Finding::new(
                    "/properties/contacts",
                    format!("{hosts} contacts have the role host"),
                )
                .with_fix("keep a single host, listed last"),
            );
        }
        out
    }

    fn links(&self, cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
        let links = match cx.rec.get("links").and_then(Value::as_array) {
            Some(l) if !l.is_empty() => l,
            _ => {
                return vec![
                    Finding::new("/links", "the record needs at least one link")
                        .with_fix("add links: the data access (https), the MQTT subscription (mqtts with channel), the licence"),
                ];
            }
        };
        let mut out = Vec::new();
        for (i, l) in links.iter().enumerate() {
            let path = format!("/links/{i}");
            let Some(obj) = l.as_object() else {
                out.push(
                    Finding::new(&path, "link must be an object")
                        .with_fix("write {\"href\": ..., \"rel\": ...}"),
                );
                continue;
            };
            let href = obj.get("href").and_then(Value::as_str).unwrap_or("");
            if href.trim().is_empty() {
                out.push(
                    Finding::new(format!("{path}/href"), "link has no href")
                        .with_fix("add \"href\": the address of the resource"),
                );
            }
            match obj.get("rel").and_then(Value::as_str) {
                None => out.push(
                    Finding::new(format!("{path}/rel"), "link has no rel")
                        .with_fix("add \"rel\": an IANA link relation or a WCMP2 link type (items, data, ...)"),
                ),
                Some(rel) if !self.codelists.is_link_relation(rel) => out.push(
                    Finding::new(format!("{path}/rel"), format!("rel {rel:?} is neither an IANA link relation nor a WCMP2 link type"))
                        .with_fix(format!("use an IANA link relation (about, license, describedby, ...) or one of {}", allowed(&self.codelists.link_types))),
                ),
                Some(_) => {}
            }
            let channel = obj.get("channel");
            let scheme = href
                .split_once("://")
                .map(|(s, _)| s.to_ascii_lowercase())
                .unwrap_or_default();
            if scheme.starts_with("mqtt") && channel.is_none() {
                out.push(
                    Finding::new(path.clone(), "MQTT link has no channel")
                        .with_fix("add \"channel\": the WIS2 topic to subscribe to, e.g. origin/a/wis2/<centre-id>/data/core/..."),
                );
            }
            if let Some(ch) = channel {
                let cpath = format!("{path}/channel");
                match ch.as_str() {
                    Some(ch) if is_wis2_topic(ch) => {
                        for f in topic::check(ch, self.tables.as_ref(), Mode::Publish) {
                            let mut g = Finding::new(&cpath, format!("channel {ch:?}: {}: {}", f.path, f.message));
                            g.fix = f.fix;
                            // A channel is what users subscribe to: a parent of the
                            // data topics (level 7) is legal but receives nothing on an
                            // exact subscription, so it is a warning, as in pywcmp.
                            if f.message.contains("level 8 or deeper") {
                                warnings.push(g);
                            } else {
                                out.push(g);
                            }
                        }
                    }
                    Some(ch) => warnings.push(
                        Finding::new(&cpath, format!("channel {ch:?} is not a WIS2 topic: Global Brokers will not relay it"))
                            .with_fix("use a WIS2 topic origin/a/wis2/<centre-id>/data/<policy>/<discipline>/..."),
                    ),
                    None => out.push(Finding::new(&cpath, "channel must be a string").with_fix("write the topic as a string")),
                }
            }
            if let Some(sec) = obj.get("security") {
                match sec.as_object() {
                    Some(m) => {
                        for (k, v) in m {
                            if v.get("description")
                                .and_then(Value::as_str)
                                .is_none_or(|d| d.trim().is_empty())
                            {
                                out.push(
                                    Finding::new(
                                        format!("{path}/security/{k}"),
                                        format!("security scheme {k:?} has no description"),
                                    )
                                    .with_fix("add \"description\": how a user obtains access"),
                                );
                            }
                        }
                    }
                    None => out.push(
                        Finding::new(format!("{path}/security"), "security must be an object")
                            .with_fix("write {\"<name>\": {\"type\": ..., \"description\": ...}}"),
                    ),
                }
            }
        }
        let is_dataset = cx.prop_str("type") == Some("dataset");
        if is_dataset && !cx.mqtt.iter().any(|l| l.channel.is_some()) {
            let f = Finding::new("/links", "the dataset has no MQTT link with a channel: Global Brokers can not tie its notifications to this record")
                .with_fix("add {\"rel\": \"items\", \"href\": \"mqtts://<broker>\", \"channel\": \"origin/a/wis2/<centre-id>/data/<policy>/...\", \"type\": \"application/geo+json\"}");
            if self.require_mqtt_link {
                out.push(f);
            } else {
                warnings.push(f);
            }
        }
        out
    }
}

fn conformance(cx: &Ctx<'_>) -> Vec<Finding> {
    let fix = format!("add \"conformsTo\": [\"{WCMP2_CONFORMANCE}\"]");
    match cx.rec.get("conformsTo").and_then(Value::as_array) {
        Some(a) if a.iter().any(|c| c.as_str() == Some(WCMP2_CONFORMANCE)) => Vec::new(),
        Some(_) => vec![
            Finding::new(
                "/conformsTo",
                format!("conformsTo does not contain {WCMP2_CONFORMANCE}"),
            )
            .with_fix(fix),
        ],
        None => {
            vec![Finding::new("/conformsTo", "conformsTo is missing or not an array").with_fix(fix)]
        }
    }
}

fn extent_geospatial(cx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match cx.rec.get("geometry") {
        None => out.push(
            Finding::new("/geometry", "the record has no geometry")
                .with_fix("add \"geometry\": a GeoJSON Polygon of the data's extent, or null when it has none"),
        ),
        Some(Value::Null) => {}
        Some(g) => geo::check_geometry(g, "/geometry", &mut out),
    }
    if let Some(b) = cx.rec.get("bbox") {
        geo::check_bbox(b, "/bbox", &mut out);
    }
    out
}

fn extent_temporal(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    use temporal::TimePoint;
    let mut out = Vec::new();
    let time = match cx.rec.get("time") {
        None => {
            return vec![
                Finding::new("/time", "the record has no time member")
                    .with_fix("add \"time\": {\"interval\": [\"<start>\", \"..\"]}, or null when the data has no temporal extent"),
            ];
        }
        Some(Value::Null) => return out,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return vec![
                Finding::new("/time", format!("time {other} must be an object or null"))
                    .with_fix("write {\"interval\": [start, end]}, {\"date\": \"YYYY-MM-DD\"} or {\"timestamp\": \"...Z\"}"),
            ];
        }
    };
    if let Some(d) = time.get("date")
        && d.as_str().and_then(temporal::parse_date).is_none()
    {
        out.push(
            Finding::new(
                "/time/date",
                format!("date {d} is not a calendar date YYYY-MM-DD"),
            )
            .with_fix("write e.g. 2024-01-31"),
        );
    }
    if let Some(t) = time.get("timestamp") {
        let ok = t.as_str().is_some_and(|s| {
            (s.ends_with('Z') || s.ends_with('z')) && temporal::parse_rfc3339(s).is_some()
        });
        if !ok {
            out.push(
                Finding::new(
                    "/time/timestamp",
                    format!("timestamp {t} is not an RFC 3339 UTC date-time"),
                )
                .with_fix("write e.g. 2024-01-31T12:00:00Z"),
            );
        }
    }
    if let Some(iv) = time.get("interval") {
        let fix_shape = "write [start, end]: each YYYY, YYYY-MM, YYYY-MM-DD or an RFC 3339 UTC timestamp, and .. (or null) for an open end";
        match iv.as_array() {
            Some(a) if a.len() == 2 => {
                let mut ends = [TimePoint::Open; 2];
                for (i, v) in a.iter().enumerate() {
                    let p = format!("/time/interval/{i}");
                    match v {
                        Value::Null => {}
                        Value::String(s) => match temporal::parse_time_point(s) {
                            Ok(t) => ends[i] = t,
                            Err((msg, fix)) => out.push(Finding::new(p, msg).with_fix(fix)),
                        },
                        other => out.push(
                            Finding::new(p, format!("{other} is not a time")).with_fix(fix_shape),
                        ),
                    }
                }
                match ends {
                    [TimePoint::At(s), TimePoint::At(e)] if s > e => out.push(
                        Finding::new("/time/interval", format!("interval starts ({}) after it ends ({})", a[0], a[1]))
                            .with_fix("put the start first; write .. for an open end"),
                    ),
                    [TimePoint::Open, TimePoint::Open] if out.is_empty() => warnings.push(
                        Finding::new("/time/interval", "both ends of the interval are open")
                            .with_fix("give at least the start of the data, e.g. [\"1997-01-01\", \"..\"]"),
                    ),
                    _ => {}
                }
            }
            Some(a) => out.push(
                Finding::new(
                    "/time/interval",
                    format!("interval has {} items, it needs exactly 2", a.len()),
                )
                .with_fix(fix_shape),
            ),
            None => out.push(
                Finding::new("/time/interval", "interval must be an array").with_fix(fix_shape),
            ),
        }
    }
    if let Some(r) = time.get("resolution") {
        match r.as_str() {
            Some(s) => match temporal::parse_duration(s) {
                Ok(d) if d.negative => out.push(
                    Finding::new("/time/resolution", format!("resolution {s} is negative"))
                        .with_fix(format!("write {}", &s[1..])),
                ),
                Ok(d) if d.is_zero() => warnings.push(
                    Finding::new("/time/resolution", format!("resolution {s} is zero"))
                        .with_fix("give the smallest time step of the data, e.g. PT1H, or leave resolution out"),
                ),
                Ok(_) => {}
                Err(e) => out.push(Finding::new("/time/resolution", e.message).with_fix(e.fix)),
            },
            None => out.push(Finding::new("/time/resolution", format!("resolution {r} is not a string")).with_fix("write an ISO 8601 duration such as PT1H")),
        }
    }
    out
}

fn text_property(cx: &Ctx<'_>, name: &str) -> Vec<Finding> {
    if cx.props.is_none() {
        return vec![missing_props()];
    }
    let path = format!("/properties/{name}");
    match cx.prop(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Vec::new(),
        Some(Value::String(_)) => vec![
            Finding::new(path, format!("properties.{name} is empty"))
                .with_fix(format!("write a meaningful {name}")),
        ],
        Some(other) => vec![
            Finding::new(path, format!("properties.{name} {other} is not a string"))
                .with_fix(format!("write the {name} as a string")),
        ],
        None => vec![
            Finding::new(path, format!("properties.{name} is missing"))
                .with_fix(format!("add a human-readable {name}")),
        ],
    }
}

fn description(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    let out = text_property(cx, "description");
    if out.is_empty()
        && cx.prop_str("description").map(str::trim) == cx.prop_str("title").map(str::trim)
    {
        warnings.push(
            Finding::new("/properties/description", "description repeats the title")
                .with_fix("describe the data: what, where, when, how it is produced"),
        );
    }
    out
}

fn record_created(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    if cx.props.is_none() {
        return vec![missing_props()];
    }
    let fix = "write an RFC 3339 UTC date-time such as 2025-08-20T14:00:00Z";
    let mut out = Vec::new();
    let parse = |name: &str,
                 out: &mut Vec<Finding>,
                 warnings: &mut Vec<Finding>|
     -> Option<DateTime<Utc>> {
        let path = format!("/properties/{name}");
        let v = cx.prop(name)?;
        let Some(s) = v.as_str() else {
            out.push(
                Finding::new(path, format!("properties.{name} {v} is not a string")).with_fix(fix),
            );
            return None;
        };
        match temporal::parse_rfc3339(s) {
            Some(t) => {
                if !(s.ends_with('Z') || s.ends_with('z')) {
                    warnings.push(
                        Finding::new(&path, format!("properties.{name} {s:?} is not in UTC"))
                            .with_fix(fix),
                    );
                }
                if t > Utc::now() + chrono::Duration::days(1) {
                    warnings.push(
                        Finding::new(&path, format!("properties.{name} {s:?} is in the future"))
                            .with_fix("use the time the record was really created or changed"),
                    );
                }
                Some(t)
            }
            None => {
                out.push(
                    Finding::new(
                        path,
                        format!("properties.{name} {s:?} is not an RFC 3339 date-time"),
                    )
                    .with_fix(fix),
                );
                None
            }
        }
    };
    if cx.prop("created").is_none() {
        out.push(
            Finding::new("/properties/created", "properties.created is missing").with_fix(fix),
        );
    }
    let created = parse("created", &mut out, warnings);
    let updated = parse("updated", &mut out, warnings);
    if let (Some(c), Some(u)) = (created, updated)
        && u < c
    {
        out.push(
            Finding::new(
                "/properties/updated",
                format!("properties.updated ({u}) is before properties.created ({c})"),
            )
            .with_fix("set updated to the time of the last change, not before created"),
        );
    }
    out
}

fn data_policy(cx: &Ctx<'_>) -> Vec<Finding> {
    let Some(props) = cx.props else {
        return vec![missing_props()];
    };
    let path = "/properties/wmo:dataPolicy";
    let fix = "set \"wmo:dataPolicy\" to \"core\" or \"recommended\" (WMO Unified Data Policy)";
    let mut out = Vec::new();
    let policy = match props.get("wmo:dataPolicy") {
        None => {
            if cx.prop_str("type") == Some("dataset") {
                out.push(
                    Finding::new(path, "a dataset needs properties.wmo:dataPolicy").with_fix(fix),
                );
            }
            None
        }
        Some(Value::String(p)) if topic::DATA_POLICIES.contains(&p.as_str()) => Some(p.as_str()),
        Some(other) => {
            out.push(
                Finding::new(
                    path,
                    format!("data policy {other} is neither core nor recommended"),
                )
                .with_fix(fix),
            );
            None
        }
    };
    if policy == Some("recommended") {
        let has_licence = cx
            .rec
            .get("links")
            .and_then(Value::as_array)
            .is_some_and(|ls| {
                ls.iter()
                    .any(|l| l.get("rel").and_then(Value::as_str) == Some("license"))
            });
        if !has_licence {
            out.push(
                Finding::new("/links", "recommended data needs a link with rel license stating the conditions of use")
                    .with_fix("add {\"rel\": \"license\", \"href\": \"https://...\", \"type\": \"text/html\", \"title\": \"...\"}"),
            );
        }
    }
    if let Some(p) = policy {
        for (i, ch) in cx.wis2_channels() {
            if topic::notification_type(ch) != Some("data") {
                continue;
            }
            if let Some(tp) = topic::data_policy(ch)
                && tp != p
                && topic::DATA_POLICIES.contains(&tp)
            {
                out.push(
                    Finding::new(path, format!("data policy {p:?} differs from level 6 {tp:?} of /links/{i}/channel {ch:?}"))
                        .with_fix(format!("publish {p} data on a .../data/{p}/... topic, or set wmo:dataPolicy to {tp:?}")),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Wcmp2Checker>();
    }

    #[test]
    fn ids_are_pywcmp_shaped() {
        assert_eq!(test_id::ALL.len(), 14);
        assert_eq!(
            test_id::RECORD_CREATED_DATETIME,
            "http://wis.wmo.int/spec/wcmp/2/conf/core/record_created_datetime"
        );
    }

    #[test]
    fn refs_through_refs_are_repaired() {
        let mut s = serde_json::json!({
            "properties": {"links": {"items": {"$ref": "#/definitions/Link"}},
                           "x": {"$ref": "#/properties/links/items/properties/d"}},
            "definitions": {"Link": {"properties": {"d": {"type": "string"}}}}
        });
        assert_eq!(repair_refs(&mut s), Ok(1));
        assert_eq!(
            s["properties"]["x"]["$ref"],
            "#/definitions/Link/properties/d"
        );
        let mut bad = serde_json::json!({"properties": {"x": {"$ref": "#/nowhere"}}});
        assert!(repair_refs(&mut bad).is_err());
    }

    #[test]
    fn not_json() {
        let r = Wcmp2Checker::builtin().check_record(b"{");
        assert_eq!(r.failed_ids(), vec![test_id::VALIDATION]);
    }
}
