//! # wis2-validate: the last gate before the world sees a message
//!
//! The service ([`run`]) runs the [`stage`]: every message from `wis2-create` is
//! checked against the WNM abstract test suite, the authoritative schema (when
//! available) and the WIS2 Topic Hierarchy; valid messages go on to `wis2-publish`,
//! invalid ones go to the rejected topic with the full report (and to the dead
//! letters). What the stage remembers between messages is in [`seen`] and [`known`];
//! the data verification of `--verify-data` and `verify` in [`verify`]. The
//! standards the checks use are found as [`standards`] says, in the [`cache`] that
//! the `sync` commands fill through [`sync`].
//!
//! The one-shot commands live in [`oneshot`] and [`metadata_cmd`]; they read their
//! inputs through [`files`] and print their reports and exit codes through
//! [`output`].

pub mod cache;
pub mod files;
pub mod known;
pub mod metadata_cmd;
pub mod oneshot;
pub mod output;
pub mod seen;
pub mod stage;
pub mod standards;
pub mod sync;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wis2::wcmp2::Wcmp2Checker;
use wis2_bus::{Service, Settings, Shutdown};

pub use known::KnownChannels;
pub use stage::{ValidateStage, VerifyingStage};

/// The service's own settings (`run` takes them after every service's).
#[derive(Debug, Clone, Args)]
#[command(about = "Run the service: messages in, validated or rejected out")]
pub struct RunArgs {
    #[command(flatten)]
    pub standards: standards::StandardsArgs,
    /// Topic the built messages arrive on.
    #[arg(long, env = "WIS2_CREATED_TOPIC", default_value = wis2_bus::topics::CREATED)]
    pub created_topic: String,
    /// Topic valid messages go to.
    #[arg(long, env = "WIS2_VALIDATED_TOPIC", default_value = wis2_bus::topics::VALIDATED)]
    pub validated_topic: String,
    /// Topic invalid messages go to, with their report.
    #[arg(long, env = "WIS2_REJECTED_TOPIC", default_value = wis2_bus::topics::REJECTED)]
    pub rejected_topic: String,
    #[command(flatten)]
    pub wcmp2: standards::Wcmp2Args,
    /// Folder of the centre's WCMP2 records: their MQTT link channels announce the
    /// data topics (records published through the chain are added as they pass).
    #[arg(long, env = "WIS2_RECORDS_DIR")]
    pub records_dir: Option<PathBuf>,
    /// Reject (instead of warn about) data messages whose topic no known record
    /// announces; Global Brokers may discard them.
    #[arg(long, env = "WIS2_REQUIRE_METADATA")]
    pub require_metadata: bool,
    /// Seconds a data_id is remembered: a `canonical` message repeating it with other
    /// data within this window is rejected (it needs `rel=update`); 0 turns it off. At
    /// most the last 200,000 data_ids are remembered (bounded memory).
    #[arg(long, env = "WIS2_UNIQUE_WINDOW_SECS", default_value = "3600")]
    pub unique_window_secs: wis2_bus::service::Secs,
    /// Also download each message's data (its canonical/update link) and reject the
    /// message when the link's length or the integrity digest disagrees with it, or
    /// the download fails. Off by default.
    #[arg(long, env = "WIS2_VERIFY_DATA")]
    pub verify_data: bool,
}

impl Settings for RunArgs {
    type Config = Config;

    /// Loads what the checks need: the validator (schema and topic tables), the WCMP2
    /// checker, the known records.
    fn check(&self) -> anyhow::Result<Config> {
        let validator = standards::load_validator(&self.standards)?;
        let wcmp2_options = self.wcmp2.resolve(
            self.standards.wth_dir.clone(),
            &self.standards.cache.cache(),
        );
        let wcmp2 = Wcmp2Checker::new(&wcmp2_options).context("cannot set up the WCMP2 checker")?;
        let known = KnownChannels::default();
        if let Some(dir) = &self.records_dir {
            known.load_dir(dir);
        }
        tracing::info!(schema = validator.has_schema(), "WNM checks set up");
        let stage = ValidateStage::new(
            validator,
            self.validated_topic.clone(),
            self.rejected_topic.clone(),
        )
        .with_wcmp2(wcmp2)
        .with_known(known, self.require_metadata)
        .with_unique_window(self.unique_window_secs.0);
        Ok(Config {
            stage,
            created_topic: self.created_topic.clone(),
            verify_data: self.verify_data,
        })
    }
}

/// The settings of the service, checked: its stage built.
pub struct Config {
    stage: ValidateStage,
    created_topic: String,
    verify_data: bool,
}

/// Runs the service until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    tracing::info!(broker = %service.broker.redacted_url(), "wis2-validate starting");
    let conn = service.connect(vec![config.created_topic]);
    let stage = Arc::new(config.stage);
    if config.verify_data {
        tracing::info!("data verification on: each message's data is downloaded and checked");
        let stage = Arc::new(VerifyingStage::new(stage));
        return service.run_stage(stage, conn, shutdown).await;
    }
    service.run_stage(stage, conn, shutdown).await
}
