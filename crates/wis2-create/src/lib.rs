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

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wis2_bus::{Service, Settings, Shutdown};

pub use creator::{CreateError, Creator, MAX_MESSAGE_BYTES, READ_WHOLE_MAX};
pub use settings::{CreateSettings, DEFAULT_TOPIC, MediaTypeRule};
pub use stage::{CreateStage, EventKind};

/// The service's own settings (`run` takes them after every service's).
#[derive(Debug, Clone, Args)]
#[command(about = "Run the service: file events in, notification messages out")]
pub struct RunArgs {
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

impl Settings for RunArgs {
    type Config = Config;

    /// The topic's centre id against WIS2_CENTRE_ID, the data directory.
    fn check(&self) -> anyhow::Result<Config> {
        let creator =
            Creator::new(self.settings.clone()).context("invalid wis2-create settings")?;
        let mut subscriptions = vec![self.events_topic.clone()];
        if let Some(t) = self.stac_topic.as_ref().filter(|t| !t.trim().is_empty())
            && *t != self.events_topic
        {
            subscriptions.push(t.clone());
        }
        Ok(Config {
            creator,
            subscriptions,
            created_topic: self.created_topic.clone(),
        })
    }
}

/// The settings of the service, checked.
pub struct Config {
    creator: Creator,
    /// The events topic, and the STAC topic when there is one.
    subscriptions: Vec<String>,
    created_topic: String,
}

/// Runs the service until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    let settings = config.creator.settings();
    tracing::info!(
        broker = %service.broker.redacted_url(),
        data_dir = %settings.data_dir.display(),
        topic = %settings.topic,
        subscriptions = ?config.subscriptions,
        "wis2-create starting"
    );
    let conn = service.connect(config.subscriptions);
    let stage = CreateStage {
        creator: config.creator,
        created_topic: config.created_topic,
    };
    service.run_stage(Arc::new(stage), conn, shutdown).await
}
