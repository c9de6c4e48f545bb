//! Integration tests of the WIS2 chain: one test binary over the kit of this crate
//! (`wis2_tests`): real mosquitto started from the project's `broker/` configuration on
//! free ports, real nginx, real files from `../shared`, the four services in-process on
//! their `run` functions or as processes.
//!
//! The slow tests (faults, scale, long streams) are `#[ignore]`d: `cargo test` runs the
//! rest, `scripts/test.sh` runs them all (`cargo test -- --include-ignored`).

mod acl;
mod archive;
mod badinput;
mod browser;
mod bus;
mod chain;
mod console;
mod console_page;
mod faults;
mod outage;
mod publish;
mod scale;
mod security;
mod standards;
mod verify;
mod wmo_tools;
