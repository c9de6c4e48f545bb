//! # wis2-validate: the last gate before the world sees a message
//!
//! The service checks every message from `wis2-create` against the WNM abstract test
//! suite, the authoritative schema (when available) and the WIS2 Topic Hierarchy;
//! valid messages go on to `wis2-publish`, invalid ones go to the rejected topic with
//! the full report (and to the dead letters). The one-shot commands live in
//! [`oneshot`] and [`metadata_cmd`].

pub mod metadata_cmd;
pub mod oneshot;
pub mod verify;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::Args;
use wis2::message::Keys;
use wis2::report::{Finding, Report};
use wis2::validate::Validator;
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};
use wis2_bus::envelope::{Envelope, Rejection};
use wis2_bus::{BrokerArgs, Bus, Delivery, Failure, Handler, Output, StageConfig};

/// Settings of the `run` service.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub runtime: wis2_bus::RuntimeArgs,
    #[command(flatten)]
    pub standards: oneshot::StandardsArgs,
    /// Topic the built messages arrive on.
    #[arg(long = "created-topic", env = "WIS2_CREATED_TOPIC", default_value = wis2_bus::topics::CREATED)]
    pub created_topic: String,
    /// Topic valid messages go to.
    #[arg(long = "validated-topic", env = "WIS2_VALIDATED_TOPIC", default_value = wis2_bus::topics::VALIDATED)]
    pub validated_topic: String,
    /// Topic invalid messages go to, with their report.
    #[arg(long = "rejected-topic", env = "WIS2_REJECTED_TOPIC", default_value = wis2_bus::topics::REJECTED)]
    pub rejected_topic: String,
    /// Dead-letter topic.
    #[arg(long = "deadletter-topic", env = "WIS2_DEADLETTER_TOPIC", default_value = wis2_bus::topics::DEADLETTER)]
    pub deadletter_topic: String,
    /// Folder where dead letters are also written.
    #[arg(long = "deadletter-dir", env = "WIS2_DEADLETTER_DIR")]
    pub deadletter_dir: Option<PathBuf>,
    /// Messages checked at once.
    #[arg(long = "concurrency", env = "WIS2_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
    /// Bundled WCMP2 JSON Schema for the records of metadata messages (default: the
    /// copy cached by `metadata sync`, else built-in rules only).
    #[arg(long = "wcmp2-schema", env = "WIS2_WCMP2_SCHEMA")]
    pub wcmp2_schema: Option<PathBuf>,
    /// Directory of the WCMP2 code list CSVs (default: cached, else built-in).
    #[arg(long = "wcmp2-codelists", env = "WIS2_WCMP2_CODELISTS")]
    pub wcmp2_codelists: Option<PathBuf>,
    /// Folder of the centre's WCMP2 records: their MQTT link channels announce the
    /// data topics (records published through the chain are added as they pass).
    #[arg(long = "records-dir", env = "WIS2_RECORDS_DIR")]
    pub records_dir: Option<PathBuf>,
    /// Reject (instead of warn about) data messages whose topic no known record
    /// announces; Global Brokers may discard them.
    #[arg(long = "require-metadata", env = "WIS2_REQUIRE_METADATA")]
    pub require_metadata: bool,
    /// Seconds a data_id is remembered: a `canonical` message repeating it with other
    /// data within this window is rejected (it needs `rel=update`); 0 turns it off.
    #[arg(
        long = "unique-window-secs",
        env = "WIS2_UNIQUE_WINDOW_SECS",
        default_value_t = 3600
    )]
    pub unique_window_secs: u64,
    /// Also download each message's data (its canonical/update link) and reject the
    /// message when the link's length or the integrity digest disagrees with it, or
    /// the download fails. Off by default.
    #[arg(long = "verify-data", env = "WIS2_VERIFY_DATA")]
    pub verify_data: bool,
}

/// Test id of the check that a `data_id` sent again as `canonical` carries the same
/// data (a changed file needs `rel=update`).
pub const UNIQUE_TEST_ID: &str = "https://wis2-chain.org/conf/data-id-unique";

/// The `data_id`s seen recently with their integrity, for the uniqueness check.
#[derive(Debug)]
pub struct SeenIds {
    window: std::time::Duration,
    seen: Mutex<std::collections::HashMap<String, (std::time::Instant, Option<String>)>>,
}

