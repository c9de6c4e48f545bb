//! WCMP2 discovery metadata checks (wis2-validate metadata, wis2-create's records),
//! with the built-in rules and, when ../shared is there, with the WCMP2 schema, code
//! lists and WTH tables.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};

const SCHEMA: &str = "wcmp2/wcmp2-bundled.json";

static BUILTIN: LazyLock<Wcmp2Checker> = LazyLock::new(Wcmp2Checker::builtin);
static FULL: LazyLock<Option<Wcmp2Checker>> = LazyLock::new(|| {
    let std = common::shared_standards(SCHEMA)?;
    let c = Wcmp2Checker::new(&Wcmp2Options {
        schema: Some(std.join(SCHEMA)),
        codelists_dir: Some(std.join("wcmp2/codelists")),
        wth_dir: Some(std.join("wth")),
    });
    Some(
        c.expect("the shared WCMP2 schema, code lists and WTH tables load")
            .require_mqtt_link(true),
    )
});

fuzz_target!(|data: &[u8]| {
    for c in common::checkers(&*BUILTIN, &*FULL) {
        let report = c.check_record(data);
        let _ = report.is_valid();
        let _ = report.to_human();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = wis2::wcmp2::mqtt_channels(&v);
        let _ = wis2::wcmp2::record_time(&v);
    }
});
