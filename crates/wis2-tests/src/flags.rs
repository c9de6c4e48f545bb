//! A service's settings parsed from flags, so that the tests go through the same
//! command-line contract as a user.

use clap::Parser;

#[derive(Parser)]
struct Wrapper<T: clap::Args> {
    #[command(flatten)]
    args: T,
}

/// Parses a settings struct (a service's `RunArgs`, `BrokerArgs`, ...) from `flags`.
pub fn args<T: clap::Args>(flags: &[String]) -> T {
    let mut v = vec!["test".to_string()];
    v.extend(flags.iter().cloned());
    Wrapper::<T>::try_parse_from(v).expect("valid flags").args
}

/// One flag or value as a `String` (`s("--settle-ms")`, `s(300)`).
pub fn s(x: impl ToString) -> String {
    x.to_string()
}
