//! # wis2-bus: the runtime every service of the chain shares
//!
//! - [`config`]: broker settings (one clap struct flattened into each binary);
//! - [`bus`]: the MQTT connection, owned by one task (its event loop);
//!   publish-and-wait-for-PUBACK, manual acknowledgements of each
//!   [`delivery`], reconnect with capped backoff, re-subscribe on session loss;
//! - [`stage`] and [`runner`]: the stage model (parse once, handle, steps after the
//!   broker's acknowledgement) and the runner that does the rest;
//! - [`deadletter`]: what could not be processed, on the dead-letter topic and folder;
//! - [`envelope`] and [`topics`]: what travels on the chain's internal topics;
//! - [`health`] and [`metrics`]: `/healthz` and `/metrics`; [`status`]: the
//!   service's status on `chain/status/<service>` (retained, with a last will);
//! - [`service`]: the settings every service takes, checked once, and the one-shot
//!   connection of the command-line tools; [`cli`]: the global options and the
//!   exit-code policy of every binary; [`runtime`]: the async runtime;
//! - [`telemetry`] and [`shutdown`]: tracing set up once, SIGTERM handling;
//! - [`sched`]: the CPU scheduling policy of a service's threads.

mod acks;
pub mod bus;
pub mod cli;
pub mod config;
pub mod deadletter;
pub mod delivery;
pub mod envelope;
mod event_loop;
pub mod health;
pub mod metrics;
pub mod monitor;
pub mod runner;
pub mod runtime;
pub mod sched;
pub mod service;
pub mod shutdown;
pub mod stage;
pub mod status;
pub mod telemetry;
pub mod topics;

pub use bus::{Bus, BusError, ConnectOptions, Connection};
pub use config::{Broker, BrokerArgs};
pub use deadletter::{DeadLetter, DeadLetters};
pub use delivery::Delivery;
pub use runner::Runner;
pub use runtime::RuntimeArgs;
pub use service::{OneShot, Run, Service, ServiceArgs, Settings, StateArgs, publish_once};
pub use shutdown::Shutdown;
pub use stage::{AfterAck, Failure, Output, Stage, StageConfig, Work};

/// mimalloc for every binary of the chain (the services and their tools link this
/// crate): faster than glibc's malloc on the many small allocations of JSON handling
/// (about 7 % more messages/s in `cargo bench -p wis2 --bench validate`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