impl SeenIds {
    pub fn new(window: std::time::Duration) -> Self {
        SeenIds {
            window,
            seen: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The data_id, rel and integrity of a message (its JSON text).
    fn key(message: &[u8]) -> Option<(String, &'static str, Option<String>)> {
        let k = Keys::parse(message).ok()?;
        Some((
            k.data_id?.into_owned(),
            k.rel?.as_str(),
            k.integrity.map(Cow::into_owned),
        ))
    }

    /// A finding when a `canonical` message repeats a `data_id` seen within the window
    /// with other data. The same data again (a re-send after a lost confirmation) is
    /// fine: `wis2-publish` suppresses it.
    pub fn check(&self, message: &[u8]) -> Option<Finding> {
        if self.window.is_zero() {
            return None;
        }
        let (data_id, rel, integrity) = Self::key(message)?;
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (t, prev) = seen.get(&data_id)?;
        let age = t.elapsed();
        if rel != "canonical" || age >= self.window || *prev == integrity {
            return None;
        }
        Some(
            Finding::new(
                "/properties/data_id",
                format!(
                    "data_id {data_id} was announced with other data {} s ago; a Global Cache drops a known data_id sent again as canonical",
                    age.as_secs()
                ),
            )
            .with_fix("announce changed data with a link rel=update (same data_id, newer pubtime)"),
        )
    }

    /// Remembers a message that went on (called once it is handed to wis2-publish, so
    /// that a rejected message does not block its corrected version).
    pub fn record(&self, message: &[u8]) {
        if self.window.is_zero() {
            return;
        }
        let Some((data_id, _, integrity)) = Self::key(message) else {
            return;
        };
        let now = std::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 200_000 {
            let window = self.window;
            seen.retain(|_, (t, _)| now.duration_since(*t) < window);
        }
        seen.insert(data_id, (now, integrity));
    }
}

/// Test id of the check that a data topic is announced by discovery metadata.
pub const ANNOUNCED_TEST_ID: &str = "https://wis2-chain.org/conf/data-topic-announced";

/// The MQTT channels of the centre's known records.
#[derive(Debug, Default)]
pub struct KnownChannels {
    channels: Mutex<BTreeSet<String>>,
}

impl KnownChannels {
    /// Reads the channels of every record (`*.json`) under `dir`; unreadable or
    /// invalid files are skipped with a warning.
    pub fn load_dir(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "WIS2_RECORDS_DIR cannot be read: no records known at start");
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                self.load_dir(&p);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            {
                Some(v) => self.add(&v),
                None => tracing::warn!(file = %p.display(), "not a JSON record; skipped"),
            }
        }
    }

    /// Adds the channels of a record.
    pub fn add(&self, record: &serde_json::Value) {
        let mut c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.extend(wis2::wcmp2::mqtt_channels(record));
    }

    /// Whether some known channel (an MQTT filter) matches `topic`.
    pub fn announces(&self, topic: &str) -> bool {
        let c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().any(|f| rumqttc::matches(topic, f))
    }

    pub fn is_empty(&self) -> bool {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}

/// The validate stage: one compiled validator shared by all deliveries.
pub struct ValidateStage {
    validator: Validator,
    wcmp2: Wcmp2Checker,
    known: KnownChannels,
    require_metadata: bool,
    seen: SeenIds,
    validated_topic: String,
    rejected_topic: String,
    warnings: RepeatedWarnings,
}

/// The same warning for every message of a stream (a topic no WCMP2 record
/// announces, say) is logged at WARN once per [`RepeatedWarnings::EVERY`], with how
/// many times it came since; in between at DEBUG.
#[derive(Default)]
struct RepeatedWarnings {
    /// Warning text -> (when last logged at WARN, repeats since).
    last: std::sync::Mutex<HashMap<String, (std::time::Instant, u64)>>,
}

impl RepeatedWarnings {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(600);
    /// Texts remembered at most (texts that name a message are all different).
    const MAX: usize = 1024;

    fn log(&self, warning: &str) {
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, repeats)) = last.get_mut(warning)
            && now.duration_since(*at) < Self::EVERY
        {
            *repeats += 1;
            tracing::debug!(warning, "message warning (repeated)");
            return;
        }
        let repeats = last.get(warning).map_or(0, |(_, n)| *n);
        if last.len() >= Self::MAX {
            last.clear();
        }
        last.insert(warning.to_string(), (now, 0));
        drop(last);
        if repeats > 0 {
            tracing::warn!(
                warning,
                repeats,
                "message warning (also on {repeats} messages since it was last logged)"
            );
        } else {
            tracing::warn!(warning, "message warning");
        }
    }
}

impl ValidateStage {
    pub fn new(validator: Validator, validated_topic: String, rejected_topic: String) -> Self {
        ValidateStage {
            validator,
            wcmp2: Wcmp2Checker::builtin(),
            known: KnownChannels::default(),
            require_metadata: false,
            seen: SeenIds::new(std::time::Duration::from_secs(3600)),
            validated_topic,
            rejected_topic,
            warnings: RepeatedWarnings::default(),
        }
    }

