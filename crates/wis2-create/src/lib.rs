//! # wis2-create: file events in, WIS2 notification messages out
//!
//! [`Creator`] builds the message for one file (reads and hashes it once, streaming;
//! asks [`wis2::formats`] for time and place). [`run`] is the service: it handles the
//! CloudEvents of `wis2-watch`, and upstream CloudEvents carrying a STAC Item (see
//! [`stac`]), and publishes an [`Envelope`] per message for `wis2-validate`.
//!
//! Options beyond the basics: the integrity method (`--integrity`), inline content for
//! small files (`--inline-max-bytes`, see [`content`]) and the extension → media type
//! table (`--media-type EXT=TYPE`, used when the content has no magic number).

pub mod content;
pub mod creator;
pub mod digest;
pub mod settings;
pub mod stac;
pub mod stage;

use std::future::Future;
use std::sync::Arc;

use clap::Args;
use wis2_bus::{Service, ServiceArgs};

pub use creator::{CreateError, Creator, MAX_MESSAGE_BYTES, READ_WHOLE_MAX};
pub use settings::{CreateSettings, DEFAULT_TOPIC, MediaTypeRule};
pub use stage::{CreateStage, EventKind};

/// Settings of the `run` service.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("state_dir", |a| a.hide(true)))]
pub struct RunArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub settings: CreateSettings,
    /// Topic the file events arrive on.
    #[arg(long, env = "WIS2_EVENTS_TOPIC", default_value = wis2_bus::topics::EVENTS)]
    pub events_topic: String,
    /// Topic of upstream CloudEvents carrying a STAC Item, subscribed to in addition
    /// to the events topic (none by default).
    #[arg(long, env = "WIS2_STAC_TOPIC")]
    pub stac_topic: Option<String>,
    /// Topic the built messages go to.
    #[arg(long, env = "WIS2_CREATED_TOPIC", default_value = wis2_bus::topics::CREATED)]
    pub created_topic: String,
}

/// The settings of the service, checked ([`RunArgs::check`]).
pub struct Config {
    pub service: Service,
    creator: Creator,
    /// The events topic, and the STAC topic when there is one.
    subscriptions: Vec<String>,
    created_topic: String,
}

impl wis2_bus::service::Settings for RunArgs {
    type Config = Config;

    /// Checks the settings: the broker's, the topic's centre id against
    /// WIS2_CENTRE_ID, the data directory.
    fn check(&self) -> anyhow::Result<Config> {
        use anyhow::Context;
        let service = self
            .service
            .check("wis2-create")
            .context("invalid broker settings")?;
        let creator =
            Creator::new(self.settings.clone()).context("invalid wis2-create settings")?;
        let mut subscriptions = vec![self.events_topic.clone()];
        if let Some(t) = self.stac_topic.as_ref().filter(|t| !t.trim().is_empty())
            && *t != self.events_topic
        {
            subscriptions.push(t.clone());
        }
        Ok(Config {
            service,
            creator,
            subscriptions,
            created_topic: self.created_topic.clone(),
        })
    }
}

/// Runs the service until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Config {
        service,
        creator,
        subscriptions,
        created_topic,
    } = config;
    tracing::info!(
        broker = %service.broker.redacted_url(),
        data_dir = %creator.settings.data_dir.display(),
        topic = %creator.settings.topic,
        subscriptions = ?subscriptions,
        "wis2-create starting"
    );
    let conn = service.connect(subscriptions);
    let stage = Arc::new(CreateStage {
        creator,
        created_topic,
    });
    service.run_stage(stage, conn, shutdown).await
}
