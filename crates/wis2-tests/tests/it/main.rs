//! Integration tests of the WIS2 chain: one test binary, real mosquitto started from
//! the project's `broker/` configuration on free ports, real Argo files from
//! `../shared/data`, the four services running on their `run` functions.

mod acl;
mod badinput;
mod bus;
mod chain;
mod faults;
mod harness;
mod scale;
mod security;
