//! The settings of a Global Broker's monitoring events (optional), shared by the
//! services that follow them (`wis2-publish` logs them, `wis2-console` shows them):
//! `--monitor-broker-url` (`WIS2_MONITOR_BROKER_URL`), the events of
//! `monitor/a/wis2/<centre-id>/#`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::{Broker, BrokerArgs};

/// Settings of the monitoring events (optional).
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// Global Broker whose monitoring events about this centre are logged, for example
    /// mqtts://everyone:everyone@globalbroker.example.org:8883.
    #[arg(long, env = "WIS2_MONITOR_BROKER_URL")]
    pub monitor_broker_url: Option<String>,
    /// The centre id whose events are followed (`monitor/a/wis2/<centre-id>/#`).
    #[arg(long, env = "WIS2_CENTRE_ID")]
    pub monitor_centre_id: Option<String>,
    /// PEM file of the certificate authorities for the Global Broker (default: system roots).
    #[arg(long, env = "WIS2_MONITOR_CA_FILE")]
    pub monitor_ca_file: Option<PathBuf>,
    /// MQTT client id at the Global Broker (default `<centre-id>-<service>-monitor`).
    #[arg(long, env = "WIS2_MONITOR_CLIENT_ID")]
    pub monitor_client_id: Option<String>,
}

const NO_CENTRE: &str = "WIS2_MONITOR_BROKER_URL is set but no centre id: set WIS2_CENTRE_ID (or --monitor-centre-id), the events followed are those of monitor/a/wis2/<centre-id>/#";

/// The Global Broker's settings, checked ([`MonitorArgs::check`]).
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub broker: Broker,
    pub client_id: String,
    /// `monitor/a/wis2/<centre-id>/#`.
    pub filter: String,
}

impl MonitorArgs {
    /// The settings of service `service`, checked; `None` when no Global Broker is
    /// configured.
    pub fn check(&self, service: &str) -> anyhow::Result<Option<MonitorConfig>> {
        let Some(url) = self
            .monitor_broker_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let centre = self
            .monitor_centre_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .context(NO_CENTRE)?;
        if !wis2::topic::is_level_name(centre) {
            anyhow::bail!(
                "centre id `{centre}` is not a WIS2 centre id (lowercase letters, digits and single '-' between them): correct WIS2_CENTRE_ID"
            );
        }
        let client_id = self
            .monitor_client_id
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("{centre}-{service}-monitor"));
        let mut broker = BrokerArgs::from_url(url);
        broker.ca_file = self.monitor_ca_file.clone();
        broker.client_id = Some(client_id.clone());
        Ok(Some(MonitorConfig {
            broker: broker.check().context("invalid WIS2_MONITOR_BROKER_URL")?,
            client_id,
            filter: wis2::monitor::topic_filter(centre),
        }))
    }
}