    /// Checks records of metadata messages with this checker.
    pub fn with_wcmp2(mut self, checker: Wcmp2Checker) -> Self {
        self.wcmp2 = checker;
        self
    }

    /// Known records and whether an unannounced data topic is an error.
    pub fn with_known(mut self, known: KnownChannels, require: bool) -> Self {
        self.known = known;
        self.require_metadata = require;
        self
    }

    /// Remembers data_ids for `window` (zero: no uniqueness check).
    pub fn with_unique_window(mut self, window: std::time::Duration) -> Self {
        self.seen = SeenIds::new(window);
        self
    }

    /// The full report of an envelope: the WNM suite, the WCMP2 suite on the
    /// record of a metadata message, and the announcement of a data topic.
    pub fn check(&self, env: &Envelope) -> Report {
        let report = self
            .validator
            .check_message(env.message_bytes(), Some(&env.topic));
        let is_metadata = wis2::topic::notification_type(&env.topic) == Some("metadata");
        let r = report.ets_report;
        let mut tests = r.tests;
        let mut warnings = r.warnings;
        if is_metadata {
            match &env.record {
                Some(record) => {
                    let rec = self.wcmp2.check_record(record.get().as_bytes());
                    if rec.is_valid()
                        && let Ok(v) = serde_json::from_str::<serde_json::Value>(record.get())
                    {
                        self.known.add(&v);
                    }
                    tests.extend(rec.ets_report.tests);
                    warnings.extend(rec.ets_report.warnings);
                }
                None => warnings.push(
                    Finding::new(
                        "",
                        "metadata message without its WCMP2 record: the record was not checked",
                    )
                    .with_fix("send metadata through wis2-create, which attaches the record"),
                ),
            }
        } else {
            let announced = self.known.announces(&env.topic);
            let finding = || {
                Finding::new(
                    "topic",
                    format!("no known WCMP2 record announces the topic {} in an MQTT link channel; Global Brokers may discard its messages", env.topic),
                )
                .with_fix("publish the dataset's WCMP2 record (data/metadata/) with a link whose channel is this topic")
            };
            if self.require_metadata {
                let errors = if announced { vec![] } else { vec![finding()] };
                tests.push(wis2::report::TestResult::from_errors(
                    ANNOUNCED_TEST_ID,
                    errors,
                ));
            } else if !announced {
                warnings.push(finding());
            }
        }
        if report_valid_so_far(&tests) {
            let errors: Vec<Finding> = self.seen.check(env.message_bytes()).into_iter().collect();
            tests.push(wis2::report::TestResult::from_errors(
                UNIQUE_TEST_ID,
                errors,
            ));
        }
        Report::new(r.subject, tests, warnings)
    }
}

impl Handler for ValidateStage {
    fn stage(&self) -> &'static str {
        "wis2-validate"
    }

    fn describe(&self, d: &Delivery) -> String {
        match Envelope::parse(&d.payload) {
            Ok(e) => {
                let k = Keys::parse(e.message_bytes()).unwrap_or_default();
                format!(
                    "event_id={} message_id={} data_id={}",
                    e.event_id.as_deref().unwrap_or_default(),
                    k.id.as_deref().unwrap_or_default(),
                    k.data_id.as_deref().unwrap_or_default()
                )
            }
            Err(_) => String::new(),
        }
    }

    fn acknowledged(&self, d: &Delivery) -> Vec<Output> {
        if let Ok(env) = Envelope::parse(&d.payload) {
            self.seen.record(env.message_bytes());
        }
        Vec::new()
    }

    /// Validation only computes: on the async worker (no blocking-pool hand-off).
    fn quick(&self) -> bool {
        true
    }

    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure> {
        let env = Envelope::parse(&d.payload).map_err(|e| Failure::new(e.to_string()))?;
        let report = self.check(&env);
        for w in &report.ets_report.warnings {
            self.warnings.log(&w.to_string());
        }
        if report.is_valid() {
            tracing::info!("message valid");
            return Ok(vec![Output::new(
                self.validated_topic.clone(),
                d.payload.clone(),
            )]);
        }
        let failed = report.failed_ids().join(", ");
        tracing::warn!(failed, report = %report.to_human(), "message rejected");
        let rejection = Rejection {
            topic: env.topic.clone(),
            event_id: env.event_id.clone(),
            path: env.path.clone(),
            report,
            message: env.message,
        };
        Err(
            Failure::new(format!("invalid message: failed {failed}")).with_output(Output::new(
                self.rejected_topic.clone(),
                serde_json::to_vec(&rejection).unwrap_or_default(),
            )),
        )
    }
}

