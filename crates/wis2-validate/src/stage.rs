//! The validate stage ([`ValidateStage`]): every message from `wis2-create` checked
//! against the WNM abstract test suite, the authoritative schema (when available),
//! the WIS2 Topic Hierarchy, the WCMP2 suite for the record of a metadata message, the
//! announcement of its topic and the uniqueness of its data_id; with
//! `--verify-data`, its data downloaded and checked too ([`VerifyingStage`]).

use std::sync::Arc;

use serde_json::Value;
use wis2::message::Keys;
use wis2::report::{Finding, Report};
use wis2::validate::Validator;
use wis2::wcmp2::Wcmp2Checker;
use wis2_bus::envelope::{Envelope, Rejection};
use wis2_bus::{AfterAck, Delivery, Failure, Output, Stage, Work};

use crate::known::{ANNOUNCED_TEST_ID, KnownChannels};
use crate::seen::{RepeatedWarnings, SeenIds, SeenKey, UNIQUE_TEST_ID};
use crate::verify::{DEFAULT_TIMEOUT, agent, verify_message};

/// A message from `wis2-create`, parsed once.
pub struct Incoming {
    pub env: Envelope,
    /// The envelope as it arrived: passed on to `wis2-publish` with its stamp.
    raw: Vec<u8>,
    /// The message's key for the uniqueness check, when it has one.
    seen_key: Option<SeenKey>,
    /// Its identifiers, for the log span.
    ids: String,
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
        let is_metadata = wis2::topic::Topic::parse(&env.topic)
            .is_ok_and(|t| t.notification_type() == wis2::topic::NotificationType::Metadata);
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
            let errors: Vec<Finding> = SeenIds::key(env.message_bytes())
                .and_then(|k| self.seen.check(&k))
                .into_iter()
                .collect();
            tests.push(wis2::report::TestResult::from_errors(
                UNIQUE_TEST_ID,
                errors,
            ));
        }
        Report::new(r.subject, tests, warnings)
    }
}

/// Why a message is rejected.
#[derive(Clone, Copy)]
enum Rejected {
    /// It fails the standards' checks.
    Invalid,
    /// Its data cannot be downloaded or disagrees with it (`--verify-data`).
    Data,
}

impl ValidateStage {
    /// The failure of a message rejected for `why`: its report on the rejected topic.
    fn reject(&self, input: &Incoming, report: Report, why: Rejected) -> Failure {
        let failed = report.failed_ids().join(", ");
        let reason = match why {
            Rejected::Invalid => {
                tracing::warn!(failed, report = %report.to_human(), "message rejected");
                format!("invalid message: failed {failed}")
            }
            Rejected::Data => {
                tracing::warn!(failed, report = %report.to_human(), "message rejected: data verification failed");
                format!("data verification failed: {failed}")
            }
        };
        let rejection = Rejection {
            topic: input.env.topic.clone(),
            event_id: input.env.event_id.clone(),
            path: input.env.path.clone(),
            report,
            message: input.env.message.clone(),
            created: input.env.created.clone(),
        };
        Failure::new(reason)
            .with_output(Output::new(self.rejected_topic.clone(), rejection.to_vec()))
    }
}

impl Stage for ValidateStage {
    type Input = Incoming;
    /// Validation only computes.
    const WORK: Work = Work::Compute;

    fn parse(&self, d: &Delivery) -> Result<Incoming, Failure> {
        let env = Envelope::parse(&d.payload)?;
        let keys = Keys::parse(env.message_bytes()).unwrap_or_default();
        let ids = format!(
            "event_id={} message_id={} data_id={}",
            env.event_id.as_deref().unwrap_or_default(),
            keys.id.as_deref().unwrap_or_default(),
            keys.data_id.as_deref().unwrap_or_default()
        );
        Ok(Incoming {
            seen_key: SeenIds::key_of(keys),
            raw: d.payload.clone(),
            ids,
            env,
        })
    }

    fn describe(&self, input: &Incoming) -> String {
        input.ids.clone()
    }

    fn handle(&self, input: &Incoming) -> Result<Vec<Output>, Failure> {
        let report = self.check(&input.env);
        for w in &report.ets_report.warnings {
            self.warnings.log(&w.to_string());
        }
        if !report.is_valid() {
            return Err(self.reject(input, report, Rejected::Invalid));
        }
        tracing::info!("message valid");
        // Forwarded as it came, with the time it was found valid (for the console).
        let now = wis2::message::rfc3339(&chrono::Utc::now());
        Ok(vec![Output::new(
            self.validated_topic.clone(),
            input.env.stamped_validated(&input.raw, now),
        )])
    }

    /// A message that went on is remembered for the uniqueness check (not before: a
    /// rejected message must not block its corrected version).
    fn after_ack(self: &Arc<Self>) -> AfterAck<Incoming> {
        let me = self.clone();
        AfterAck {
            acknowledged: Some(Arc::new(move |inputs: &[&Incoming]| {
                for key in inputs.iter().filter_map(|i| i.seen_key.as_ref()) {
                    me.seen.record(key);
                }
                Vec::new()
            })),
            ..AfterAck::default()
        }
    }
}

fn report_valid_so_far(tests: &[wis2::report::TestResult]) -> bool {
    tests.iter().all(|t| t.code != wis2::report::Code::Failed)
}

/// A stage that verifies the data of every message the validate stage accepts: a
/// message whose data cannot be downloaded or disagrees with its `length` or
/// `integrity` is rejected (report on the rejected topic). Messages the validate stage
/// rejects are not downloaded.
pub struct VerifyingStage {
    inner: Arc<ValidateStage>,
    agent: ureq::Agent,
    max_bytes: Option<u64>,
}

impl VerifyingStage {
    /// Wraps `inner` with the default agent ([`DEFAULT_TIMEOUT`]) and no size limit.
    pub fn new(inner: Arc<ValidateStage>) -> Self {
        VerifyingStage {
            inner,
            agent: agent(DEFAULT_TIMEOUT),
            max_bytes: None,
        }
    }

    /// Uses this agent and byte limit.
    pub fn with_agent(mut self, agent: ureq::Agent, max_bytes: Option<u64>) -> Self {
        self.agent = agent;
        self.max_bytes = max_bytes;
        self
    }
}

impl Stage for VerifyingStage {
    type Input = Incoming;
    /// Downloads.
    const WORK: Work = Work::Blocking;

    fn parse(&self, d: &Delivery) -> Result<Incoming, Failure> {
        self.inner.parse(d)
    }

    fn describe(&self, input: &Incoming) -> String {
        self.inner.describe(input)
    }

    fn handle(&self, input: &Incoming) -> Result<Vec<Output>, Failure> {
        let outputs = self.inner.handle(input)?;
        let v: Value = serde_json::from_slice(input.env.message_bytes())
            .map_err(|e| Failure::new(format!("the message is not JSON: {e}")))?;
        let report = verify_message(&v, &self.agent, self.max_bytes);
        if !report.is_valid() {
            return Err(self.inner.reject(input, report, Rejected::Data));
        }
        tracing::info!(
            skipped = report.ets_report.summary.skipped,
            "message data verified"
        );
        Ok(outputs)
    }

    fn after_ack(self: &Arc<Self>) -> AfterAck<Incoming> {
        self.inner.after_ack()
    }
}
