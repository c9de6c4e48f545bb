//! # wis2-bus: the runtime every service of the chain shares
//!
//! - [`config`]: broker settings (one clap struct flattened into each binary);
//! - [`bus`]: the MQTT connection, owned by one task; publish-and-wait-for-PUBACK,
//!   manual acknowledgements, reconnect with capped backoff, re-subscribe on session loss;
//! - [`stage`]: receive → handle → publish → acknowledge, with dead letters;
//! - [`topics`]: the chain's internal topic names;
//! - [`telemetry`] and [`shutdown`]: tracing set up once, SIGTERM handling.

pub mod bus;
pub mod config;
pub mod envelope;
pub mod health;
pub mod shutdown;
pub mod stage;
pub mod telemetry;
pub mod topics;

pub use bus::{Bus, BusError, ConnectOptions, Connection, Delivery};
pub use config::BrokerArgs;
pub use stage::{DeadLetter, Failure, Handler, Output, StageConfig, run_stage};

/// Runs a service's future on the runtime's worker threads rather than on the thread
/// that called `block_on` (`#[tokio::main]`'s): the service's loop and the
/// connection's event loop then wake each other on the workers, without a hand-off
/// to that thread for every message. A panic of the service is returned as an error.
pub async fn on_workers<T: Send + 'static>(
    service: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    match tokio::spawn(service).await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the service stopped: {e}")),
    }
}
