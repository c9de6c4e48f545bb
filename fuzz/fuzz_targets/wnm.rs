//! WIS2 notification message checks (wis2-validate, `wis2-publish message`).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wis2::validate::Validator;

static VALIDATOR: LazyLock<Validator> = LazyLock::new(Validator::builtin);
const TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

fuzz_target!(|data: &[u8]| {
    // The first byte picks the topic: none, the usual one, or the rest of a line.
    let (topic, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (std::str::from_utf8(&rest[..n]).ok(), &rest[n + 1..]),
            None => (None, rest),
        },
        _ => (Some(TOPIC), data),
    };
    let report = VALIDATOR.check_message(body, topic);
    let _ = report.is_valid();
    let _ = report.to_human();
});
