//! WCMP2 discovery metadata checks (wis2-validate metadata, wis2-create's records),
//! with the built-in rules and, when ../shared is there, with the WCMP2 schema, code
//! lists and WTH tables.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wis2::wcmp2::Wcmp2Checker;

use common::Checkers;

static CHECKERS: LazyLock<Checkers<Wcmp2Checker>> = LazyLock::new(|| {
    let full = common::shared_standards().1.map(|wcmp2| {
        Wcmp2Checker::new(&wcmp2)
            .expect("the shared WCMP2 schema, code lists and WTH tables load")
            .require_mqtt_link(true)
    });
    Checkers {
        builtin: Wcmp2Checker::builtin(),
        full,
    }
});

fuzz_target!(|data: &[u8]| {
    for c in CHECKERS.iter() {
        let report = c.check_record(data);
        let _ = report.is_valid();
        let _ = report.to_human();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = wis2::wcmp2::mqtt_channels(&v);
        let _ = wis2::wcmp2::record_time(&v);
    }
});