fn report_valid_so_far(tests: &[wis2::report::TestResult]) -> bool {
    tests.iter().all(|t| t.code != wis2::report::Code::Failed)
}

/// Runs the service until `shutdown` completes.
pub async fn run(args: RunArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use anyhow::Context;
    let validator = oneshot::load_validator(&args.standards)?;
    tracing::info!(broker = %args.broker.redacted_url(), schema = validator.has_schema(), "wis2-validate starting");
    let conn = Bus::connect(
        args.broker
            .service_connection("wis2-validate", vec![args.created_topic.clone()])
            .context("invalid broker settings")?,
    );
    let mut cfg = StageConfig::new(args.deadletter_topic.clone());
    cfg.deadletter_dir = args.deadletter_dir.clone();
    cfg.concurrency = args.concurrency.max(1);
    let wth_dir = args.standards.resolve().wth_dir;
    let wcmp2 = Wcmp2Checker::new(&Wcmp2Options {
        schema: args
            .wcmp2_schema
            .clone()
            .or_else(metadata_cmd::cached_wcmp2_schema),
        codelists_dir: args
            .wcmp2_codelists
            .clone()
            .or_else(metadata_cmd::cached_codelists_dir),
        wth_dir,
    })
    .context("cannot set up the WCMP2 checker")?;
    let known = KnownChannels::default();
    if let Some(dir) = &args.records_dir {
        known.load_dir(dir);
    }
    let stage = Arc::new(
        ValidateStage::new(
            validator,
            args.validated_topic.clone(),
            args.rejected_topic.clone(),
        )
        .with_wcmp2(wcmp2)
        .with_known(known, args.require_metadata)
        .with_unique_window(std::time::Duration::from_secs(args.unique_window_secs)),
    );
    if args.verify_data {
        tracing::info!("data verification on: each message's data is downloaded and checked");
        let stage = Arc::new(verify::VerifyingStage::new(
            stage,
            args.rejected_topic.clone(),
        ));
        return wis2_bus::run_stage(conn, stage, cfg, shutdown).await;
    }
    wis2_bus::run_stage(conn, stage, cfg, shutdown).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeated_warning_is_counted_not_logged_again() {
        let w = super::RepeatedWarnings::default();
        for _ in 0..3 {
            w.log("topic x: no record");
        }
        w.log("topic y: no record");
        let last = w.last.lock().unwrap();
        assert_eq!(last.get("topic x: no record").map(|e| e.1), Some(2));
        assert_eq!(last.get("topic y: no record").map(|e| e.1), Some(0));
    }

    use super::*;

    fn msg(data_id: &str, rel: &str, integrity: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "properties": {"data_id": data_id, "integrity": {"method": "sha512", "value": integrity}},
            "links": [{"rel": "via", "href": "https://h/y"}, {"rel": rel, "href": "https://h/x"}]
        }))
        .expect("json")
    }

    #[test]
    fn a_changed_file_sent_again_as_canonical_is_refused_a_resend_is_not() {
        let s = SeenIds::new(std::time::Duration::from_secs(60));
        assert!(s.check(&msg("d", "canonical", "A")).is_none());
        assert!(
            s.check(&msg("d", "canonical", "B")).is_none(),
            "nothing recorded yet: a rejected message does not block its correction"
        );
        s.record(&msg("d", "canonical", "A"));
        assert!(
            s.check(&msg("d", "canonical", "A")).is_none(),
            "a re-send of the same data"
        );
        let f = s
            .check(&msg("d", "canonical", "B"))
            .expect("changed data as canonical");
        assert!(f.to_string().contains("rel=update"), "{f}");
        assert!(s.check(&msg("d", "update", "C")).is_none());
        let off = SeenIds::new(std::time::Duration::ZERO);
        off.record(&msg("d", "canonical", "A"));
        assert!(off.check(&msg("d", "canonical", "B")).is_none());
    }

    #[test]
    fn a_message_without_data_id_or_relation_has_no_key() {
        // The reading itself is wis2::message::Keys's (tested there).
        assert!(
            SeenIds::key(b"{\"links\": [{\"rel\": \"canonical\"}]}").is_none(),
            "no data_id"
        );
        assert!(
            SeenIds::key(br#"{"properties": {"data_id": "d"}, "links": [{"rel": "item"}]}"#)
                .is_none(),
            "no relation"
        );
        assert!(SeenIds::key(b"not json").is_none());
        assert_eq!(
            SeenIds::key(br#"{"properties": {"data_id": "d", "integrity": {"value": "V"}}, "links": [{"rel": "update"}]}"#),
            Some(("d".to_string(), "update", Some("V".to_string())))
        );
    }
}
