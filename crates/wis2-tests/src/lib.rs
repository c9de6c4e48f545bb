//! The test kit of the chain: real servers started on free loopback ports, the four
//! services (in-process on their `run(config, shutdown)`, or as processes), and an
//! MQTT observer. Readiness is awaited by connecting, never by sleeping. The
//! integration tests that use it are one test binary, `tests/it`.
//!
//! - [`fixtures`]: the repository, `../shared` and its files, the test topics, atomic
//!   drops, a tool run to success.
//! - [`net`]: free ports, waiting for a listener, the services' health endpoint.
//! - [`broker`]: mosquitto started from the project's own `broker/` configuration.
//! - [`web`]: nginx serving a temporary folder (plain http and https).
//! - [`flags`]: a service's settings parsed from flags, as its command line gets them.
//! - [`service`]: the services in-process, alone or as the whole chain.
//! - [`process`]: the services' binaries as processes (to `kill -9` them).
//! - [`site`]: a broker and a chain's folders, where a test runs its chain.
//! - [`observer`]: an MQTT client that records what arrives on its subscriptions.
//! - [`tap`]: what the chain ends its input with (dead letters, WIS2 messages), and
//!   raw events injected.
//! - [`logs`]: the log lines of the services running in-process.
//! - [`wmo`]: the WMO's own Python tools, offline, from the virtual environment that
//!   `scripts/test.sh` makes.
//! - [`cli`]: a binary run as a user runs it, for the command-line tests of the service
//!   crates (which include it by path).
//!
//! The binaries are built by cargo, never by a test: `cargo test` at the workspace root
//! builds them (each service crate has an integration test of its command line), and
//! [`process::binary`] finds them next to the test executable.

pub mod broker;
pub mod browser;
pub mod cli;
pub mod console;
pub mod fixtures;
pub mod flags;
pub mod logs;
pub mod net;
pub mod observer;
pub mod output;
pub mod process;
pub mod service;
pub mod site;
pub mod tap;
pub mod web;
pub mod wmo;
