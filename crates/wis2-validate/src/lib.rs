//! # wis2-validate: the last gate before the world sees a message
//!
//! The service checks every message from `wis2-create` against the WNM abstract test
//! suite, the authoritative schema (when available) and the WIS2 Topic Hierarchy;
//! valid messages go on to `wis2-publish`, invalid ones go to the rejected topic with
//! the full report (and to the dead letters). The one-shot commands live in
//! [`oneshot`] and [`metadata_cmd`].

pub mod metadata_cmd;
pub mod oneshot;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use wis2::validate::Validator;
use wis2_bus::envelope::{Envelope, Rejection};
use wis2_bus::{BrokerArgs, Bus, Delivery, Failure, Handler, Output, StageConfig};

/// Settings of the `run` service.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
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
}

/// The validate stage: one compiled validator shared by all deliveries.
pub struct ValidateStage {
    validator: Validator,
    validated_topic: String,
    rejected_topic: String,
}

impl ValidateStage {
    pub fn new(validator: Validator, validated_topic: String, rejected_topic: String) -> Self {
        ValidateStage {
            validator,
            validated_topic,
            rejected_topic,
        }
    }
}

impl Handler for ValidateStage {
    fn stage(&self) -> &'static str {
        "wis2-validate"
    }

    fn describe(&self, d: &Delivery) -> String {
        match Envelope::parse(&d.payload) {
            Ok(e) => {
                let v: serde_json::Value =
                    serde_json::from_slice(e.message_bytes()).unwrap_or_default();
                format!(
                    "event_id={} message_id={} data_id={}",
                    e.event_id.unwrap_or_default(),
                    v["id"].as_str().unwrap_or(""),
                    v["properties"]["data_id"].as_str().unwrap_or("")
                )
            }
            Err(_) => String::new(),
        }
    }

    fn handle(&self, d: &Delivery) -> Result<Vec<Output>, Failure> {
        let env = Envelope::parse(&d.payload).map_err(|e| Failure::new(e.to_string()))?;
        let report = self
            .validator
            .check_message(env.message_bytes(), Some(&env.topic));
        for w in &report.ets_report.warnings {
            tracing::warn!(warning = %w, "message warning");
        }
        if report.is_valid() {
            tracing::info!("message valid");
            return Ok(vec![Output::new(self.validated_topic.clone(), d.payload.clone())]);
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
        Err(Failure::new(format!("invalid message: failed {failed}")).with_output(Output::new(
            self.rejected_topic.clone(),
            serde_json::to_vec(&rejection).unwrap_or_default(),
        )))
    }
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
    let stage = Arc::new(ValidateStage::new(
        validator,
        args.validated_topic.clone(),
        args.rejected_topic.clone(),
    ));
    wis2_bus::run_stage(conn, stage, cfg, shutdown).await
}
