//! WIS2 notification message checks (wis2-validate, `wis2-publish message`), with the
//! built-in rules and, when ../shared is there, with the WNM schema and WTH tables.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wis2::topic::Mode;
use wis2::validate::Validator;

use common::Checkers;

/// The built-in rules, and the schema and WTH tables of ../shared.
static CHECKERS: LazyLock<Checkers<Validator>> = LazyLock::new(|| {
    let full = common::shared_standards()
        .0
        .map(|wnm| Validator::new(&wnm).expect("the shared WNM schema and WTH tables load"));
    Checkers {
        builtin: Validator::builtin(),
        full,
    }
});
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
    for v in CHECKERS.iter() {
        let report = v.check_message(body, topic);
        let _ = report.is_valid();
        let _ = report.to_human();
        if let Some(t) = topic {
            let _ = v.check_topic(t, Mode::Subscribe);
        }
    }
});
