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
